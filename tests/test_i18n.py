"""String tables: English and Telugu side by side, complete, and really Telugu; no process-wide translator.

The "no English left in Telugu" check: from each Telugu string remove the glossary's glosses in brackets
(lora_ui/strings/glossary.py, where tests/test_glossary.py checks where they stand), allow-listed technical terms,
{placeholders}, markdown emphasis, identifiers (anything with a digit, underscore or dot inside, such as
q_proj, Llama-3.2-3B, config.json) and single letters used as math symbols (W, B, A, r, d, k). Whatever
ASCII word of three or more letters is left is untranslated English.
"""

from __future__ import annotations

import ast
import importlib
import re
import string
from pathlib import Path

import pytest

from lora_ui.strings import AREAS
from lora_ui.strings.glossary import LATIN_TERMS, strip_glosses
from tests.conftest import page_names

ROOT = Path(__file__).resolve().parents[1]
TELUGU = re.compile(r"[\u0C00-\u0C7F]")

# Terms that stay in Latin script in Telugu text: the glossary's technical terms, plus names a reader
# would search for as written (people, models, libraries; only the Learn page's sources and scenarios).
ALLOWED_LATIN = LATIN_TERMS | {
    "KB", "PNG", "SVD", "Llama", "LLaMA", "GPT", "BERT", "RoBERTa", "Mistral", "Mixtral", "Gemma", "Qwen", "Phi",
    "NormalFloat", "Dettmers", "torch", "Hugging", "Face", "Plotly", "Streamlit", "all-linear", "bf16", "fp16",
    "fp32", "int8", "int4", "eager", "arXiv", "et", "al", "MSE", "URL", "FLOPs", "Transformers", "exp",
    # the LoRA family's authors and libraries (the Learn page's section 9 cites them by name)
    "Kalajdzievski", "Liu", "Kopiczko", "Hyeon", "Woo", "Yeh", "Zhang", "Hayou", "FedPara", "LyCORIS",
    "ICLR", "ICML", "NeurIPS",  # the conferences their papers appeared at
}  # fmt: skip


def tables():
    for area in AREAS:
        module = importlib.import_module(f"lora_ui.strings.{area}")
        yield area, module.EN, module.TE


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def leftover_english(text: str) -> list[str]:
    text = strip_glosses(text)  # "(floor)" after కనీస హద్దు: the glossary's first-use glosses
    text = re.sub(r"\{[^{}]*\}", " ", text)  # placeholders
    text = re.sub(r"\$[^$]*\$", " ", text)  # inline math
    text = re.sub(r"`[^`]*`", " ", text)  # code spans
    tokens = re.findall(r"[A-Za-z][A-Za-z0-9_.\-]*", text)
    left = []
    for token in tokens:
        token = token.rstrip(".-")
        if token in ALLOWED_LATIN or token.rstrip("s") in ALLOWED_LATIN:
            continue
        if re.search(r"[0-9_.]", token):  # identifiers: q_proj, Llama-3.2-3B, config.json, W_q
            continue
        if all(part in ALLOWED_LATIN or len(part) < 3 for part in token.split("-")):
            continue
        if len(token) >= 3:
            left.append(token)
    return left


@pytest.mark.parametrize(("area", "en", "te"), list(tables()), ids=AREAS)
def test_tables_have_the_same_keys(area, en, te):
    assert set(en) == set(te), f"{area}: only EN {set(en) - set(te)}, only TE {set(te) - set(en)}"


@pytest.mark.parametrize(("area", "en", "te"), list(tables()), ids=AREAS)
def test_no_empty_strings(area, en, te):
    for lang, table in (("EN", en), ("TE", te)):
        empty = [k for k, v in table.items() if not isinstance(v, str) or not v.strip()]
        assert not empty, f"{area}.{lang}: empty {empty}"


@pytest.mark.parametrize(("area", "en", "te"), list(tables()), ids=AREAS)
def test_same_placeholders(area, en, te):
    for key in set(en) & set(te):
        assert placeholders(en[key]) == placeholders(te[key]), f"{area}.{key}"


@pytest.mark.parametrize(("area", "en", "te"), list(tables()), ids=AREAS)
def test_telugu_table_is_telugu(area, en, te):
    english_left = {k: leftover_english(v) for k, v in te.items()}
    english_left = {k: v for k, v in english_left.items() if v}
    assert not english_left, f"{area}: English words left in TE: {english_left}"
    # Every Telugu entry that says something in words is written in Telugu script.
    for key, text in te.items():
        if re.search(r"[A-Za-z]{3,}", text) and not TELUGU.search(text):
            assert not leftover_english(text), f"{area}.{key}"


def test_the_leftover_check_catches_english():
    assert leftover_english("LoRA శిక్షణ Download the file") == ["Download", "the", "file"]
    assert leftover_english("{name} q_proj Llama-2-7B, 48 GB GPU పై") == []


def test_format_works_with_the_english_placeholders():
    for area, en, te in tables():
        for key, text in en.items():
            # A number, not "1": tables use numeric format specs such as {value:,}, which a str refuses.
            fields = dict.fromkeys(placeholders(text), 1234)
            assert text.format(**fields), f"{area}.{key} (EN)"
            assert te[key].format(**fields), f"{area}.{key}"


def python_files():
    for folder in ("lora_core", "lora_ui", "pages"):
        yield from (ROOT / folder).rglob("*.py")
    yield ROOT / "app.py"


def test_no_process_wide_translator():
    """One student's language must never leak into another's session: no gettext.install, no `_`."""
    offenders = []
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "install" and "gettext" in ast.unparse(node):
                offenders.append(f"{path.name}: gettext.install")
            if isinstance(node, (ast.FunctionDef, ast.Lambda)) and getattr(node, "name", None) == "_":
                offenders.append(f"{path.name}: def _")
            if isinstance(node, ast.alias) and node.asname == "_":
                offenders.append(f"{path.name}: import as _")
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_" for t in node.targets
            ):
                if re.search(r"gettext|translat|\btr\b", ast.unparse(node.value)):
                    offenders.append(f"{path.name}: _ = {ast.unparse(node.value)}")
    assert not offenders, offenders


def test_tr_is_per_call_not_global():
    from lora_ui.i18n import tr

    assert tr("common.language", lang="te") == "భాష"
    assert tr("common.language", lang="en") == "Language"


# --- the language switch, in AppTest -------------------------------------------------------------------


PAGES = page_names()


@pytest.mark.parametrize("page", PAGES)
def test_sidebar_switch_turns_the_page_telugu(app_test, page):
    at = app_test(page=page)
    at.sidebar.radio(key="lang").set_value("te").run()
    assert not at.exception, at.exception
    assert TELUGU.search(at.title[0].value), at.title[0].value
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not TELUGU.search(at.title[0].value), at.title[0].value


@pytest.mark.parametrize("page", PAGES)
def test_lang_query_param_opens_the_page_in_telugu(app_test, page):
    at = app_test(page=page, query={"lang": "te"})
    assert not at.exception, at.exception
    assert at.sidebar.radio(key="lang").value == "te"
    assert TELUGU.search(at.title[0].value), at.title[0].value
    assert TELUGU.search(at.sidebar.radio(key="lang").label)


def test_unknown_lang_falls_back_to_english(app_test):
    at = app_test(page="learn", query={"lang": "xx"})
    assert not at.exception
    assert at.sidebar.radio(key="lang").value == "en"


def test_the_run_language_is_remembered_only_where_it_cannot_change(monkeypatch):
    """tr()'s fast path (lora_ui/i18n.py): a full run reads session state until the sidebar switch has run;
    a fragment run (which never runs the switch) remembers its first read; a new run starts over."""
    from types import SimpleNamespace

    from lora_ui import i18n

    state: dict[str, str] = {"lang": "en"}
    monkeypatch.setattr(i18n, "st", SimpleNamespace(session_state=state))
    ctx = SimpleNamespace(cursors={}, fragment_ids_this_run=[])
    monkeypatch.setattr(i18n, "_run_ctx", lambda: ctx)

    assert i18n.current_lang() == "en"
    state["lang"] = "te"  # the switch moved before it ran in this full run: nothing remembered yet
    assert i18n.current_lang() == "te"
    i18n._remember("te")  # language_selector, after the switch
    state["lang"] = "en"
    assert i18n.current_lang() == "te"  # this run's language, whatever else reads it later in the run

    ctx.cursors = {}  # the next run (Streamlit resets the context with a new cursors dict)
    assert i18n.current_lang() == "en"
    ctx.fragment_ids_this_run = ["frag"]  # a fragment run remembers its first read
    assert i18n.current_lang() == "en"
    state["lang"] = "te"
    assert i18n.current_lang() == "en"
    state["lang"] = "xx"
    ctx.cursors, ctx.fragment_ids_this_run = {}, []
    assert i18n.current_lang() == i18n.DEFAULT_LANG  # an unknown code falls back
