"""`params --adapter ...` through lora_core.cli.main: every type, the new flags, and one-line errors (exit 2)."""

from __future__ import annotations

import json

import pytest

from lora_core.cli import main
from lora_core.family.specs import AdaLoraSpec, IA3Spec, LoHaSpec, LoKrSpec, VeraSpec
from lora_core.params import count_params
from lora_core.presets import load_preset
from lora_core.spec import LoraSpec


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def params_json(capsys, *argv) -> dict:
    code, out, err = run(capsys, "params", "--preset", "llama-3.2-1b", *argv, "--json")
    assert code == 0 and not err, err
    return json.loads(out)


@pytest.mark.parametrize(
    "argv,spec",
    [
        (
            (
                "--rank",
                "8",
                "--targets",
                "q_proj,v_proj",
                "--rank-pattern",
                "q_proj=16",
                "--alpha-pattern",
                "v_proj=4",
            ),
            LoraSpec(
                r=8,
                target_modules=("q_proj", "v_proj"),
                rank_pattern={"q_proj": 16},
                alpha_pattern={"v_proj": 4},
            ),
        ),
        (
            ("--rank", "8", "--targets", "q_proj", "--rslora"),
            LoraSpec(r=8, target_modules=("q_proj",), use_rslora=True),
        ),
        (
            ("--adapter", "vera", "--rank", "256", "--targets", "all-linear", "--bias", "vera_only"),
            VeraSpec(r=256, target_modules="all-linear", bias="vera_only"),
        ),
        (
            ("--adapter", "loha", "--rank", "4", "--alpha", "16", "--targets", "q_proj,v_proj"),
            LoHaSpec(r=4, alpha=16, target_modules=("q_proj", "v_proj")),
        ),
        (
            ("--adapter", "lokr", "--rank", "8", "--targets", "all-linear", "--rank-pattern", "down_proj=64"),
            LoKrSpec(r=8, target_modules="all-linear", rank_pattern={"down_proj": 64}),
        ),
        (
            (
                "--adapter",
                "ia3",
                "--targets",
                "k_proj,v_proj,down_proj",
                "--feedforward-modules",
                "down_proj",
            ),
            IA3Spec(target_modules=("k_proj", "v_proj", "down_proj"), feedforward_modules=("down_proj",)),
        ),
        (
            ("--adapter", "ia3", "--targets", "q_proj"),
            IA3Spec(target_modules=("q_proj",), feedforward_modules=()),
        ),
        (
            ("--adapter", "adalora", "--rank", "12", "--targets", "q_proj,v_proj", "--bias", "lora_only"),
            AdaLoraSpec(init_r=12, target_modules=("q_proj", "v_proj"), bias="lora_only"),
        ),
    ],
    ids=["lora-patterns", "rslora", "vera", "loha", "lokr", "ia3", "ia3-no-ff", "adalora"],
)
def test_each_adapter_matches_the_core(capsys, argv, spec):
    data = params_json(capsys, *argv)
    c = count_params(load_preset("llama-3.2-1b"), spec)
    assert data["adapter"] == spec.adapter
    assert (data["trainable_params"], data["total_params"]) == (c.trainable_params, c.total_params)
    assert sum(m["lora_params"] for m in data["modules"]) == data["adapter_params"]
    assert data["frozen_adapter_params"] == c.frozen_adapter_params


def test_vera_rows_and_tensors(capsys):
    # VeRA on q_proj (2048 -> 2048), 16 layers, r=256: lambda_b (2048,) + lambda_d (256,) per layer
    data = params_json(capsys, "--adapter", "vera", "--rank", "256", "--targets", "q_proj")
    (row,) = data["modules"]
    assert row["tensors"] == {"vera_lambda_b": [2048], "vera_lambda_d": [256]}
    assert row["lora_params"] == data["trainable_params"] == 16 * (2048 + 256)


def test_ia3_table_without_rank(capsys):
    code, out, _ = run(
        capsys, "params", "--preset", "gpt2", "--adapter", "ia3", "--targets", "c_attn,mlp.c_proj",
        "--feedforward-modules", "mlp.c_proj",
    )  # fmt: skip
    assert code == 0
    assert "ia3 targets=c_attn,mlp.c_proj bias=none feedforward=mlp.c_proj" in out
    assert "transformer.h.*.mlp.c_proj" in out


def test_adalora_counts_ranknum_in_all_only(capsys):
    data = params_json(capsys, "--adapter", "adalora", "--rank", "4", "--targets", "q_proj")
    n = 16  # layers
    assert data["trainable_params"] == n * 4 * (2048 + 2048 + 1)
    assert data["frozen_adapter_params"] == n
    assert data["total_params"] == data["base_params"] + data["trainable_params"] + n


@pytest.mark.parametrize(
    "args,match",
    [
        (("--adapter", "ia3", "--rank", "8"), "--rank does not apply to --adapter ia3"),
        (("--adapter", "vera"), "--rank is required with --adapter vera"),
        (
            (
                "--adapter",
                "lora",
            ),
            "--rank is required",
        ),
        (("--adapter", "vera", "--rank", "8", "--alpha", "16"), "--alpha does not apply to --adapter vera"),
        (("--adapter", "ia3", "--alpha", "16"), "--alpha does not apply to --adapter ia3"),
        (("--adapter", "loha", "--rank", "8", "--dora"), "--dora does not apply to --adapter loha"),
        (("--adapter", "adalora", "--rank", "8", "--dora"), "DoRA"),
        (("--adapter", "vera", "--rank", "8", "--rslora"), "--rslora does not apply"),
        (
            ("--adapter", "ia3", "--rank-pattern", "q_proj=4"),
            "--rank-pattern does not apply to --adapter ia3",
        ),
        (("--adapter", "vera", "--rank", "8", "--rank-pattern", "q_proj=4"), "--rank-pattern does not apply"),
        (("--adapter", "adalora", "--rank", "8", "--rank-pattern", "q_proj=4"), "init_r"),
        (
            ("--rank", "8", "--feedforward-modules", "q_proj"),
            "--feedforward-modules does not apply to --adapter lora",
        ),
        (("--adapter", "ia3", "--feedforward-modules", "down_proj"), "'down_proj' is not a target"),
        (
            ("--rank", "8", "--rank-pattern", "k_proj=4"),
            "rank_pattern key 'k_proj' matches no targeted module",
        ),
        (("--rank", "8", "--alpha-pattern", "nope=4"), "alpha_pattern key 'nope'"),
        (("--rank", "8", "--rank-pattern", "q_proj"), "not NAME=VALUE"),
        (("--rank", "8", "--rank-pattern", "q_proj=0"), "rank_pattern"),
        (("--rank", "8", "--rank-pattern", "q_proj=4,q_proj=8"), "given twice"),
        (("--rank", "8", "--rank-pattern", "(q_proj)+=4"), "not a module-name pattern"),
        (("--rank", "8", "--rank-pattern", ".*.*.*.*q=4"), "more than 3"),
        (("--rank", "8", "--rank-pattern", "q_proj[=4"), "not a valid pattern"),
        (("--rank", "8", "--alpha-pattern", "q_proj=nan"), "alpha_pattern"),
        (("--rank", "8", "--bias", "vera_only"), "bias must be one of none, lora_only, all"),
        (
            ("--adapter", "vera", "--rank", "8", "--bias", "lora_only"),
            "bias must be one of none, vera_only, all",
        ),
        (("--adapter", "loha", "--rank", "8", "--bias", "all"), "--bias does not apply to --adapter loha"),
        (("--adapter", "prefix", "--rank", "8"), "invalid choice"),
        (("--adapter", "vera", "--rank", "8", "--targets", "embed_tokens"), "nn.Embedding"),
        (("--adapter", "loha", "--rank", "8", "--targets", "input_layernorm"), "norm"),
    ],
)
def test_bad_combinations_exit_2_with_one_line(capsys, args, match):
    extra = list(args)
    if "--targets" not in extra:
        extra += ["--targets", "q_proj"]
    code, out, err = run(capsys, "params", "--preset", "llama-3.2-1b", *extra)
    assert code == 2 and not out
    assert err.startswith("error: ") and err.count("\n") == 1
    assert match in err


def test_loha_refuses_gpt2_conv1d(capsys):
    code, _, err = run(
        capsys, "params", "--preset", "gpt2", "--adapter", "lokr", "--rank", "8", "--targets", "all-linear"
    )
    assert code == 2 and "Conv1D" in err and "LoKr" in err


def test_bias_none_is_accepted_where_there_is_no_bias(capsys):
    data = params_json(capsys, "--adapter", "loha", "--rank", "2", "--targets", "q_proj", "--bias", "none")
    assert data["trainable_params"] == 16 * 2 * 2 * (2048 + 2048)
