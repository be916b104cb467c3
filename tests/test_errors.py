"""Core errors are a stable code plus parameters (lora_core/errors.py, issue 16): the CLI prints the English,
the pages show the code in the visitor's language (lora_ui/strings/errors.py via lora_ui.widgets.error_text),
with the details (names, values, limits) kept as they are."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from lora_core.errors import MESSAGES, Clause, LoraLabError, fields
from lora_ui.strings import errors as table
from lora_ui.widgets import error_text, markdown_literal

ROOT = Path(__file__).resolve().parents[1]
TELUGU = re.compile(r"[\u0C00-\u0C7F]")


# --- every raise names a registered code, with exactly its template's parameters ----------------------------


def scanned_files():
    for folder in ("lora_core", "lora_ui", "pages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != ROOT / "lora_core" / "errors.py":  # the definitions, not a raise
                yield path
    yield ROOT / "app.py"


def error_classes(trees) -> set[str]:
    """LoraLabError and every class derived from it in the scanned code (DepthError, WorkerDied, ...)."""
    names = {"LoraLabError"}
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names:
                    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                    if bases & names:
                        names.add(node.name)
                        grew = True
    return names


def _callee(node: ast.Call) -> str:
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")


def check_calls(tree, classes: set[str], where: str) -> tuple[list[str], set[str]]:
    """(problems, codes used) of every LoraLabError(...)/subclass(...)/Clause(...) call in `tree`."""
    problems, used = [], set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _callee(node) not in classes | {"Clause"}:
            continue
        at = f"{where}:{node.lineno}"
        first = node.args[0] if node.args else None
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            problems.append(f"{at}: the code is not a string literal: {ast.unparse(node)[:80]}")
            continue
        code = first.value
        if code not in MESSAGES:
            problems.append(f"{at}: unregistered code {code[:60]!r}")
            continue
        used.add(code)
        if len(node.args) > 1 or any(k.arg is None for k in node.keywords):
            problems.append(f"{at}: {code}: parameters must be keywords, written out")
            continue
        given, wanted = {k.arg for k in node.keywords}, fields(MESSAGES[code])
        if given != wanted:
            problems.append(f"{at}: {code}: parameters {sorted(given)}, the template uses {sorted(wanted)}")
    return problems, used


def scan() -> tuple[list[str], set[str], int]:
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in scanned_files()}
    classes = error_classes(trees.values())
    problems, used, calls = [], set(), 0
    for path, tree in trees.items():
        found, codes = check_calls(tree, classes, str(path.relative_to(ROOT)))
        problems += found
        used |= codes
        calls += sum(isinstance(n, ast.Call) and _callee(n) in classes | {"Clause"} for n in ast.walk(tree))
    return problems, used, calls


def test_every_raise_names_a_registered_code_with_its_parameters():
    problems, _, calls = scan()
    assert calls > 130, calls  # the scan sees the raise sites (about 140 today)
    assert not problems, "\n".join(problems)


def test_every_registered_code_is_raised_somewhere():
    _, used, _ = scan()
    assert set(MESSAGES) - used == set(), "codes nothing raises: drop them or raise them"


def test_the_scan_catches_old_style_raises_and_wrong_parameters():
    source = """
class DepthError(LoraLabError): ...
class Deeper(DepthError): ...
raise LoraLabError(f"{name} must be an integer, got {value!r}")
raise LoraLabError("value.not_integer", name=name)
raise LoraLabError("no.such.code")
raise Deeper("memory.depth_no_stack")
raise LoraLabError("value.not_integer", **params)
why = Clause("why.no_field", setting="r")
"""
    tree = ast.parse(source)
    problems, used = check_calls(tree, error_classes([tree]), "x.py")
    assert [p.split(": ", 1)[1].split(":")[0] for p in problems] == [
        "the code is not a string literal",
        "value.not_integer",  # `value` missing
        "unregistered code 'no.such.code'",
        "value.not_integer",  # ** hides the parameters
        "why.no_field",  # config_class missing
    ], problems
    assert used == {"value.not_integer", "memory.depth_no_stack", "why.no_field"}


# --- the English: str(exc), what the CLI prints -------------------------------------------------------------


def test_str_is_the_english_message_with_the_details():
    exc = LoraLabError("file.too_large", name="big.json", size=1_234_567, limit=1_000_000)
    assert str(exc) == "big.json is 1,234,567 bytes; the limit is 1,000,000"
    assert isinstance(exc, ValueError)
    assert exc.code == "file.too_large" and exc.params == {
        "name": "big.json",
        "size": 1_234_567,
        "limit": 1_000_000,
    }


def test_clauses_and_lists_read_as_english():
    from lora_core.family.specs import make_spec

    with pytest.raises(LoraLabError) as info:
        make_spec("vera", r=8, alpha=16)
    assert str(info.value) == "VeRA takes no alpha: VeRA's two trained vectors do its scaling"
    assert info.value.params["why"] == Clause("why.vera_alpha")
    exc = LoraLabError("memory.rank_pattern_layers", pattern="q_proj", ranks=(4, 16))
    assert "different layers (4, 16);" in str(exc)


def test_a_real_error_keeps_its_details():
    from lora_core.params import count_params
    from lora_core.presets import load_preset
    from lora_core.spec import LoraSpec

    with pytest.raises(LoraLabError) as info:
        count_params(load_preset("gpt2"), LoraSpec(r=8, target_modules=("no_such_module",)))
    assert info.value.code == "params.target_unmatched"
    assert info.value.params["target"] == "no_such_module"
    assert "c_attn" in info.value.params["names"]
    assert str(info.value).startswith(
        "target 'no_such_module' matches no module of GPT2LMHeadModel; module names:"
    )


def test_errors_cross_a_pipe_with_their_type_code_and_parameters():
    """The fit worker sends a LoraLabError up its multiprocessing pipe (lora_ui/workers/fit_worker.py)."""
    import multiprocessing

    from lora_core.memory.events import DepthError

    for exc in (
        LoraLabError("family.no_setting", label="IA3", setting="r", why=Clause("why.ia3_r")),
        DepthError("memory.depth_no_stack"),
    ):
        send, receive = multiprocessing.Pipe()
        with send, receive:
            send.send(exc)
            back = receive.recv()
        assert type(back) is type(exc)
        assert (back.code, back.params, str(back)) == (exc.code, exc.params, str(exc))


def test_an_unregistered_code_is_its_own_message():
    """An error raised in the old style (a sentence, no code) reads as that sentence, in both languages."""
    exc = LoraLabError("the fit exploded")
    assert str(exc) == "the fit exploded"
    assert error_text(exc, "te") == "the fit exploded"


# --- the Telugu ---------------------------------------------------------------------------------------------


def test_both_languages_cover_every_code():
    assert table.EN == MESSAGES  # one English: the CLI's
    assert set(table.TE) == set(MESSAGES), set(MESSAGES) ^ set(table.TE)


def _formats(template: str) -> set[tuple[str, str | None, str]]:
    return {(f, conv, spec) for _, f, spec, conv in string.Formatter().parse(template) if f is not None}


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_telugu_keeps_every_parameter_with_its_format(code):
    """Same parameters, each with the same conversion and format: a limit grouped as 1,000,000 in English
    is grouped the same way in Telugu (the glossary counts in millions, never lakhs); !r quotes in both."""
    assert _formats(table.TE[code]) == _formats(MESSAGES[code])


def test_error_text_in_telugu_keeps_the_details():
    exc = LoraLabError("params.target_unmatched", target="no_such_module", architecture="GPT2LMHeadModel",
                       names=("c_attn", "c_proj"))  # fmt: skip
    te = error_text(exc, "te")
    assert (
        TELUGU.search(te) and "'no_such_module'" in te and "GPT2LMHeadModel" in te and "c_attn, c_proj" in te
    )
    assert "matches no module" not in te
    assert error_text(exc, "en") == str(exc)


def test_error_text_fills_clauses_and_numbers_in_telugu():
    why = LoraLabError("family.no_setting", label="IA3", setting="r", why=Clause("why.ia3_r"))
    assert error_text(why, "te") == "IA3 కు r లేదు: " + table.TE["why.ia3_r"]
    big = LoraLabError("file.too_large", name="big.json", size=1_234_567, limit=1_000_000)
    assert "1,234,567" in error_text(big, "te") and "1,000,000" in error_text(big, "te")


def test_other_exceptions_show_their_type():
    assert error_text(RuntimeError("boom"), "te") == "RuntimeError: boom"


# --- on the pages, at ?lang=te ------------------------------------------------------------------------------


def test_the_memory_page_shows_a_core_error_in_telugu_with_the_module_name(app_test):
    from lora_ui import keys
    from lora_ui.i18n import tr

    at = app_test(page="memory", query={keys.MEM_TARGETS: "no_such_module", "lang": "te"})
    assert not at.exception, at.exception
    shown = [e.value for e in at.error]
    assert shown, "no st.error for a target that matches nothing"
    prefix = tr("common.error_prefix", lang="te", message="")
    ours = [s for s in shown if s.startswith(prefix)]
    assert ours and all(TELUGU.search(s[len(prefix) :]) for s in ours), shown
    # the module name is kept, shown as typed (markdown-escaped), inside the Telugu sentence
    assert any(markdown_literal("'no_such_module'") in s and "మాడ్యూల్" in s for s in ours), shown
    assert not any("matches no module" in s for s in shown), shown
