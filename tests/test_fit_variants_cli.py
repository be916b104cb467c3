"""`fit --scaling / --lr-ratio / --init / --adapter` (issue 15 §4): same JSON keys as before plus the variant's,
and bad combinations exit 2 with one `error:` line."""

from __future__ import annotations

import json

import pytest

from lora_core.cli import main

SMALL = [
    "--mode",
    "matrix",
    "--rows",
    "12",
    "--cols",
    "10",
    "--true-rank",
    "3",
    "--rank",
    "2",
    "--steps",
    "40",
]
REGRESSION = ["--mode", "regression", "--samples", "120", "--rows", "9", "--cols", "8", "--steps", "40"]
# The --json keys before issue 15 (docs/fit.md "Command line"): none may go
KEYS = {
    "mode", "final_loss", "optimal_loss", "steps", "seconds", "losses", "stop_reason", "r", "alpha",
    "target_sigma", "learned_sigma", "merge_max_abs_diff",
}  # fmt: skip
VARIANT_KEYS = {
    "scaling_rule",
    "scaling_factor",
    "lr_ratio",
    "init",
    "adapter",
    "trainable_params",
    "reachable_floor",
}


def fit_json(capsys, *argv) -> dict:
    code = main(["fit", *argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_the_default_fit_reports_plain_lora_under_the_old_keys_and_new_ones(capsys):
    payload = fit_json(capsys, *SMALL)
    assert KEYS | VARIANT_KEYS == set(payload)
    assert (payload["scaling_rule"], payload["lr_ratio"], payload["init"], payload["adapter"]) == (
        "standard",
        1.0,
        "gaussian",
        "lora",
    )
    assert payload["scaling_factor"] == 8.0 / 2 and payload["trainable_params"] == 2 * (12 + 10)
    assert payload["reachable_floor"] == payload["optimal_loss"]
    named = fit_json(capsys, *SMALL, "--scaling", "standard", "--lr-ratio", "1", "--init", "gaussian")
    assert named["losses"] == payload["losses"]  # naming the defaults changes nothing


@pytest.mark.parametrize(
    ("flags", "expect"),
    [
        (["--scaling", "rslora", "--rank", "4"], {"scaling_rule": "rslora", "scaling_factor": 8.0 / 2}),
        (["--lr-ratio", "16"], {"lr_ratio": 16.0}),
        (
            ["--adapter", "vera", "--rank", "6"],
            {"adapter": "vera", "scaling_factor": 1.0, "trainable_params": 12 + 6},
        ),
    ],
)
def test_matrix_variant_flags(capsys, flags, expect):
    payload = fit_json(capsys, *SMALL, *flags)
    assert KEYS <= set(payload)
    assert {k: payload[k] for k in expect} == expect


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_regression_base_inits(capsys, init):
    payload = fit_json(
        capsys, *REGRESSION, "--init", init, "--rank", "2", "--shift", "principal", "--shift-rank", "2"
    )
    plain = fit_json(capsys, *REGRESSION, "--rank", "2", "--shift", "principal", "--shift-rank", "2")
    assert payload["init"] == init and KEYS <= set(payload)
    assert payload["losses"][0] == pytest.approx(plain["losses"][0], rel=1e-5)  # the model starts unchanged
    assert payload["reachable_floor"] is not None


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--mode", "matrix", "--init", "pissa"], "--mode matrix has no base"),
        (["--mode", "matrix", "--init", "olora", "--target", "x.npy"], "--mode matrix has no base"),
        (["--mode", "matrix", "--lr-ratio", "0"], "learning-rate ratio must be > 0"),
        (["--mode", "matrix", "--lr-ratio", "-2"], "learning-rate ratio must be > 0"),
        (["--mode", "matrix", "--lr-ratio", "nan"], "learning-rate ratio"),
        (["--mode", "matrix", "--scaling", "sqrt"], "scaling must be one of standard, rslora"),
        (["--mode", "matrix", "--init", "kaiming"], "init must be one of gaussian, pissa, olora"),
        (["--mode", "matrix", "--adapter", "dora"], "adapter must be one of lora, vera"),
        (["--mode", "matrix", "--adapter", "vera", "--scaling", "rslora"], "VeRA"),
        (["--mode", "matrix", "--adapter", "vera", "--lr-ratio", "4"], "VeRA"),
        (["--mode", "regression", "--adapter", "vera", "--init", "pissa"], "VeRA"),
        (
            ["--mode", "matrix", "--adapter", "vera", "--alpha", "4"],
            "--alpha does not apply to --adapter vera",
        ),
        (
            [
                "--mode",
                "regression",
                "--samples",
                "60",
                "--rows",
                "5",
                "--cols",
                "4",
                "--init",
                "pissa",
                "--rank",
                "5",
            ],
            "at most 4",
        ),
    ],
)
def test_bad_variant_combinations_exit_2_with_one_error_line(capsys, argv, match):
    code = main(["fit", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert match in err
