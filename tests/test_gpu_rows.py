"""docs/validation.md's GPU table and lora_core/memory/data/validation_gpu.json (from which the Memory page's
band and margin come) are what benchmarks/gpu_rows.py computes with today's code."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gr():
    spec = importlib.util.spec_from_file_location("gpu_rows", ROOT / "benchmarks" / "gpu_rows.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_rows"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def computed(gr):
    return gr.compute(gr._committed_here())


def test_committed_rows_are_todays_predictions(gr, computed):
    committed = json.loads(gr.DATA.read_text())["rows"]
    assert committed == json.loads(json.dumps(computed, default=list)), (
        "run `python benchmarks/gpu_rows.py --write`"
    )


def test_docs_table_is_the_scripts(gr, computed):
    text = (ROOT / "docs" / "validation.md").read_text()
    table = text.split(gr.START, 1)[1].split(gr.END, 1)[0].strip()
    assert table == gr.markdown(computed).strip(), "run `python benchmarks/gpu_rows.py --write`"


def test_every_development_row_is_listed_once(gr):
    ids = [r.id for r in gr.ROWS]
    assert [str(i) for i in range(1, 41)] == [i for i in ids if i.isdigit()]
    assert len(ids) == len(set(ids))
    compared = [r for r in gr.ROWS if r.scope == "compared"]
    assert {r.id for r in compared} == {"39", "40"}  # the Hugging Face + PEFT rows (Answer.AI fsdp_qlora)
    assert all(r.measured and r.preset and r.setup for r in compared)


def test_the_estimator_never_sees_the_measurement(gr):
    """A compared row's prediction depends on its settings only: changing the measured value changes nothing."""
    from dataclasses import replace

    row = next(r for r in gr.ROWS if r.id == "39")
    assert gr._estimate(row).reserved_bytes == gr._estimate(replace(row, measured=1.0)).reserved_bytes
