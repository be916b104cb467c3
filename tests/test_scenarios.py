"""Classroom scenarios: headline figures come from lora_core (not typed in), and every scenario link opens
its page without an exception with the linked values in the widgets."""

from __future__ import annotations

import ast
import inspect

import pytest

from lora_core.matrix import matrix_cost
from lora_ui import keys
from lora_ui.scenarios import BY_ID, SCENARIOS, Headline, format_headline, headlines
from lora_ui.share import denotes


def by_name(scenario_id: str) -> dict[str, int | float]:
    return {f.name: f.value for f in headlines(scenario_id)}


def test_seed_matrix_figures_are_the_explainers():
    # seeds/000: 10,000 x 10,000 at r = 8.
    f = by_name("seed_matrix")
    assert f["full_params"] == 10_000 * 10_000
    assert f["lora_params"] == (10_000 + 10_000) * 8
    assert f"{f['percent']:.2f}" == "0.16"


def test_llama2_qv_is_pefts_count():
    # PEFT's print_trainable_parameters, Llama-2-7B, q_proj + v_proj, r = 8: 4,194,304.
    assert by_name("llama2_qv")["trainable"] == 32 * 2 * (4096 + 4096) * 8 == 4_194_304


@pytest.mark.slow
def test_gpt3_figures_come_from_the_preset():
    f = by_name("gpt3_175b")
    # LoRA paper Table 4: GPT-3 175B LoRA, 37.7M trainable = r 8 on W_q and W_v over 96 layers (d 12,288).
    # Our preset's fused c_attn (12288 -> 3 * 12288) at r = 8 trains the same number.
    assert f["trainable"] == 96 * (12_288 + 3 * 12_288) * 8 == 96 * 2 * (12_288 + 12_288) * 8 == 37_748_736
    # Adapters stay fp32 in PEFT: 4 bytes each. The full checkpoint is the paper's "350 GB" to 1 %.
    assert f["lora_checkpoint"] == 4 * f["trainable"]
    assert f["full_checkpoint"] == pytest.approx(350e9, rel=0.01)


@pytest.mark.slow
def test_memory_figures_are_lora_core_memory_estimates():
    from lora_core.memory import TrainingSetup, estimate_memory
    from lora_core.presets import load_preset
    from lora_core.spec import LoraSpec

    # QLoRA (Dettmers et al. 2023): r = 64 on all linear layers, NF4, paged optimizer, checkpointing.
    e = estimate_memory(
        load_preset("llama-2-70b"),
        LoraSpec(r=64, alpha=128, target_modules="all-linear"),
        TrainingSetup(method="qlora", optimizer="paged-adamw-8bit", grad_checkpointing=True, seq=512),
    )
    f = by_name("qlora_65b")
    assert f["gpu_total"] == e.device_total_bytes
    assert f["trainable"] == e.trainable_params
    # Rank barely changes memory: r = 64 costs more than r = 8, but little next to the total. The totals are
    # replayed through the caching allocator: r = 64's adapters on Llama-3.2-3B are ~0.8 MB tensors (64 x 3072
    # fp32), packed two to a 2 MiB small-pool segment with their gradients, AdamW states and foreach
    # temporaries, so reserved grows by more than their bytes (1.0 GB of tensors, 1.8 GB reserved).
    r8, r64 = by_name("rank_r8"), by_name("rank_r64")
    assert r64["more_than_r8"] == r64["gpu_total"] - r8["gpu_total"] > 0
    assert r64["more_than_r8"] < 0.2 * r8["gpu_total"]


def test_seed_fit_counts_the_fit_pages_regression():
    c = matrix_cost(101, 100, 1)
    assert by_name("seed_fit") == {"full_params": c.full_params, "lora_params": c.lora_params}


def test_format_headline():
    assert format_headline(Headline("x", 37_748_736, "count")) == "37,748,736"
    assert format_headline(Headline("x", 0.16, "percent")) == "0.16 %"
    assert format_headline(Headline("x", 349_208_518_656, "bytes")) == "349.2 GB"
    assert format_headline(Headline("x", 150_994_944, "bytes")) == "151.0 MB"


def test_scenario_text_types_no_live_figure():
    """The card's own numbers are metrics from lora_core; a typed figure may only be a cited one."""
    from lora_ui.strings import learn

    assert "37,748,736" not in learn.EN["scenario.gpt3_175b.body"]
    assert "46." not in learn.EN["scenario.qlora_65b.note"]


def test_every_headline_has_a_label_in_both_languages():
    import lora_ui.scenarios as module
    from lora_ui.strings import learn

    names = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Headline" and node.args:
            names.add(node.args[0].value)
    assert names
    for name in names:
        assert f"headline.{name}" in learn.EN and f"headline.{name}" in learn.TE


# --- the links ------------------------------------------------------------------------------------------

WIDGET_KINDS = (
    "slider", "number_input", "select_slider", "selectbox", "radio", "multiselect", "checkbox", "toggle",
    "text_input",
)  # fmt: skip


def widget(at, key):
    for kind in WIDGET_KINDS:
        for el in getattr(at, kind):
            if getattr(el, "key", None) == key:
                return el
    return None


def link_cases():
    for s in SCENARIOS:
        marks = []
        if s.page == "memory":
            marks.append(pytest.mark.slow)
        yield pytest.param(s, id=s.id, marks=marks)


@pytest.mark.parametrize("scenario", list(link_cases()))
def test_scenario_link_opens_its_page_with_the_linked_values(app_test, scenario):
    at = app_test(page=scenario.page, query=scenario.query(), timeout=300)
    assert not at.exception, at.exception
    for key, value in scenario.params:
        el = widget(at, key)
        assert el is not None, (scenario.id, key)
        raw = list(value) if isinstance(value, tuple) else [value]
        assert denotes(raw, el.value), (scenario.id, key, value, el.value)
    assert not at.warning or all("“" not in w.value for w in at.warning), [w.value for w in at.warning]
    # The page shows the card's headline figure (the trainable count where the page has one).
    shown = [m.value for m in at.metric]
    for f in headlines(scenario.id):
        if f.name == "trainable":
            assert f"{f.value:,}" in " ".join(shown), (scenario.id, shown)


def test_scenario_link_keeps_the_language():
    s = BY_ID["seed_fit"]
    assert s.query("te")[keys.LANG] == "te"
    assert s.url().startswith("/fit?fit_mode=regression")


def test_learn_gallery_shows_live_headlines(app_test):
    at = app_test(page="learn")  # no toggle: every card computes its headlines in the first run
    assert not at.exception, at.exception
    shown = [m.value for m in at.metric]
    for s in SCENARIOS:
        for f in headlines(s.id):
            assert format_headline(f) in shown, (s.id, f)
    assert "37,748,736" in shown  # LoRA paper Table 4's 37.7M, from the GPT-3 preset
