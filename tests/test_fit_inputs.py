"""Target uploads and the fit CLI: good files parse, bad ones fail cleanly (one `error:` line, status 2)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from lora_core.cli import main
from lora_core.errors import LoraLabError
from lora_core.fit_targets import MAX_SIDE, MAX_UPLOAD_BYTES, make_target, parse_target


def npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def png_bytes(w: int, h: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.arange(w * h) % 256).reshape(h, w).astype(np.uint8), mode="L").save(buf, "PNG")
    return buf.getvalue()


def test_npy_csv_and_image_parse():
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert torch.equal(parse_target("t.npy", npy_bytes(arr)), torch.from_numpy(arr))
    assert parse_target("t.csv", b"1,2,3\n4,5,6\n").tolist() == [[1, 2, 3], [4, 5, 6]]
    img = parse_target("face.png", png_bytes(5, 3))
    assert img.shape == (3, 5) and 0.0 <= float(img.min()) and float(img.max()) <= 1.0


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("t.npy", npy_bytes(np.array([{"a": 1}], dtype=object)), "npy"),  # pickled objects: refused
        ("t.npy", b"not numpy at all", "npy"),
        ("t.npy", npy_bytes(np.zeros((2, 2, 2))), "2-D"),
        ("t.npy", npy_bytes(np.array([[1.0, np.nan]])), "NaN"),
        ("t.npy", npy_bytes(np.zeros((1, MAX_SIDE + 1), dtype=np.float32)), "too large"),
        ("t.csv", b"1,2\nx,4\n", "number"),
        ("t.csv", b"1,2\n3\n", "columns"),
        ("t.csv", b"\xff\xfe\x00", "UTF-8"),
        ("t.png", b"\x89PNG garbage", "image"),
        ("t.png", png_bytes(MAX_SIDE + 1, 1), "pixels"),
        ("t.txt", b"1,2", "must be one of"),
        ("t.csv", b"1" * (MAX_UPLOAD_BYTES + 1), "limit"),
    ],
)
def test_bad_uploads_raise_a_clear_error(name, data, match):
    with pytest.raises(LoraLabError, match=match):
        parse_target(name, data)


def test_generated_target_has_the_requested_rank_and_unit_rms():
    t = make_target(30, 20, 4, "flat", 0.0, seed=0)
    assert int(torch.linalg.matrix_rank(t.double(), rtol=1e-5)) == 4  # float32 storage: rounding-level tail
    assert float((t.double() ** 2).mean()) == pytest.approx(1.0, rel=1e-6)


def run_cli(capsys, *argv):
    code = main(["fit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_matrix_json_contract(capsys):
    code, out, _ = run_cli(
        capsys,
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
        "--json",
    )
    assert code == 0
    payload = json.loads(out)
    for key in ("final_loss", "optimal_loss", "steps", "seconds", "losses"):
        assert key in payload
    assert payload["steps"] == 40 and len(payload["losses"]) == 40 + 1


def test_cli_matrix_from_a_file_and_regression(capsys, tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.outer(np.arange(6.0), np.ones(5)))  # rank 1
    code, out, _ = run_cli(capsys, "--mode", "matrix", "--target", str(path), "--rank", "1", "--json")
    assert code == 0 and json.loads(out)["final_loss"] < 1e-4
    code, out, _ = run_cli(
        capsys,
        "--mode",
        "regression",
        "--samples",
        "100",
        "--rows",
        "8",
        "--cols",
        "6",
        "--rank",
        "1",
        "--shift",
        "ones",
        "--target-loss",
        "1e-3",
        "--seed",
        "1",
    )
    assert code == 0 and "floor" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--mode", "matrix", "--rank", "0"],
        ["--mode", "matrix", "--rows", "3000"],
        ["--mode", "cube"],
        ["--mode", "regression", "--samples", "30000"],
        ["--mode", "regression", "--samples", "5", "--rows", "10"],
        ["--mode", "regression", "--target", "x.npy"],
        ["--mode", "matrix", "--target", "x.npy", "--rows", "4"],
        ["--mode", "matrix", "--samples", "10"],
        ["--mode", "matrix", "--lr", "nan"],
        ["--mode", "matrix", "--target", "/nonexistent/t.npy"],
    ],
)
def test_cli_bad_input_is_one_error_line(capsys, argv):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert out == ""


def test_cli_non_numeric_upload(capsys, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\nc,d\n")
    code, _, err = run_cli(capsys, "--mode", "matrix", "--target", str(path))
    assert code == 2 and "number" in err
