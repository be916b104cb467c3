"""The Fit page in AppTest: it trains a few steps, draws results, and keeps working after bad input."""

from __future__ import annotations

import time

from lora_ui import keys as K

WAIT_S = 60  # a generous bound for a few tiny steps on a busy machine; not a timing assertion


def wait_done(at, key=K.FIT_JOB):
    deadline = time.monotonic() + WAIT_S
    while at.session_state[key].active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not at.session_state[key].active


def test_page_trains_a_few_steps_and_shows_results(app_test):
    at = app_test(
        page="fit",
        query={K.FIT_ROWS: "12", K.FIT_COLS: "10", K.FIT_K: "3", K.FIT_R: "2", K.FIT_STEPS: "30"},
    )
    assert not at.exception, at.exception
    assert at.number_input(key=K.FIT_ROWS).value == 12
    at.button(key=K.FIT_TRAIN).click().run()
    assert not at.exception, at.exception
    wait_done(at)
    at.run()
    assert not at.exception, at.exception
    job = at.session_state[K.FIT_JOB]
    assert job.result is not None and job.error is None
    assert len(job.losses) == 30 + 1  # the loss before each of the 30 steps, and after the last
    assert job.result.payload["steps"] == 30
    assert len(at.metric) >= 5
    # the rank sweep runs through the same runner and draws its chart
    at.button(key=K.FIT_SWEEP).click().run()
    wait_done(at, K.FIT_SWEEP_JOB)
    at.run()
    assert not at.exception, at.exception
    assert len(at.session_state[K.FIT_SWEEP_JOB].result) >= 1


def test_regression_mode_trains(app_test):
    at = app_test(
        page="fit",
        query={
            K.FIT_MODE: "regression",
            K.FIT_SAMPLES: "60",
            K.FIT_ROWS: "8",
            K.FIT_COLS: "6",
            K.FIT_STEPS: "20",
        },
    )
    at.button(key=K.FIT_TRAIN).click().run()
    wait_done(at)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state[K.FIT_JOB].result.payload["mode"] == "regression"


def test_bad_regression_sizes_show_an_error_and_the_page_keeps_working(app_test):
    at = app_test(
        page="fit",
        query={K.FIT_MODE: "regression", K.FIT_SAMPLES: "5", K.FIT_ROWS: "50", K.FIT_STEPS: "20"},
    )
    at.button(key=K.FIT_TRAIN).click().run()
    assert not at.exception, at.exception
    assert any("samples" in e.value for e in at.error)
    assert K.FIT_JOB not in at.session_state  # nothing was submitted
    # the same session, given sizes that fit (samples >= d_in), trains
    at.number_input(key=K.FIT_SAMPLES).set_value(60)
    at.number_input(key=K.FIT_ROWS).set_value(8)
    at.button(key=K.FIT_TRAIN).click().run()
    wait_done(at)
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert at.session_state[K.FIT_JOB].result.payload["mode"] == "regression"


def test_fit_strings_have_english_and_telugu():
    from lora_ui.strings import fit

    assert set(fit.EN) == set(fit.TE)
    assert all(v.strip() for v in (*fit.EN.values(), *fit.TE.values()))
    # real Telugu: every Telugu string but the pure symbols holds Telugu letters (U+0C00..U+0C7F)
    symbolic = {"r", "sigma.y", "sigma.rank"}
    for key, text in fit.TE.items():
        if key not in symbolic and text != "LoRA rank r":
            assert any("\u0c00" <= ch <= "\u0c7f" for ch in text), key


def test_default_fit_stops_by_convergence_and_says_so_in_both_languages(app_test):
    from lora_core.fit import FLOOR_TOLERANCE
    from lora_ui.i18n import tr

    for lang in ("en", "te"):
        at = app_test(page="fit", query={"lang": lang})  # every control at its default
        at.button(key=K.FIT_TRAIN).click().run()
        wait_done(at)
        at.run()
        assert not at.exception, at.exception
        payload = at.session_state[K.FIT_JOB].result.payload
        assert payload["stop_reason"] == "floor" and payload["steps"] < at.number_input(key=K.FIT_STEPS).value
        reason = tr("fit.reason.floor", lang=lang, tolerance=f"{100 * FLOOR_TOLERANCE:g} %")
        assert any(reason in c.value for c in at.caption), [c.value for c in at.caption]


def test_converge_box_off_trains_to_the_step_cap(app_test):
    at = app_test(page="fit", query={K.FIT_STEPS: "300", K.FIT_CONVERGE: "false"})
    assert at.checkbox(key=K.FIT_CONVERGE).value is False
    at.button(key=K.FIT_TRAIN).click().run()
    wait_done(at)
    at.run()
    assert not at.exception, at.exception
    payload = at.session_state[K.FIT_JOB].result.payload
    assert payload["stop_reason"] == "steps" and payload["steps"] == 300


def test_the_inputs_maxima_are_the_cores_limits_or_the_pages_own_named_ones(app_test):
    """Each limit once (issue 13): the Fit page's and its race panel's maxima are lora_core.fit's, except
    noise and learning rate, which the page narrows on purpose (pages/fit.py PAGE_MAX_NOISE, PAGE_MAX_LR)."""
    from lora_core import fit

    at = app_test(page="fit", query={})
    assert not at.exception, at.exception
    maxima = {
        k: at.number_input(key=k).max
        for k in (K.FIT_ROWS, K.FIT_COLS, K.FIT_K, K.FIT_R, K.FIT_ALPHA, K.FIT_STEPS, K.FIT_LR, K.FIT_SEED)
    }
    maxima |= {k: at.number_input(key=k).max for k in (K.FIT_RACE_LR_RATIO, K.FIT_RACE_VERA_R)}
    assert maxima == {
        K.FIT_ROWS: fit.MAX_SIDE,
        K.FIT_COLS: fit.MAX_SIDE,
        K.FIT_K: fit.MAX_SIDE,
        K.FIT_R: fit.MAX_RANK,
        K.FIT_ALPHA: fit.MAX_FIT_ALPHA,
        K.FIT_STEPS: fit.MAX_STEPS,
        K.FIT_LR: 1.0,  # PAGE_MAX_LR: past it the default fit stops converging (lora_core/fit/settings.py MAX_LR)
        K.FIT_SEED: fit.MAX_SEED,
        K.FIT_RACE_LR_RATIO: fit.MAX_LR_RATIO,
        K.FIT_RACE_VERA_R: fit.MAX_RANK,
    }
    assert fit.MAX_LR > 1.0  # the page's narrower range is narrower
    noise = [s for s in at.slider if s.key == K.FIT_NOISE] + [n for n in at.number_input if n.key == K.FIT_NOISE]
    assert [w.max for w in noise] == [10.0] and fit.MAX_NOISE > 10.0  # PAGE_MAX_NOISE
