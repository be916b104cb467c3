"""The presets' common recipes, precomputed (lora_core/memory/precomputed.py): current, equal to a fresh trace,
and used: a change on the Memory page within that grid never starts a trace."""

from __future__ import annotations

import numpy as np
import pytest

from lora_core.memory import parameters, precomputed, recipe, trace
from lora_ui import keys

REGENERATE = "python -m lora_core.memory.precomputed"


def test_the_archive_was_computed_with_this_code():
    assert precomputed._archive() is not None, (
        "lora_core/memory/data/presets.npz was computed with other code or library versions "
        f"(precomputed.SOURCES changed); run `{REGENERATE}` and commit the file"
    )


def _sample():
    """Every recipe of two presets (a decoder with GQA and the encoder-decoder), and each preset's default."""
    for entry in precomputed.grid():
        name, _spec, setup = entry
        default = setup.method == "lora" and setup.precision == "bf16" and setup.attention == "sdpa"
        if name in ("llama-3.2-1b", "t5-base") or (default and not setup.grad_checkpointing):
            yield entry


@pytest.mark.slow
def test_stored_entries_equal_a_fresh_trace():
    data, files = precomputed._archive()
    fresh = precomputed.compute(_sample())
    assert len(fresh) > 100
    for name, array in fresh.items():
        if name == "fingerprint":
            continue
        assert name in files, f"{name} missing from the archive: run `{REGENERATE}`"
        np.testing.assert_array_equal(data[name], array, err_msg=name)


def test_a_stored_entry_reads_back_as_the_traced_model():
    from lora_ui.memory_inputs import default_view

    config, spec, setup = default_view()
    stored = precomputed.live_model(trace.cache_key(config, spec, setup))
    traced = trace.build_live_model(config, spec, setup)
    assert stored is not None and stored.terms == traced.terms and stored.layers == traced.layers
    for got, want in zip(stored.peaks, traced.peaks, strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    key = parameters.built_key(config, spec, setup)
    assert precomputed.param_infos(key) == parameters.build_param_infos(key)


@pytest.fixture
def no_tracing(monkeypatch):
    """Any trace or model build fails the run that asked for it."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("a trace or a model build was started")

    trace.clear_cache()
    parameters.base_param_infos.cache_clear()
    parameters._BUILT.clear()
    monkeypatch.setattr(trace, "build_live_model", refuse)
    monkeypatch.setattr(recipe, "build_training_model", refuse)


def test_a_memory_change_on_a_preset_never_starts_a_trace(app_test, no_tracing):
    at = app_test(page="memory", query={keys.MEM_PRESET: "qwen2.5-0.5b"})
    changes = [
        (at.selectbox, keys.MEM_PRESET, "llama-3-8b"),
        (at.selectbox, keys.MEM_PRECISION, "amp-bf16"),
        (at.radio, keys.MEM_METHOD, "qlora"),
        (at.checkbox, keys.MEM_CKPT, True),
        (at.radio, keys.MEM_ATTENTION, "eager"),
        (at.number_input, keys.MEM_RANK, 64),
        (at.number_input, keys.MEM_BATCH, 8),
        (at.number_input, keys.MEM_SEQ, 4096),
        (at.selectbox, keys.MEM_OPTIMIZER, "paged-adamw-8bit"),
        (at.number_input, keys.MEM_GPUS, 4),
        (at.selectbox, keys.MEM_SHARDING, "zero3"),
        (at.selectbox, keys.MEM_PRESET, "t5-base"),
        (at.radio, keys.MEM_METHOD, "full"),
        (at.selectbox, keys.MEM_PRECISION, "fp16"),
    ]
    for widget, key, value in changes:
        widget(key=key).set_value(value).run()
        assert not at.exception, (key, value, at.exception)
        assert not at.error, (key, value, [e.value for e in at.error])
        assert at.metric, (key, value)


def test_a_stored_step_reads_back_as_the_traced_one():
    """The allocator replay's input (reserve.py): the 3-layer record and its size polynomials."""
    from lora_ui.memory_inputs import default_view

    config, spec, setup = default_view()
    stored = precomputed.traced_steps(trace.record_key(config, spec, setup))
    fresh = trace.build_traced_steps(config, spec, setup)
    assert stored is not None and stored.records[0] is None and stored.layers == fresh.layers
    got, want = stored.records[1], fresh.records[1]
    for field in ("births", "deaths", "grads", "kinds", "seq_round"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    assert (got.ops, got.forward_end, got.layers) == (want.ops, want.forward_end, want.layers)
    assert stored.polys[1] == fresh.polys[1]


def test_the_replay_point_is_the_pages_first_view():
    from lora_ui.memory_inputs import default_view

    _config, spec, setup = default_view()
    assert (spec.r, setup.seq, setup.batch) == (precomputed.PAGE_RANK, precomputed.PAGE_SEQ, 1)
