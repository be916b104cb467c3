"""The CLI contract shared by every subcommand: JSON keys, exit status 2 and one `error:` line."""

import json

import pytest

from lora_core.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_matrix_json_keys_and_values(capsys):
    code, out, err = run(capsys, "matrix", "--rows", "10000", "--cols", "10000", "--rank", "8", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) >= {"full_params", "lora_params", "ratio", "percent", "break_even_rank"}
    assert data["full_params"] == 10_000 * 10_000
    assert data["lora_params"] == (10_000 + 10_000) * 8
    assert data["break_even_rank"] == 10_000 * 10_000 / (10_000 + 10_000)


def test_matrix_table_is_readable(capsys):
    code, out, _ = run(capsys, "matrix", "--rows", "10000", "--cols", "10000", "--rank", "8")
    assert code == 0
    assert "100,000,000" in out and "160,000" in out and "0.16 %" in out


def test_past_break_even_warns(capsys):
    code, out, _ = run(capsys, "matrix", "--rows", "10", "--cols", "10", "--rank", "6")
    assert code == 0 and "past break-even" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["matrix"],
        ["matrix", "--rows", "x", "--cols", "1", "--rank", "1"],
        ["matrix", "--rows", "10", "--cols", "10", "--rank", "0"],
        ["matrix", "--rows", "10", "--cols", "10", "--rank", "-1"],
        ["matrix", "--rows", "99999999999", "--cols", "10", "--rank", "1"],
        ["matrix", "--rows", "10", "--cols", "10", "--rank", "1", "--bogus"],
    ],
)
def test_bad_input_exits_2_with_one_error_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_help_returns_zero(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "matrix" in out
