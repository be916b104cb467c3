"""Bad input, CLI: random argv for every subcommand either computes (exit 0) or fails cleanly
(exit 2 and exactly one line `error: ...` on stderr). Exit 1 (an internal error) is always a bug.

The argv are built from each subcommand's own argparse actions, so subcommands that land later are covered
without editing this file: their flags get random text, numbers of every shape, and files of every kind.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_core import cli

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
# A fit really trains: fewer examples, and numbers drawn small more often (its own caps bound the rest).
FEW = settings(SETTINGS, max_examples=15)


def subparsers() -> dict:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(action.choices)


COMMANDS = sorted(subparsers())

NASTY_NUMBERS = [
    "0",
    "-1",
    "-0",
    "1.5",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "1e-400",
    "0x10",
    "1_000",
    " 8 ",
    "８",  # fullwidth digit: int() accepts it
    "٣",  # Arabic-Indic digit
    str(10**6),
    str(10**6 + 1),
    str(10**4 + 1),
    str(2**63),
    str(10**400),
    "9" * 5000,  # int() refuses more than 4300 digits with a ValueError
    "",
    "true",
    "None",
]


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """The magic and header of a float64 .npy claiming `shape`, with no data after it."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[str]:
    """Paths of every kind a user might pass where a file is wanted."""
    d = tmp_path_factory.mktemp("inputs")
    made = {
        "empty.json": b"",
        "list.json": b"[1, 2, 3]",
        "nan.json": b'{"model_type": "llama", "hidden_size": NaN}',
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "utf16.json": '{"model_type": "llama"}'.encode("utf-16"),
        "latin1.json": '{"model_type": "llamá"}'.encode("latin-1"),
        "bom.json": b'\xef\xbb\xbf{"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 16}',
        "huge_int.json": b'{"model_type": "llama", "hidden_size": ' + b"9" * 5000 + b"}",
        "big.json": b'{"a": "' + b"x" * 3_000_000 + b'"}',  # over every cap we have
        "binary.bin": bytes(range(256)) * 4,
        "pickled.bin": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.",  # a pickle: must never load
        "numbers.txt": b"1 2 3\n4 5 6\n",
        "numbers_nan.txt": b"1 nan inf\n",
        # 128-byte .npy headers claiming 8 TB / 160 GB of float64: np.load used to allocate it (MemoryError)
        "huge_shape.npy": _npy_header((10**12,)),
        "huge_2d.npy": _npy_header((2048, 10**7)),
        "small.csv": b"1,2\n3,4\n",
        "tiny_gpt2.json": json.dumps(
            {"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 16, "n_positions": 8}
        ).encode(),
    }
    for name, data in made.items():
        (d / name).write_bytes(data)
    (d / "a_directory").mkdir()
    return [str(d / n) for n in made] + [str(d / "a_directory"), str(d / "missing.json"), "", "-"]


def text() -> st.SearchStrategy[str]:
    # argv strings cannot hold NUL (the OS refuses them); everything else is fair game.
    return st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)


PRESETS_DIR = ROOT / "lora_core" / "presets"
PRESET_NAMES = sorted(p.stem for p in PRESETS_DIR.glob("*.json")) or ["llama-3-8b"]
TARGET_LISTS = ["q_proj,v_proj", "all-linear", "c_attn", "query,value", "q_proj", "lm_head", "nope", ""]


def plausible(action, files: list[str], small: bool) -> st.SearchStrategy[str]:
    """Values a user meant to be right, so that most examples get past argparse into our own checks."""
    if action.choices:
        return st.sampled_from([str(c) for c in action.choices])
    hint = f"{action.metavar or ''} {action.help or ''} {action.dest}".lower()
    if "preset" in hint:
        return st.sampled_from(PRESET_NAMES)
    if "file" in hint or "config" in hint or "path" in hint:
        return st.sampled_from(files + [str(p) for p in sorted(PRESETS_DIR.glob("*.json"))[:3]])
    if "save" in hint:
        return st.sampled_from(["", "lm_head", "score", "classifier"])
    if "names" in hint or "target" in hint or "modules" in hint:
        return st.sampled_from(TARGET_LISTS)
    if "bias" in hint:
        return st.sampled_from(["none", "lora_only", "all"])
    if any(w in hint for w in ("rate", "lr", "dropout", "fraction", "alpha")):
        return st.sampled_from(["0.5", "1", "16", "1e-3", "32"])
    return st.integers(1, 8 if small else 4096).map(str)


def junk(files: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        text(),
        st.sampled_from(NASTY_NUMBERS),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(files),
        st.lists(text(), max_size=4).map(",".join),
    )


@st.composite
def argv_for(draw, name: str, files: list[str], small: bool = False) -> list[str]:
    parser = subparsers()[name]
    argv = [name]
    # Half the examples are all plausible values (they reach the computation); the rest mix in junk.
    junk_mode = draw(st.booleans())

    def value_for(action) -> str:
        if junk_mode and draw(st.booleans()):
            return draw(junk(files))
        return draw(plausible(action, files, small))

    # Mutually exclusive groups (--preset | --config): usually exactly one member, now and then none or two.
    chosen: dict[int, bool] = {}
    for group in parser._mutually_exclusive_groups:
        pick = draw(st.integers(0, len(group._group_actions) - 1))
        odd = draw(st.integers(0, 9)) == 0
        for i, a in enumerate(group._group_actions):
            chosen[id(a)] = (i == pick) != (odd and draw(st.booleans()))
    for action in parser._actions:
        if not action.option_strings or "-h" in action.option_strings:
            continue
        # required flags are present most of the time, so the command gets past argparse and into our checks
        if id(action) in chosen:
            if not chosen[id(action)]:
                continue
        elif draw(st.integers(0, 9)) >= (9 if action.required else 4):
            continue
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
        else:
            argv += [flag, value_for(action)]
    for action in parser._actions:  # positional arguments, if any
        if not action.option_strings and action.dest != "help":
            argv.append(value_for(action))
    if draw(st.integers(0, 9)) == 0:  # now and then a stray token
        argv.append(draw(st.one_of(text(), st.sampled_from(["--json", "--", "-x", "--rank"]))))
    return argv


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def check_clean(argv: list[str]) -> None:
    code, out, err = run_cli(argv)
    assert code in (0, 2), f"exit {code} for {argv!r}: {err}"
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > len("error: "), (
            argv,
            err,
        )
        assert out == "", (argv, out)
    else:
        assert out.strip(), argv
        if "--json" in argv and "--help" not in argv and "-h" not in argv:
            payload = json.loads(out)  # strict: NaN/Infinity would not parse back under allow_nan=False
            _assert_finite(payload)


def _assert_finite(x) -> None:
    if isinstance(x, float):
        assert math.isfinite(x)
    elif isinstance(x, dict):
        for v in x.values():
            _assert_finite(v)
    elif isinstance(x, list):
        for v in x:
            _assert_finite(v)


@pytest.mark.parametrize("name", COMMANDS)
def test_random_argv_computes_or_fails_cleanly(name, files):
    strategy = argv_for(name, files, small=(name == "fit"))
    chosen = FEW if name == "fit" else SETTINGS

    @chosen
    @given(strategy)
    def prop(argv):
        check_clean(argv)

    prop()


@given(st.lists(text(), max_size=4))
@settings(SETTINGS)
def test_random_top_level_argv(argv):
    code, _out, err = run_cli(argv)
    assert code in (0, 2), (argv, err)
    assert "Traceback" not in err
    if code == 2:
        assert len(err.splitlines()) == 1 and err.startswith("error: ")


@pytest.mark.parametrize(
    "argv",
    [
        ["matrix", "--rows", "nan", "--cols", "8", "--rank", "1"],
        ["matrix", "--rows", "9" * 5000, "--cols", "8", "--rank", "1"],
        ["no-such-command"],
    ],
)
@pytest.mark.server
def test_real_process_prints_one_line(argv):
    """The real entry point (`python -m lora_core`), so nothing outside main() prints a traceback."""
    r = subprocess.run(
        [sys.executable, "-m", "lora_core", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("error: "), r.stderr


@pytest.mark.server
def test_real_process_refuses_a_lying_npy_header(tmp_path):
    """A 128-byte .npy claiming 10**12 float64 values: exit 2 and one line, never MemoryError (exit 1)."""
    path = tmp_path / "huge.npy"
    path.write_bytes(_npy_header((10**12,)))
    r = subprocess.run(
        [sys.executable, "-m", "lora_core", "fit", "--mode", "matrix", "--target", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("error: "), r.stderr
    assert "at most 2048" in r.stderr  # names what is allowed (lora_core/fit/targets.py MAX_SIDE)
