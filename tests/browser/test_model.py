"""The Model page in Chromium: PEFT's published Llama-2-7B count, the rank moving it, and config uploads.

Expected counts are formulas. LoRA on a Linear(in, out) adds r·(in + out) trainable values (lora_A is
(r, in), lora_B is (out, r); Hu et al. 2021, section 4). Llama-2-7B (meta-llama/Llama-2-7b-hf config.json):
32 layers, hidden 4096, multi-head attention, so q_proj and v_proj are both 4096 -> 4096. PEFT's default
targets for llama are q_proj and v_proj, and its docs print "trainable params: 4,194,304" for it at r=8.
"""

from __future__ import annotations

import json

import pytest

from lora_ui import keys
from tests.browser.conftest import no_exception, open_app, wait_idle
from tests.browser.test_bad_uploads import TINY_LLAMA

LLAMA2_LAYERS, LLAMA2_HIDDEN = 32, 4096


def llama2_qv(r: int) -> int:
    return LLAMA2_LAYERS * 2 * r * (LLAMA2_HIDDEN + LLAMA2_HIDDEN)


assert llama2_qv(8) == 4_194_304  # the published figure (PEFT docs, print_trainable_parameters)

# A tiny valid Llama config: head_dim = 64 / 4 = 16, so v_proj is 64 -> 2 * 16 = 32 (grouped-query attention).
TINY = TINY_LLAMA


def tiny_qv(r: int) -> int:
    return 2 * r * ((64 + 64) + (64 + 32))  # layers x r x (q_proj in+out + v_proj in+out)


def trainable(page) -> str:
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Trainable").first
    return metric.locator("[data-testid='stMetricValue']").inner_text()


def wait_trainable(page, expected: int) -> None:
    text = f"{expected:,}"
    page.wait_for_function(
        """(t) => [...document.querySelectorAll("[data-testid='stMetric']")].some(
               m => m.innerText.includes('Trainable') &&
                    m.querySelector("[data-testid='stMetricValue']").innerText.trim() === t)""",
        arg=text,
        timeout=60_000,
    )
    assert trainable(page) == text


def errors(page):
    return page.locator("[data-testid='stAlert']").filter(has_text="Problem:")


def upload(page, name: str, data: bytes) -> None:
    page.locator(f".st-key-{keys.MODEL_UPLOAD} input[type='file']").set_input_files(
        {"name": name, "mimeType": "application/json", "buffer": data}
    )
    wait_idle(page, timeout=60_000)


@pytest.mark.slow
def test_rank_moves_the_published_llama_2_7b_count(page, app_server):
    open_app(page, app_server, "model", f"{keys.MODEL_PRESET}=llama-2-7b")
    assert no_exception(page)
    wait_trainable(page, llama2_qv(8))
    box = page.locator(f".st-key-{keys.MODEL_RANK} input")
    box.fill("16")
    box.press("Enter")
    wait_idle(page, timeout=60_000)
    wait_trainable(page, llama2_qv(16))  # linear in r: 8,388,608
    assert f"{keys.MODEL_RANK}=16" in page.url
    assert no_exception(page)


@pytest.mark.slow
def test_uploaded_config_counts_and_a_broken_one_is_a_clean_error(page, app_server):
    open_app(page, app_server, "model", f"{keys.MODEL_PRESET}=llama-2-7b")
    wait_trainable(page, llama2_qv(8))

    upload(page, "config.json", json.dumps(TINY).encode())
    assert no_exception(page)
    wait_trainable(page, tiny_qv(8))
    assert errors(page).count() == 0

    upload(page, "config.json", b'{"model_type": "llama", "hidden_size": ')  # cut off mid-file
    assert no_exception(page)
    errors(page).first.wait_for(timeout=60_000)  # show_error's st.error: "Problem: <what was wrong>"
    # The page keeps working: it falls back to the preset, and the rank still moves the count.
    wait_trainable(page, llama2_qv(8))
    box = page.locator(f".st-key-{keys.MODEL_RANK} input")
    box.fill("4")
    box.press("Enter")
    wait_idle(page, timeout=60_000)
    wait_trainable(page, llama2_qv(4))
    assert no_exception(page)


def test_module_table_csv_downloads_on_click(page, app_server):
    """The CSV is made when the button is clicked (a callable: not on every rerun); it holds the table."""
    open_app(page, app_server, "model")
    wait_idle(page)
    # by its widget key (Streamlit puts `st-key-<key>` on the element's container): while the page draws, the
    # family table's button can be in the DOM before the module table's (a first-button pick once took it)
    button = page.locator(".st-key-model_csv").get_by_role("button", name="Download CSV")
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    text = open(info.value.path(), encoding="utf-8").read()
    header, *rows = text.strip().splitlines()
    assert header == "module,kind,weight shape,count,adapter params"
    assert len(rows) == 2  # q_proj and v_proj, PEFT's default targets for llama
    assert sum(int(r.rsplit(",", 1)[1]) for r in rows) == llama2_qv(8)
    assert no_exception(page)


# --- the LoRA family side by side ----------------------------------------------------------------------------


def family_csv(page) -> list[list[str]]:
    """The family table as its CSV download (the grid is drawn on a canvas: its text is not in the DOM)."""
    button = page.locator(".st-key-model_family_csv").get_by_role("button").filter(has_text="CSV")  # by widget key
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    import csv

    with open(info.value.path(), encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize("lang", ["en", "te"])
def test_the_family_table_and_the_chosen_types_snippet(page, app_server, lang):
    """Llama-2-7B, q and v, r=8, VeRA chosen: the metric, the family table (every type's count from its
    formula) and VeRA's PEFT config, in English and in Telugu."""
    from lora_ui.i18n import tr

    open_app(page, app_server, "model", f"{keys.MODEL_PRESET}=llama-2-7b&{keys.MODEL_ADAPTER}=vera&lang={lang}")
    assert no_exception(page)
    vera = LLAMA2_LAYERS * 2 * (LLAMA2_HIDDEN + 8)  # lambda_b (out) + lambda_d (r) per module
    page.wait_for_function(
        "(t) => [...document.querySelectorAll(\"[data-testid='stMetricValue']\")].some(e => e.innerText.trim() === t)",
        arg=f"{vera:,}",
        timeout=60_000,
    )
    page.get_by_text(tr("family.table_header", lang=lang)).wait_for()
    # the snippet is drawn below the table: wait for the run to reach it before reading the last code block
    page.locator("[data-testid='stCode']", has_text="Config(").last.wait_for(timeout=60_000)
    assert "VeraConfig(" in page.locator("[data-testid='stCode']").last.inner_text()
    header, *rows = family_csv(page)
    assert header[0] == tr("family.col.type", lang=lang)
    counts = {r[0].rstrip(" ◀"): r[1] for r in rows}
    lora = llama2_qv(8)
    assert counts["LoRA"] == f"{lora:,}" and counts["VeRA"] == f"{vera:,}"
    assert counts["LoHa"] == f"{2 * lora:,}"  # two rank-r pairs
    assert [r[0] for r in rows if r[0].endswith("◀")] == ["VeRA ◀"]
    expresses = {r[0].rstrip(" ◀"): r[4] for r in rows}
    assert expresses["LoKr"] == tr("family.expresses.lokr", lang=lang)
    assert no_exception(page)
