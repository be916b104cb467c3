"""The CPU validation table stays exact: the estimator's prediction for every measured CPU row equals the
prediction committed with the measurements (benchmarks/validation_cpu.json, docs/validation.md), to the byte.
The measurement itself takes minutes (benchmarks/measure_memory.py); the prediction takes a trace each."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import measure_memory  # noqa: E402

ROWS = {r["row"]: r for r in json.loads((ROOT / "benchmarks" / "validation_cpu.json").read_text())}


@pytest.mark.parametrize("row", [r for r in measure_memory.ROWS if r.method != "qlora"], ids=measure_memory.describe)
def test_prediction_equals_the_committed_one(row):
    committed = ROWS[measure_memory.describe(row)]
    assert measure_memory.predict(row, "cpu").peak_bytes == committed["predicted"]
