"""The Fit page's race panel in AppTest (issue 15 §4): Race trains the chosen variants through the runner,
draws one chart and a table, says what it must in English and Telugu, and refuses PiSSA in matrix mode."""

from __future__ import annotations

import time

import pytest

from lora_core.fit import DEFAULT_VARIANTS, SWEEP_STEPS, VARIANT_NAMES
from lora_ui import keys as K
from lora_ui.i18n import tr
from lora_ui.widgets import markdown_literal

WAIT_S = 120  # a generous bound on a busy machine (a worker imports torch); not a timing assertion
SMALL = {K.FIT_ROWS: "16", K.FIT_COLS: "12", K.FIT_K: "3", K.FIT_R: "2", K.FIT_STEPS: "300"}
REGRESSION = {
    K.FIT_MODE: "regression",
    K.FIT_SAMPLES: "120",
    K.FIT_ROWS: "10",
    K.FIT_COLS: "8",
    K.FIT_STEPS: "80",
}


def wait_done(at, key):
    deadline = time.monotonic() + WAIT_S
    while at.session_state[key].active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not at.session_state[key].active
    at.run()
    assert not at.exception, at.exception


def race(at):
    at.button(key=K.FIT_RACE).click().run()
    assert not at.exception, at.exception
    wait_done(at, K.FIT_RACE_JOB)
    return at.session_state[K.FIT_RACE_JOB]


@pytest.mark.parametrize("lang", ["en", "te"])
def test_the_default_race_draws_its_table_and_says_how_far_vera_is(app_test, lang):
    at = app_test(page="fit", query={"lang": lang})  # every control at its default
    assert at.multiselect(key=K.FIT_RACE_VARIANTS).value == list(DEFAULT_VARIANTS)
    assert at.info and any(i.value == tr("fit.race.no_race", lang=lang) for i in at.info)
    job = race(at)
    result = job.result
    assert job.error is None and [lane.variant for lane in result.lanes] == list(DEFAULT_VARIANTS)
    [table] = [df.value for df in at.dataframe]
    assert list(table[tr("fit.race.col.variant", lang=lang)]) == [VARIANT_NAMES[c] for c in DEFAULT_VARIANTS]
    assert list(table[tr("fit.race.col.steps", lang=lang)]) == [lane.steps for lane in result.lanes]
    vera, lora = result.lane("vera"), result.lane("lora")
    note = tr(
        "fit.race.vera_note",
        lang=lang,
        vera_r=vera.r,
        vera_n=f"{vera.trainable_params:,}",
        lora_n=f"{lora.trainable_params:,}",
        r=lora.r,
        ratio=f"{result.ratio(vera, lora):,.3g}",
    )
    assert any(note in c.value for c in at.caption), [c.value for c in at.caption]
    assert any(c.value == tr("fit.race.no_base", lang=lang) for c in at.caption)  # matrix mode says so


def test_the_race_is_bound_to_the_url(app_test):
    # the variants by name, repeated: ?fit_race=LoRA&fit_race=VeRA
    query = SMALL | {K.FIT_RACE_VARIANTS: ["LoRA", "VeRA"], K.FIT_RACE_LR_RATIO: "4", K.FIT_RACE_VERA_R: "8"}
    at = app_test(page="fit", query=query)
    assert at.multiselect(key=K.FIT_RACE_VARIANTS).value == ["lora", "vera"]
    assert at.number_input(key=K.FIT_RACE_LR_RATIO).value == 4.0
    assert at.number_input(key=K.FIT_RACE_VERA_R).value == 8
    result = race(at).result
    assert [(lane.variant, lane.r) for lane in result.lanes] == [("lora", 2), ("vera", 8)]
    assert result.r == 2


def test_pissa_in_matrix_mode_is_refused_in_the_visitors_language_and_races_in_regression_mode(app_test):
    at = app_test(page="fit", query=SMALL | {"lang": "te"})
    at.multiselect(key=K.FIT_RACE_VARIANTS).set_value(["lora", "pissa"]).run()
    at.button(key=K.FIT_RACE).click().run()
    assert not at.exception, at.exception
    expected = markdown_literal(tr("errors.fit.race.needs_base", lang="te", names="PiSSA"))  # as show_error writes it
    assert any(expected in e.value for e in at.error), [e.value for e in at.error]
    assert K.FIT_RACE_JOB not in at.session_state  # nothing was submitted
    at.multiselect(key=K.FIT_RACE_VARIANTS).set_value([]).run()
    at.button(key=K.FIT_RACE).click().run()
    assert any(markdown_literal(tr("errors.fit.race.none", lang="te")) in e.value for e in at.error)
    # the same session in regression mode races PiSSA and OLoRA against LoRA
    for key, value in REGRESSION.items():
        if key == K.FIT_MODE:
            at.radio(key=key).set_value(value).run()
        else:
            at.number_input(key=key).set_value(int(value)).run()
    at.multiselect(key=K.FIT_RACE_VARIANTS).set_value(["lora", "pissa", "olora"]).run()
    result = race(at).result
    assert not at.error, [e.value for e in at.error]
    assert result.mode == "regression" and [lane.variant for lane in result.lanes] == [
        "lora",
        "pissa",
        "olora",
    ]
    assert any(tr("fit.race.base_note", lang="te") in c.value for c in at.caption)


def test_race_by_rank_runs_through_the_runner_and_draws_its_chart(app_test):
    at = app_test(page="fit", query=SMALL)
    at.multiselect(key=K.FIT_RACE_VARIANTS).set_value(["lora", "rslora"]).run()
    at.button(key=K.FIT_RACE_SWEEP).click().run()
    assert not at.exception, at.exception
    wait_done(at, K.FIT_RACE_SWEEP_JOB)
    points = at.session_state[K.FIT_RACE_SWEEP_JOB].result
    assert [(p.variant, p.r) for p in points] == [
        (v, r) for r in (1, 2, 4, 8, 16, 32, 64, 128, 256) for v in ("lora", "rslora")
    ]
    assert any(c.value == tr("fit.race.sweep.caption", steps=SWEEP_STEPS) for c in at.caption)
