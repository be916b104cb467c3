"""The `memory` subcommand through lora_core.cli.main: JSON keys, table, bad input -> one line, status 2."""

import json

import pytest

from lora_core.cli import main
from tests.memory_configs import GPT2, LLAMA_GQA

KEYS = {
    "weights_bytes",
    "adapter_bytes",
    "gradients_bytes",
    "optimizer_bytes",
    "activations_bytes",
    "peak_bytes",
    "reserved_bytes",
    "cuda_context_bytes",
    "checkpoint_bytes",
}


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA_GQA))
    return str(path)


def run_json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_keys_and_consistency(capsys, tiny_config):
    out = run_json(capsys, ["memory", "--config", tiny_config, "--method", "lora", "--rank", "4", "--batch", "2", "--seq", "16"])  # fmt: skip
    assert KEYS <= set(out)
    assert all(isinstance(out[k], int) and out[k] >= 0 for k in KEYS)
    assert out["peak_bytes"] >= out["weights_bytes"] + out["optimizer_bytes"]
    assert out["reserved_bytes"] >= out["peak_bytes"]
    assert out["adapter_bytes"] <= out["weights_bytes"]


def test_full_trains_everything(capsys, tiny_config):
    base = ["memory", "--config", tiny_config, "--precision", "fp32", "--batch", "1", "--seq", "8"]
    full = run_json(capsys, [*base, "--method", "full"])
    # fp32 full fine-tuning: gradients = weights, AdamW two states = 2 x weights
    assert full["gradients_bytes"] == full["weights_bytes"]
    assert full["optimizer_bytes"] == 2 * full["weights_bytes"]
    assert full["checkpoint_bytes"] == full["weights_bytes"]


def test_qlora_and_sharding(capsys, tmp_path):
    path = tmp_path / "gpt2.json"
    path.write_text(json.dumps(GPT2))
    base = ["memory", "--config", str(path), "--targets", "c_attn", "--batch", "1", "--seq", "8"]
    lora = run_json(capsys, [*base, "--method", "lora"])
    qlora = run_json(capsys, [*base, "--method", "qlora"])
    assert qlora["weights_bytes"] < lora["weights_bytes"]
    one = run_json(capsys, [*base, "--method", "full"])
    four = run_json(capsys, [*base, "--method", "full", "--gpus", "4", "--sharding", "zero3"])
    assert four["optimizer_bytes"] == -(-one["optimizer_bytes"] // 4)
    assert four["per_gpu"] is True


def test_table_output(capsys, tiny_config):
    assert main(["memory", "--config", tiny_config, "--method", "full", "--batch", "1", "--seq", "8"]) == 0
    out = capsys.readouterr().out
    assert "peak (GiB)" in out and "weights (GiB)" in out


@pytest.mark.parametrize(
    "extra",
    [
        ["--method", "lorx"],
        ["--method", "lora", "--batch", "0"],
        ["--method", "lora", "--seq", "abc"],
        ["--method", "lora", "--precision", "fp8"],
        ["--method", "lora", "--optimizer", "adam"],
        ["--method", "lora", "--sharding", "zero3"],  # needs --gpus >= 2
        ["--method", "lora", "--rank", "-1"],
        ["--method", "lora", "--attention", "flash"],
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, tiny_config, extra):
    assert main(["memory", "--config", tiny_config, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_missing_and_bad_config(capsys, tmp_path):
    assert main(["memory", "--config", str(tmp_path / "nope.json"), "--method", "lora"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["memory", "--config", str(bad), "--method", "lora"]) == 2
    assert main(["memory", "--preset", "no-such-model", "--method", "lora"]) == 2
    assert capsys.readouterr().err.count("\n") == 3


@pytest.mark.slow
def test_lora_paper_checkpoint_point(capsys):
    """Hu et al. 2021, sec. 4.2: GPT-3 175B's checkpoint is 350 GB in fp16 (2 bytes x 175e9)."""
    out = run_json(capsys, ["memory", "--preset", "gpt3-175b", "--method", "lora", "--rank", "4", "--targets", "c_attn", "--precision", "fp16", "--batch", "1", "--seq", "8"])  # fmt: skip
    assert out["full_checkpoint_bytes"] == pytest.approx(350e9, rel=0.01)
    # the adapter: 96 layers x r(12288 + 3*12288), fp32 (PEFT's default adapter dtype): ~38 MB vs 350 GB
    assert out["checkpoint_bytes"] == 96 * 4 * (12288 + 3 * 12288) * 4


def test_band_margin_reserved_and_fits_keys(capsys, tiny_config):
    from lora_core.memory.gpus import GPUS
    from lora_core.memory.uncertainty import gpu_band

    out = run_json(capsys, ["memory", "--config", tiny_config, "--method", "lora", "--batch", "2", "--seq", "16"])
    assert out["reserved_source"] == "replay"
    assert out["reserved_bytes"] >= out["peak_bytes"] >= out["live_peak_bytes"]
    band = gpu_band()
    assert out["band_rows"] == band.rows and out["margin_pct"] == round(100 * band.margin, 2)
    assert out["band_low_pct"] <= out["band_high_pct"]
    assert [f["gpu"] for f in out["fits"]] == [g.name for g in GPUS]
    assert {f["verdict"] for f in out["fits"]} <= {"yes", "tight", "no"}
    cpu = run_json(capsys, ["memory", "--config", tiny_config, "--method", "lora", "--device", "cpu"])
    assert cpu["fits"] == [] and cpu["margin_pct"] is None and cpu["reserved_source"] == "rounding"


def test_seq_lens_show_reserved_growth(capsys, tiny_config):
    out = run_json(capsys, ["memory", "--config", tiny_config, "--method", "lora", "--seq-lens", "16,64,32,64"])
    growth = out["reserved_growth"]
    assert growth["seqs"] == [16, 64, 32, 64]
    assert growth["reserved_bytes"] == sorted(growth["reserved_bytes"])  # the cache only grows
    assert len(growth["peak_allocated_bytes"]) == 4


def test_optimizer_impl_flag(capsys, tiny_config):
    base = ["memory", "--config", tiny_config, "--method", "lora"]
    fused = run_json(capsys, [*base, "--optimizer-impl", "fused"])
    foreach = run_json(capsys, [*base, "--optimizer-impl", "foreach"])
    assert fused["optimizer_temp_bytes"] == 0 < foreach["optimizer_temp_bytes"]


@pytest.mark.parametrize(
    "extra", [["--seq-lens", "16,x"], ["--seq-lens", "0"], ["--optimizer-impl", "turbo"], ["--seq-lens", "16", "--device", "cpu"]]
)
def test_bad_new_flags_are_one_line_exit_2(capsys, tiny_config, extra):
    assert main(["memory", "--config", tiny_config, "--method", "lora", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


# --- the adapter family: the same flags as `params` -------------------------------------------------------

FAMILY_ARGS = [
    (["--adapter", "vera", "--rank", "16"], "vera", dict(r=16)),
    (["--adapter", "loha", "--rank", "4", "--alpha", "8"], "loha", dict(r=4, alpha=8)),
    (["--adapter", "lokr", "--rank", "2", "--rank-pattern", "v_proj=3"], "lokr", dict(r=2, rank_pattern={"v_proj": 3})),
    (["--adapter", "ia3", "--targets", "q_proj,down_proj", "--feedforward-modules", "down_proj"], "ia3",
     dict(target_modules=("q_proj", "down_proj"), feedforward_modules=("down_proj",))),
    (["--adapter", "adalora", "--rank", "6"], "adalora", dict(init_r=6)),
    (["--rank", "4", "--rank-pattern", "q_proj=8", "--alpha-pattern", "v_proj=2", "--rslora"], "lora",
     dict(r=4, rank_pattern={"q_proj": 8}, alpha_pattern={"v_proj": 2}, use_rslora=True)),
    ([], "lora", dict(r=8)),  # --rank's default, 8, as before
]  # fmt: skip


@pytest.mark.parametrize("argv,adapter,kw", FAMILY_ARGS)
def test_every_adapter_type_through_the_flags(capsys, tiny_config, argv, adapter, kw):
    from lora_core.family.specs import make_spec
    from lora_core.memory import TrainingSetup, estimate_memory

    base = ["memory", "--config", tiny_config, "--method", "lora", "--batch", "2", "--seq", "16"]
    out = run_json(capsys, [*base, *argv])
    assert KEYS <= set(out)
    spec = make_spec(adapter, **{"target_modules": ("q_proj", "v_proj"), **kw})
    want = estimate_memory(LLAMA_GQA, spec, TrainingSetup(method="lora", batch=2, seq=16))
    assert out["peak_bytes"] == want.peak_bytes and out["adapter_bytes"] == want.adapter_bytes
    assert out["trainable_params"] == want.trainable_params


@pytest.mark.parametrize(
    "extra,says",
    [
        (["--adapter", "ia3", "--rank", "4"], "IA3"),
        (["--adapter", "loha", "--method", "qlora"], "4-bit"),
        (["--adapter", "lokr", "--dora"], "--dora"),
        (["--adapter", "adalora", "--gpus", "2", "--sharding", "zero2"], "AdaLoRA"),
        (["--adapter", "ia3", "--feedforward-modules", "down_proj"], "not a target"),
        (["--rank-pattern", "layers.0.self_attn.q_proj=16"], "different ranks"),
        (["--rank-pattern", "nothing=16"], "matches no targeted module"),
        (["--adapter", "vera", "--targets", "embed_tokens"], "VeRA"),
    ],
)
def test_bad_family_combinations_are_one_line_exit_2(capsys, tiny_config, extra, says):
    argv = ["memory", "--config", tiny_config, "--batch", "1", "--seq", "8", *extra]
    if "--method" not in extra:
        argv += ["--method", "lora"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err
