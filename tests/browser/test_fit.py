"""The Fit page trains live in Chromium: Train draws the loss chart, then the results."""

import re

from tests.browser.conftest import no_exception, open_app, wait_for_count


def test_train_draws_the_chart_and_results(page, app_server):
    open_app(page, app_server, "fit", "fit_rows=16&fit_cols=12&fit_k=3&fit_r=2&fit_steps=300")
    assert page.locator("[data-testid='stPlotlyChart']").count() == 0
    page.get_by_role("button", name="Train").click()
    page.wait_for_selector("[data-testid='stPlotlyChart']", timeout=60_000)  # live, then the results
    page.wait_for_selector("[data-testid='stMetric']", timeout=60_000)  # the fit ended: results drawn
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 3  # loss, heatmaps, singular values
    # the heatmaps' matrices go as Plotly's base64 typed arrays (lora_ui/fit_charts.py): plotly.js draws each
    # of the three as an image in its heatmap layer
    wait_for_count(page, ".js-plotly-plot .heatmaplayer image", 3)
    assert no_exception(page)


def test_stop_button_ends_a_long_fit(page, app_server):
    # fit_converge=false: a converging fit would end on its own before the click (issue 12)
    url = "fit_rows=256&fit_cols=256&fit_k=8&fit_r=4&fit_steps=20000&fit_converge=false"
    open_app(page, app_server, "fit", url)
    page.get_by_role("button", name="Train").click()
    # the page's own Stop, not Streamlit's header "Stop" (shown while a script runs)
    stop = page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop", exact=True)
    stop.wait_for(timeout=60_000)
    page.wait_for_selector("[data-testid='stPlotlyChart']", timeout=60_000)
    stop.click()  # the fragment redraws every 0.25 s; the locator re-finds the button if it was replaced
    # either the partial fit's results (stopped by the button: "Stopped because: it was stopped") or, if it
    # was stopped before its first step, the note "Stopped at step 0."
    page.get_by_text(re.compile("it was stopped|Stopped at step")).first.wait_for(timeout=60_000)
    assert stop.count() == 0  # the fit is over: its Stop is gone
    assert no_exception(page)
