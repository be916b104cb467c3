"""benchmarks/measure_memory.py --device cuda on a machine without a GPU: its row list and the prediction side.

The measurement needs a GPU (and bitsandbytes for QLoRA); what can be checked here is that the command lists the
rows the issue asks for and predicts each of them with the allocator replay."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mm():
    spec = importlib.util.spec_from_file_location("measure_memory", ROOT / "benchmarks" / "measure_memory.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["measure_memory"] = module
    spec.loader.exec_module(module)
    return module


def test_gpu_rows_cover_models_methods_checkpointing_and_two_lengths(mm):
    rows = mm.gpu_rows()
    assert {r.arch for r in rows} == {"llama-3.2-1b", "llama-3.2-3b", "qwen2.5-0.5b", "gpt2"}
    for model in {r.arch for r in rows}:
        mine = [r for r in rows if r.arch == model]
        assert {r.method for r in mine} == {"lora", "dora", "full", "qlora"}
        assert len({r.seq for r in mine}) == 2
        assert {r.checkpointing for r in mine if r.method == "lora"} == {False, True}
        from lora_core.presets import load_preset

        config = load_preset(model)
        limit = config.get("max_position_embeddings") or config.get("n_positions")
        assert max(r.seq for r in mine) <= limit
    assert len({mm.describe(r) for r in rows}) == len(rows)


def test_dry_run_predicts_every_row_of_a_model(mm, tmp_path, capsys):
    """--dry-run works without a GPU: the first model's rows, each predicted by the replay."""
    out = tmp_path / "gpu.json"
    first = [str(i + 1) for i, r in enumerate(mm.gpu_rows()) if r.arch == mm.GPU_MODELS[0]]
    assert mm.main(["--device", "cuda", "--dry-run", "--rows", ",".join(first), "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert len(results) == len(first)
    for e in results:
        assert e["reserved_source"] == "replay"
        assert e["predicted_reserved"] >= e["predicted"] > 0
        assert "measured" not in e and e["note"]
    assert "| 1 |" in capsys.readouterr().out


def test_cpu_rows_are_unchanged_by_the_gpu_list(mm):
    assert all(r.arch in mm.ARCHS for r in mm.ROWS)  # the CPU validation keeps its small models
    assert mm.config_of(mm.ROWS[0]) is mm.ARCHS[mm.ROWS[0].arch]
