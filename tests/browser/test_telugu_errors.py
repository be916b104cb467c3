"""A core error on a page at ?lang=te is Telugu, with its details kept (issue 16: "core errors reach the page
through a translation of their kind, with the detail kept"): the Fit page with a bad .npy, the Model page with
a bad config.json, the Memory page with a target no module has. Read in Chromium as a visitor sees it: the
error says the problem in Telugu, names the file, module or value, and has no English word outside the
glossary's short list (the details themselves, identifiers and names, aside)."""

from __future__ import annotations

import json
import re

from lora_ui import keys
from lora_ui.i18n import tr
from lora_ui.strings.errors import TE
from lora_ui.strings.glossary import latin_words
from tests.browser.conftest import no_exception, open_app, wait_idle
from tests.browser.test_bad_uploads import TINY_LLAMA, _npy_claiming, press, settle, upload

TELUGU = re.compile(r"[\u0C00-\u0C7F]")
PREFIX = tr("common.error_prefix", lang="te", message="").strip()  # "సమస్య:"


def telugu_errors(page) -> list[str]:
    """The st.error messages the page shows, from the prefix on (the alert's text starts with its icon)."""
    texts = page.locator("[data-testid='stAlert']").all_inner_texts()
    return [t[t.index(PREFIX) :] for t in texts if PREFIX in t]


def said_in_telugu(text: str, template: str, names: tuple[str, ...] = ()) -> bool:
    """`text` is the Telugu template's words (its first words before a placeholder, at least) with no English."""
    words = re.split(r"\{[^{}]*\}", template)
    longest = max(words, key=len).strip(" ;:,.()")
    return bool(TELUGU.search(text)) and longest in text and not latin_words(text, names)


def test_fit_page_bad_npy_in_telugu(page, app_server):
    open_app(page, app_server, "fit", "lang=te&fit_mode=matrix&fit_source=upload")
    name = "wide_target.npy"
    upload(page, keys.FIT_UPLOAD, name, _npy_claiming((3000, 3000)))  # each side over MAX_SIDE = 2048
    press(page, keys.FIT_TRAIN)
    settle(page)
    assert no_exception(page)
    (error,) = telugu_errors(page)
    assert name in error and "3000 x 3000" in error and "2048" in error, error
    assert said_in_telugu(error, TE["fit.upload.too_large"], names=(name,)), error
    assert "too large" not in error and "each side" not in error, error


def test_model_page_bad_config_in_telugu(page, app_server):
    open_app(page, app_server, "model", "lang=te")
    data = json.dumps(dict(TINY_LLAMA, hidden_size=10**6 + 1)).encode()  # over the dimension cap
    upload(page, keys.MODEL_UPLOAD, "config.json", data)
    wait_idle(page)
    assert no_exception(page)
    (error,) = telugu_errors(page)
    assert "hidden_size" in error and "1,000,001" in error and "1,000,000" in error, error
    assert said_in_telugu(error, TE["value.int_range"]), error
    assert "must be between" not in error, error


def test_memory_page_unknown_target_in_telugu(page, app_server):
    open_app(page, app_server, "memory", f"lang=te&{keys.MEM_TARGETS}=no_such_module")
    page.wait_for_selector("[data-testid='stAlert']", timeout=120_000)
    wait_idle(page)
    assert no_exception(page)
    errors = telugu_errors(page)
    assert errors, page.locator("[data-testid='stAlert']").all_inner_texts()
    error = errors[0]
    assert "'no_such_module'" in error, error
    architecture = re.search(r"\b\w+For\w+\b", error)  # the model's class: a name, not a word
    names = (architecture.group(0),) if architecture else ()
    assert said_in_telugu(error, TE["params.target_unmatched"], names=names), error
    assert "matches no module" not in error, error
