"""`params` through lora_core.cli.main: JSON keys, the table, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest

from lora_core.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_keys_and_numbers(capsys):
    code, out, err = run(
        capsys, "params", "--preset", "roberta-base", "--rank", "8", "--targets", "query,value", "--json"
    )
    assert code == 0 and not err
    data = json.loads(out)
    assert {"base_params", "trainable_params", "total_params", "trainable_percent", "modules"} <= set(data)
    assert data["trainable_params"] == 294_912  # LoRA paper Table 2: 0.3M
    row = data["modules"][0]
    assert {k: row[k] for k in ("name", "kind", "shape", "count", "lora_params")} == {
        "name": "roberta.encoder.layer.*.attention.self.query",
        "kind": "linear",
        "shape": [768, 768],
        "count": 12,
        "lora_params": 12 * 8 * (768 + 768),
    }
    assert row["r"] == 8 and row["tensors"] == {
        "lora_A": [8, 768],
        "lora_B": [768, 8],
    }  # keys added by issue 15


def test_table_and_config_file(capsys, tmp_path):
    from lora_core.presets import load_preset

    path = tmp_path / "config.json"
    path.write_text(json.dumps(load_preset("gpt2")))
    code, out, _ = run(
        capsys,
        "params",
        "--config",
        str(path),
        "--rank",
        "4",
        "--targets",
        "all-linear",
        "--dora",
        "--bias",
        "all",
    )
    assert code == 0
    assert "trainable params" in out and "transformer.h.*.attn.c_attn" in out


@pytest.mark.parametrize(
    "content,args,match",
    [
        (b"not json", (), "not valid JSON"),
        (b"[]", (), "JSON object"),
        (b'{"model_type": "gpt2", "n_layer": 2, "vocab_size": 10}', (), "width"),
        (b'{"model_type": "nope", "n_embd": 8}', (), "unknown model_type"),
        (b'{"model_type": "gpt2", "n_embd": -1, "n_layer": 2, "vocab_size": 10}', (), "n_embd"),
        (b'{"model_type": "gpt2", "n_embd": "big", "n_layer": 2, "vocab_size": 10}', (), "n_embd"),
        (None, ("--rank", "0"), "rank"),
        (None, ("--rank", "-2"), "rank"),
        (None, ("--targets", "q_proj"), "c_attn"),
        (None, ("--bias", "some"), "bias"),
        (None, ("--alpha", "nan"), "alpha"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, content, args, match):
    base = {"--rank": "8", "--targets": "c_attn"}
    extra = list(args)
    for k, v in base.items():
        if k not in extra:
            extra += [k, v]
    if content is None:
        source = ["--preset", "gpt2"]
    else:
        path = tmp_path / "c.json"
        path.write_bytes(content)
        source = ["--config", str(path)]
    code, out, err = run(capsys, "params", *source, *extra)
    assert code == 2 and not out
    assert err.startswith("error: ") and err.count("\n") == 1
    assert match in err


def test_unknown_preset_and_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "params", "--preset", "llama-9", "--rank", "8", "--targets", "q_proj")
    assert code == 2 and "llama-3-8b" in err
    code, _, err = run(
        capsys, "params", "--config", str(tmp_path / "nope.json"), "--rank", "8", "--targets", "q_proj"
    )
    assert code == 2 and err.startswith("error: cannot read")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 1_000_001)
    code, _, err = run(capsys, "params", "--config", str(big), "--rank", "8", "--targets", "q_proj")
    assert code == 2 and "limit" in err
