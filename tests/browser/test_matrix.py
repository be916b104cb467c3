"""Matrix page in Chromium: the rank slider moves the numbers and the sidebar link; a deep link on a fresh server
is routed."""

from tests.browser.conftest import no_exception, open_app, streamlit_server, wait_idle


def metric_value(page, label: str) -> str:
    metric = page.locator("[data-testid='stMetric']").filter(has_text=label).first
    return metric.locator("[data-testid='stMetricValue']").inner_text().strip()


def test_rank_slider_changes_numbers(page, app_server):
    open_app(page, app_server, "matrix")
    assert metric_value(page, "LoRA trains") == "160,000"
    slider = page.locator("[data-testid='stSlider']").filter(has_text="rank r").get_by_role("slider")
    slider.focus()
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    wait_idle(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMetricValue]')].some(e => e.innerText.trim() === '320,000')"
    )
    assert metric_value(page, "LoRA trains") == f"{(10_000 + 10_000) * 16:,}"
    assert "r=16" in page.url
    # The slider lives in an st.fragment: its rerun must still refresh the sidebar's link to this view.
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stSidebar] [data-testid=stCode]')]"
        ".some(e => e.innerText.includes('r=16'))"
    )
    assert page.locator("[data-testid='stSidebar'] [data-testid='stCode']").count() == 1
    assert page.locator(".js-plotly-plot").count() == 2
    assert no_exception(page)


def test_first_visit_to_a_deep_link_goes_through_the_router(browser):
    """A fresh server whose first visitor opens /matrix?r=32 still shows app.py's navigation and language switch."""
    with streamlit_server() as base:
        page = browser.new_page()
        open_app(page, base, "matrix", "r=32")
        page.get_by_text("LoRA trains").first.wait_for()
        assert metric_value(page, "LoRA trains") == f"{(10_000 + 10_000) * 32:,}"
        assert (
            page.locator("[data-testid='stSidebarNav']").get_by_text("Memory", exact=True).count() == 1
        )  # v1 mode would list "memory"
        assert page.get_by_text("తెలుగు").count() == 1
        assert no_exception(page)
        page.close()
