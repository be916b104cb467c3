"""One Telugu vocabulary (issue 16): the glossary's forms are used, its rejected variants never are, glosses
stand where the seed puts them, option codes have labels, and strings shown together end their sentences."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from lora_ui.i18n import join_sentences, tr
from lora_ui.strings import AREAS
from lora_ui.strings.glossary import (
    BY_KEY,
    LATIN,
    TELUGU_LETTERS,
    TERMS,
    ZWNJ,
    gloss_uses,
    latin_words,
    markdown_table,
    style_problems,
)

ROOT = Path(__file__).resolve().parents[1]


def tables():
    for area in AREAS:
        module = importlib.import_module(f"lora_ui.strings.{area}")
        yield area, module.EN, module.TE


def english_words(text: str) -> str:
    """The English a reader reads: without {placeholders}, `code`, $math$ and the source files an error
    cites (adalora/model.py:128): names, not words."""
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"[\w/]+\.py\b", " ", text)
    return re.sub(r"\$[^$]*\$", " ", text)


def misses(en_table: dict, te_table: dict, area: str) -> list[str]:
    """Where an English string uses a glossary term and its Telugu string lacks the term's one form."""
    out = []
    for key, en in en_table.items():
        words = english_words(en)
        te = te_table[key].replace(ZWNJ, "")
        for term in TERMS:
            if (term.areas and area not in term.areas) or f"{area}.{key}" in term.skip:
                continue
            if term.en_pattern.search(words) and not term.te_pattern.search(te):
                out.append(f"{area}.{key}: {term.key} → {term.te} | {te_table[key]}")
    return out


@pytest.mark.parametrize(("area", "en", "te"), list(tables()), ids=AREAS)
def test_each_english_term_becomes_its_one_telugu_form(area, en, te):
    assert not misses(en, te, area), "\n".join(misses(en, te, area))


def rejected_in(text: str) -> list[str]:
    text = text.replace(ZWNJ, "")
    found = [f"{t.key}: {r}" for t in TERMS for r in t.rejected if re.search(r, text)]
    return found + style_problems(text)


@pytest.mark.parametrize(("area", "en", "te"), list(tables()), ids=AREAS)
def test_rejected_variants_never_appear(area, en, te):
    found = {key: rejected_in(text) for key, text in te.items()}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"{area}: {found}"


def test_the_checks_can_fail():
    """Each check flags the mistakes issue 16 found (this is how a regression would look)."""
    en = {"a": "Final loss", "b": "Merge: no extra inference cost", "c": "Train", "d": "the update ΔW"}
    te = {"a": "చివరి నష్టం", "b": "విలీనం: అనుమానానికి అదనపు ఖర్చు లేదు", "c": "శిక్షణ", "d": "నవీకరణ ΔW"}
    missed = [m.split(":")[1].split("→")[0].strip() for m in misses(en, te, "fit")]
    assert missed == ["loss", "inference", "update"]
    assert rejected_in("చివరి నష్టం") == ["loss: నష్ట"]
    assert rejected_in("ఫుల్ ఫైన్-ట్యూనింగ్ vs LoRA") == ["full_fine_tuning: ఫుల్ ఫైన్", "vs"]
    assert rejected_in("వెయిట్స్, గ్రేడియెంట్స్") == [
        "weight: వెయిట్స్", "gradient: గ్రేడియెంట్", "english_plural: వెయిట్స్", "english_plural: గ్రేడియెంట్స్"
    ]  # fmt: skip
    assert rejected_in("టోకెన్స్") == ["english_plural: టోకెన్స్"]
    assert rejected_in("37.7M శిక్షణ పొందే పారామితులు") == ["number_M_or_B"]
    assert rejected_in("మ్యాట్రిక్స్, సీక్వెన్స్, Llama-2-7B, లక్ష్య, పొరపాటు") == []  # not plurals, names, or other words


def test_glossary_terms_are_well_formed():
    assert len({t.key for t in TERMS}) == len(TERMS)
    for t in TERMS:
        assert t.rule in ("transliterate", "telugu", LATIN), t.key
        assert re.search(f"[{TELUGU_LETTERS}]", t.te), t.key  # the one form is written in Telugu
        assert t.te_pattern.search(t.te.replace(ZWNJ, "")), t.key  # and matches its own pattern
        for variant in t.rejected:
            assert not re.search(variant, t.te), (t.key, variant)  # no term rejects its own form
        assert all(a in AREAS for a in t.areas), t.key


# Concepts later work will need (issue 16's notes: adapter types, a memory band, new stop reasons).
LATER = ("adapter", "convergence", "plateau", "margin", "uncertainty", "allocator", "reserved", "tight",
         "initialization", "scaling", "lr_ratio")  # fmt: skip


@pytest.mark.parametrize("key", LATER)
def test_glossary_has_what_later_work_needs(key):
    assert key in BY_KEY and BY_KEY[key].te


@pytest.mark.parametrize(("area", "en", "te"), list(tables()), ids=AREAS)
def test_glosses_stand_after_their_term_once_per_page(area, en, te):
    seen: dict[str, str] = {}
    for key, text in te.items():
        for gloss, placed in gloss_uses(text):
            assert placed, f"{area}.{key}: ({gloss}) is not a registered gloss right after its term"
            assert gloss not in seen, f"{area}: ({gloss}) in {seen.get(gloss)} and again in {key}"
            seen[gloss] = key


def test_gloss_check_can_fail():
    assert gloss_uses("కనీస హద్దు (floor)") == [("floor", True)]
    assert gloss_uses("మార్పుకు (update)") == [("update", True)]
    assert gloss_uses("లాస్ (floor)") == [("floor", False)]  # a gloss after the wrong term
    assert gloss_uses("లాస్ (damage)") == [("damage", False)]  # not a registered gloss


def test_latin_words_allows_only_the_small_list():
    assert latin_words("LoRA ర్యాంక్ r, 12.5 GiB, q_proj, fp32, Llama-2-7B, కనీస హద్దు (floor)") == []
    assert latin_words("పూర్తి vs LoRA: zero3 over 4 GPUs, final loss") == ["vs", "over", "final", "loss"]
    assert latin_words("NVIDIA RTX 4090 లో", names=("NVIDIA RTX 4090",)) == []


def test_docs_glossary_is_the_table():
    doc = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    assert markdown_table() in doc, "docs/glossary.md is out of date: paste glossary.markdown_table() into it"


# --- raw option codes get a translated label ---------------------------------------------------------------


def option_groups():
    from lora_core.memory.setup import ATTENTIONS, OPTIMIZERS, PRECISIONS, SHARDINGS

    yield from (("memory", "precision", PRECISIONS), ("memory", "optimizer", OPTIMIZERS))
    yield from (("memory", "attention", ATTENTIONS), ("memory", "sharding", SHARDINGS))
    yield ("model", "bias", ("none", "lora_only", "all"))  # pages/model.py BIASES, PEFT LoraConfig.bias


@pytest.mark.parametrize(("area", "group", "codes"), list(option_groups()), ids=lambda v: str(v)[:20])
def test_every_option_code_has_a_label_in_both_languages(area, group, codes):
    for code in codes:
        for lang in ("en", "te"):
            label = tr(f"{area}.{group}.{code}", lang=lang)
            assert label != f"{area}.{group}.{code}", (lang, code)
            if lang == "te":
                assert re.search(f"[{TELUGU_LETTERS}]", label) and not latin_words(label), (code, label)


# --- strings shown together end their sentences --------------------------------------------------------------


def test_join_sentences():
    assert join_sentences("Stopped because: the step cap was reached", "The floor is low.") == (
        "Stopped because: the step cap was reached. The floor is low."
    )
    assert join_sentences("ఆగిన కారణం: సమయ పరిమితి పూర్తయింది", "", "ఇది రెండో వాక్యం.") == (
        "ఆగిన కారణం: సమయ పరిమితి పూర్తయింది. ఇది రెండో వాక్యం."
    )
    assert join_sentences("Done? ", "Yes!", "Sources:") == "Done? Yes! Sources:"


@pytest.mark.parametrize("lang", ["en", "te"])
def test_the_fit_results_caption_ends_the_stop_reason_with_a_full_stop(app_test, lang):
    from lora_ui import keys as K
    from tests.test_fit_page import wait_done

    query = {K.FIT_ROWS: "12", K.FIT_COLS: "10", K.FIT_K: "3", K.FIT_R: "2", K.FIT_STEPS: "20", "lang": lang}
    at = app_test(page="fit", query=query)
    at.button(key=K.FIT_TRAIN).click().run()
    wait_done(at)
    at.run()
    assert not at.exception, at.exception
    reason = at.session_state[K.FIT_JOB].result.payload["stop_reason"]
    said = tr("fit.stop_reason", lang=lang, reason=tr(f"fit.reason.{reason}", lang=lang))
    (caption,) = [c.value for c in at.caption if said in c.value]
    assert f"{said}. {tr('fit.floor_note', lang=lang)}" in caption, caption


@pytest.mark.parametrize("lang", ["en", "te"])
def test_memory_says_the_sharding_in_words(app_test, lang):
    from lora_ui import keys

    query = {"mem_preset": "qwen2.5-0.5b", "mem_seq": "256", keys.MEM_GPUS: "4", keys.MEM_SHARDING: "zero3"}
    at = app_test(page="memory", query={**query, "lang": lang})
    assert not at.exception, at.exception
    shown = [c.value for c in at.caption]
    label = tr("memory.sharding.zero3", lang=lang)
    assert tr("memory.per_gpu", lang=lang, gpus=4, sharding=label) in shown, shown
    assert not any("zero3" in c for c in shown), shown
