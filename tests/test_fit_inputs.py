"""Target uploads and the fit CLI: good files parse, bad ones fail cleanly (one `error:` line, status 2)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from lora_core.cli import main
from lora_core.errors import LoraLabError
from lora_core.fit import MAX_SIDE, MAX_UPLOAD_BYTES, make_target, parse_target


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


# --- .npy headers that lie (issue 6 audit): refused from the header, before numpy allocates anything ---


def npy_header(shape, descr="<f8", fortran_order=False, version=(1, 0)) -> bytes:
    """Only the .npy magic and header (no payload): any shape and dtype, whatever the data that follows."""
    buf = io.BytesIO()
    d = {"descr": descr, "fortran_order": fortran_order, "shape": shape}
    writer = (
        np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    )
    writer(buf, d)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (npy_header((10**12,)), "each side may be at most"),  # ~200 bytes claiming 8 TB: was MemoryError
        (npy_header((2048, 10**7)), "each side may be at most"),
        (npy_header((MAX_SIDE + 1, 1), version=(2, 0)), "each side may be at most"),
        (npy_header((10**6, 10**6), fortran_order=True), "each side may be at most"),
        (npy_header((2, 2, 2)) + bytes(64), "1-D or 2-D"),
        (npy_header(()) + bytes(8), "0 dimensions"),
        (npy_header((-1,)), "empty or negative"),
        (npy_header((0, 3)), "empty or negative"),
        (npy_header((2,), descr="|O") + b"\x80\x04K\x01.", "must be numbers"),  # a pickle: never loaded
        (npy_header((2,), descr="<U4") + bytes(32), "must be numbers"),
        (npy_header((2,), descr=[("a", "<f8")]) + bytes(16), "must be numbers"),  # structured record
        (npy_header((2,), descr="<m8") + bytes(16), "must be numbers"),  # timedelta64 is an np.number
        (npy_header((1, 1), descr="<c16") + bytes(16), "complex"),
        (npy_header((2, 3)) + bytes(40), "48 bytes.*only 40"),  # truncated payload
        (npy_header((2048, 2048)) + bytes(100), "only 100"),  # within the side cap, but lying
        (b"\x93NUMPY\x03\x00" + bytes(20), "version"),  # 3.0: never written for a plain numeric array
        (b"\x93NUMPY\x01\x00\xff\xff{", "not a .npy"),  # header length past the end of the file
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': 1, }  \n", "not a .npy"),  # keys missing
    ],
)
def test_lying_npy_header_is_refused_before_allocation(data, match):
    with pytest.raises(LoraLabError, match=match):
        parse_target("t.npy", data)


def test_npy_big_endian_fortran_order_and_1d_read_as_numpy_does():
    a = np.arange(6.0).reshape(2, 3)
    assert parse_target("t.npy", npy_bytes(a.astype(">f8"))).tolist() == a.tolist()
    assert parse_target("t.npy", npy_bytes(np.asfortranarray(a))).tolist() == a.tolist()
    raw = npy_header((2, 3), fortran_order=True) + a.tobytes(order="F")
    assert parse_target("t.npy", raw).tolist() == a.tolist()
    assert parse_target("t.npy", npy_bytes(np.array([1, 0, 1], dtype=bool))).tolist() == [[1.0, 0.0, 1.0]]
    assert parse_target(
        "t.npy", npy_header((3,), "<i2") + np.arange(3, dtype="<i2").tobytes() + b"xx"
    ).shape == (
        1,
        3,
    )  # trailing bytes past the payload are ignored, as np.load does


def test_npy_memory_error_from_numpy_is_a_clean_error(monkeypatch):
    """Defensive: if np.load still runs out of memory, the user sees a LoraLabError, not a traceback."""

    def boom(*_a, **_k):
        raise MemoryError

    monkeypatch.setattr(np, "load", boom)
    with pytest.raises(LoraLabError, match="npy"):
        parse_target("t.npy", npy_bytes(np.ones((2, 2))))


# --- images: a tiny header claiming a huge picture (decompression bomb) is refused before decoding ---


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(w: int, h: int) -> bytes:
    """A ~70-byte PNG whose IHDR says w x h 8-bit gray pixels; its IDAT holds far fewer."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def gif_claiming(w: int, h: int) -> bytes:
    import struct

    screen = struct.pack("<HHBBB", w, h, 0, 0, 0)
    image = b"," + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02\x02\x44\x01\x00;"
    return b"GIF89a" + screen + image


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bomb.png", png_claiming(60000, 60000)),  # 3.6e9 pixels: Pillow's DecompressionBombError
        ("bomb.png", png_claiming(15000, 15000)),  # 2.25e8: between Pillow's warning and error limits
        ("wide.png", png_claiming(MAX_SIDE + 1, 1)),  # only our side cap
        ("bomb.gif", gif_claiming(60000, 60000)),
        ("wide.gif", gif_claiming(65535, 1)),
    ],
)
def test_image_header_claiming_too_many_pixels_is_refused(name, data, monkeypatch):
    from PIL import Image

    assert len(data) < 200
    decoded = []
    monkeypatch.setattr(Image.Image, "convert", lambda *a, **k: decoded.append(1))  # must never be reached
    with pytest.raises(LoraLabError, match="at most"):
        parse_target(name, data)
    assert not decoded


def test_a_claimed_small_image_with_short_data_is_a_clean_error_or_parses():
    try:
        t = parse_target("t.png", png_claiming(4, 4))
    except LoraLabError:
        return
    assert t.shape == (4, 4)


# --- property: every input either parses to a finite 2-D float tensor within the caps or raises LoraLabError ---

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lora_core.fit import FILE_KINDS  # noqa: E402

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DESCRS = ["<f8", ">f8", "<f4", "<f2", "<i8", "|u1", "|b1", "<c8", "|O", "<U3", "|S2", "<M8", "|V4", "<g"]


def assert_clean(name: str, data: bytes) -> None:
    try:
        t = parse_target(name, data)
    except LoraLabError as exc:
        assert str(exc).strip()
        return
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.ndim == 2
    assert 1 <= t.shape[0] <= MAX_SIDE and 1 <= t.shape[1] <= MAX_SIDE
    assert bool(torch.isfinite(t).all())


@PROPERTY
@given(kind=st.sampled_from(FILE_KINDS), data=st.binary(max_size=4096))
def test_random_bytes_under_every_extension(kind, data):
    assert_clean(f"t.{kind}", data)


@st.composite
def npy_files(draw) -> bytes:
    """A .npy header, honest or lying about shape and dtype, then a payload of a random length."""
    side = st.one_of(st.integers(-2, 6), st.integers(0, 10**13), st.sampled_from([MAX_SIDE, MAX_SIDE + 1]))
    shape = tuple(draw(st.lists(side, max_size=4)))
    descr = draw(st.sampled_from(DESCRS))
    version = draw(st.sampled_from([(1, 0), (2, 0)]))
    header = npy_header(shape, descr, draw(st.booleans()), version)
    try:
        itemsize = np.dtype(descr).itemsize
        honest = int(np.prod([max(s, 0) for s in shape], dtype=object) or 0) * itemsize
    except TypeError:
        honest = 0
    honest = min(honest, 4096)
    length = draw(
        st.one_of(st.just(honest), st.integers(0, 4096), st.integers(max(honest - 8, 0), honest + 8))
    )
    payload = draw(st.one_of(st.binary(min_size=length, max_size=length), st.just(b"\x00" * length)))
    return header + payload


@PROPERTY
@given(npy_files())
def test_random_npy_headers_parse_or_fail_cleanly(data):
    assert_clean("t.npy", data)


@PROPERTY
@given(st.binary(max_size=64), st.integers(0, 200), st.binary(max_size=200))
def test_corrupted_real_npy_files(prefix, cut, tail):
    """A real file, cut anywhere and given a random tail; the magic kept or replaced by random bytes."""
    good = npy_bytes(np.arange(12, dtype="<f4").reshape(3, 4))
    assert_clean("t.npy", good[:cut] + tail)
    assert_clean("t.npy", prefix + good[len(prefix) :])


def test_the_app_takes_numeric_uploads_only():
    """pages/fit.py passes NUMERIC_KINDS: an image is refused by name before any decoder sees it."""
    from lora_core.fit import NUMERIC_KINDS

    with pytest.raises(LoraLabError, match=r"one of \.npy, \.csv"):
        parse_target("face.png", png_bytes(5, 3), NUMERIC_KINDS)
    assert parse_target("t.csv", b"1,2\n3,4\n", NUMERIC_KINDS).tolist() == [[1, 2], [3, 4]]


# The default command (issue 12, "Fits stop when done"), flag for flag.
DEFAULT_FIT = [
    "--mode",
    "matrix",
    "--rows",
    "64",
    "--cols",
    "48",
    "--true-rank",
    "8",
    "--noise",
    "0.05",
    "--rank",
    "4",
]


def test_cli_default_fit_ends_by_convergence_within_one_percent_of_the_floor(capsys):
    from lora_core.fit import DEFAULT_STEPS

    code, out, _ = run_cli(capsys, *DEFAULT_FIT, "--json")
    payload = json.loads(out)
    assert code == 0 and payload["stop_reason"] == "floor"
    assert payload["steps"] < DEFAULT_STEPS and len(payload["losses"]) == payload["steps"] + 1
    assert payload["final_loss"] <= 1.01 * payload["optimal_loss"]
    code, out, _ = run_cli(capsys, *DEFAULT_FIT)
    assert code == 0 and "floor (converged" in out  # the table says why it stopped, in words


def test_cli_no_converge_trains_to_the_step_cap(capsys):
    code, out, _ = run_cli(capsys, *DEFAULT_FIT, "--steps", "300", "--no-converge", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["stop_reason"] == "steps" and payload["steps"] == 300


def test_cli_has_words_for_every_stop_reason():
    from lora_core.commands.fit import STOP_WORDS
    from lora_core.fit import STOP_REASONS

    assert set(STOP_WORDS) == set(STOP_REASONS)


@pytest.mark.server
def test_a_fresh_cli_process_never_imports_dynamo_or_transformers():
    """The seed experiment's path in a new interpreter: torch.optim.Adam's first construction imports
    torch._dynamo (~2 s), and transformers is the Memory page's; neither belongs on a fit's path."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import contextlib, io, json, sys\n"
        "from lora_core.cli import main\n"
        "runs = [['fit', '--mode', 'regression', '--samples', '300', '--rows', '21', '--cols', '20',\n"
        "         '--rank', '1', '--target-loss', '1e-3'], ['fit', '--mode', 'matrix', '--json']]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    codes = [main(argv) for argv in runs]\n"
        "heavy = ('torch._dynamo', 'torch._inductor', 'transformers', 'sympy')\n"
        "print(json.dumps({'codes': codes, 'loaded': sorted({m.split('.')[0] if m.split('.')[0] != 'torch'\n"
        "    else '.'.join(m.split('.')[:2]) for m in sys.modules if m.startswith(heavy)})}))\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"codes": [0, 0], "loaded": []}


@pytest.mark.server
def test_the_entry_point_flushes_its_output_before_it_exits():
    """`python -m lora_core` leaves with os._exit (no torch teardown): its JSON must still arrive whole."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as for most users
    for extra in ([], ["--json"]):  # the table is smaller than a pipe's buffer: lost without the flush
        argv = [sys.executable, "-m", "lora_core", "fit", *DEFAULT_FIT, *extra]
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        if extra:
            assert json.loads(done.stdout)["stop_reason"] == "floor"
        else:
            assert done.stdout.splitlines()[-1].startswith("max |merged - unmerged|")  # the table's last row
