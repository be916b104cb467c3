"""The race in Chromium (issue 15 §4), in English and Telugu: Race draws one log chart with a curve per variant
and the floor, and a table; in Telugu the page shows no Latin word outside the glossary's short list."""

from __future__ import annotations

import pytest

from lora_core.fit import DEFAULT_VARIANTS, VARIANT_NAMES
from lora_ui.i18n import tr
from tests.browser.conftest import no_exception, open_app, wait_for_count, wait_idle
from tests.browser.test_telugu_pages import latin_on_page

SMALL = "fit_rows=16&fit_cols=12&fit_k=3&fit_r=2&fit_steps=300"
LEGEND_JS = "() => [...document.querySelectorAll('.legendtext')].map(e => e.textContent)"


@pytest.mark.parametrize("lang", ["en", "te"])
def test_race_draws_every_variant_against_the_floor(page, app_server, lang):
    open_app(page, app_server, "fit", f"lang={lang}&{SMALL}")
    assert page.locator("[data-testid='stPlotlyChart']").count() == 0  # nothing trained yet
    page.get_by_role("button", name=tr("fit.race.button", lang=lang), exact=True).click()
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=120_000)  # the race ended: its table
    wait_for_count(page, ".js-plotly-plot", 1)
    wait_idle(page)
    legend = page.evaluate(LEGEND_JS)
    for code in DEFAULT_VARIANTS:  # one curve per variant, named as the papers name them
        assert VARIANT_NAMES[code] in legend, legend
    assert tr("fit.race.chart.floor", lang=lang, r=2) in legend  # the floor, as a line of its own
    # one chart, its loss axis on a log scale (Plotly keeps the layout on the plot's element)
    assert page.evaluate("() => document.querySelector('.js-plotly-plot').layout.yaxis.type") == "log"
    assert no_exception(page)
    if lang == "te":
        assert not latin_on_page(page)


def test_a_long_race_is_live_and_stop_ends_every_variant(page, app_server):
    # fit_converge=false: the variants would otherwise stop on their own before the click
    url = "fit_rows=256&fit_cols=256&fit_k=8&fit_r=4&fit_steps=20000&fit_converge=false"
    open_app(page, app_server, "fit", url)
    page.get_by_role("button", name=tr("fit.race.button", lang="en"), exact=True).click()
    stop = page.get_by_role("button", name=tr("fit.race.stop", lang="en"), exact=True)
    stop.wait_for(timeout=60_000)
    page.wait_for_selector("[data-testid='stPlotlyChart']", timeout=60_000)  # the live chart, every variant
    stop.click()
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=60_000)  # the partial race's table
    wait_idle(page)
    legend = page.evaluate(LEGEND_JS)
    assert all(VARIANT_NAMES[code] in legend for code in DEFAULT_VARIANTS), legend
    # every variant's row says it was stopped (the table's cells are in the page's accessible grid)
    stopped = tr("fit.reason.cancelled", lang="en")
    assert page.get_by_text(stopped, exact=True).count() == len(DEFAULT_VARIANTS)
    assert no_exception(page)
