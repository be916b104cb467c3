"""The Memory page in Chromium: opens from a shared link, a changed input reruns without an exception."""

from tests.browser.conftest import no_exception, open_app, wait_for_count, wait_idle


def test_memory_page_changes_a_value(page, app_server):
    open_app(page, app_server, "memory", "mem_preset=qwen2.5-0.5b&mem_seq=256")
    assert no_exception(page)
    page.wait_for_selector("[data-testid='stMetric']", timeout=60_000)
    before = page.locator("[data-testid='stMetricValue']").first.inner_text()
    box = page.get_by_label("Batch size per GPU")
    box.fill("8")
    box.press("Enter")
    wait_idle(page, timeout=60_000)
    page.wait_for_function(
        "(b) => document.querySelector(\"[data-testid='stMetricValue']\").innerText !== b",
        arg=before,
        timeout=60_000,
    )
    assert no_exception(page)
    assert "mem_batch=8" in page.url
    wait_for_count(page, ".js-plotly-plot", 3)  # the charts draw after the metrics
