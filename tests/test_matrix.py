"""Single-matrix math: the seed's worked example and Hypothesis properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lora_core import LoraLabError
from lora_core.matrix import break_even_rank, matrix_cost

dims = st.integers(min_value=1, max_value=100_000)
ranks = st.integers(min_value=1, max_value=10_000)


def test_seed_worked_example():
    # Seed 000: a 10,000 x 10,000 matrix at r = 8: 100,000,000 against 160,000 trainable, 0.16 %.
    c = matrix_cost(10_000, 10_000, 8)
    assert c.full_params == 100_000_000
    assert c.lora_params == 160_000
    assert c.percent == pytest.approx(0.16)
    assert f"{c.percent:.2f} %" == "0.16 %"
    assert c.break_even_rank == 5_000


def test_seed_regression_shapes():
    # Seed 002: a 1001 x 1000 weight at r = 1 trains 1001 + 1000 values, "1/500 of the base".
    c = matrix_cost(1001, 1000, 1)
    assert c.lora_params == 1001 + 1000
    assert round(1 / c.ratio) == 500


@given(dims, dims, ranks)
def test_counts_are_the_formulas(d, k, r):
    c = matrix_cost(d, k, r)
    assert c.full_params == d * k
    assert c.lora_params == (d + k) * r
    assert c.ratio == pytest.approx(c.lora_params / c.full_params)


@given(dims, dims, ranks)
def test_linear_in_rank(d, k, r):
    assert matrix_cost(d, k, 2 * r).lora_params == 2 * matrix_cost(d, k, r).lora_params


@given(dims, dims, ranks)
def test_break_even_separates_cheaper_from_dearer(d, k, r):
    c = matrix_cost(d, k, r)
    be = break_even_rank(d, k)
    assert c.past_break_even == (r > be)
    assert be <= min(d, k)  # d*k/(d+k) <= min(d,k) always: LoRA at full rank never saves


@pytest.mark.parametrize(
    "d,k,r",
    [
        (0, 10, 1),
        (10, -1, 1),
        (10, 10, 0),
        (10, 10, -3),
        (10**7, 10, 1),
        ("abc", 1, 1),
        (1.5, 1, 1),
        (True, 1, 1),
    ],
)
def test_bad_input_is_refused_with_a_message(d, k, r):
    with pytest.raises(LoraLabError) as e:
        matrix_cost(d, k, r)
    assert str(e.value)
