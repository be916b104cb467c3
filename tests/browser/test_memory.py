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


def test_a_new_model_shows_the_tracing_note_then_the_estimate_by_itself(page, app_server):
    """A combination no other test traced: the page answers at once with the note, its timed fragment
    reruns the page when the worker's traces are in, and then nothing polls any more."""
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    open_app(
        page,
        app_server,
        "memory",
        "mem_preset=qwen2.5-0.5b&mem_targets=gate_proj&mem_attention=eager&mem_seq=64",
    )
    assert no_exception(page)
    # Either the note is up (the usual case) or the traces were already in; the estimate must come by itself.
    page.wait_for_selector("[data-testid='stMetric']", timeout=120_000)
    wait_for_count(page, ".js-plotly-plot", 3)
    assert page.get_by_text("Tracing this model's activations").count() == 0
    wait_idle(page)
    page.wait_for_timeout(1_000)
    before = len(sent)
    page.wait_for_timeout(3_000)
    assert len(sent) - before <= 1, "the ready page still reruns on a timer"  # the poller ran every 0.75 s
    assert no_exception(page)


def test_an_adapter_type_from_a_link_in_telugu(page, app_server):
    """?mem_adapter=vera: the page estimates VeRA, says what it trains, shows VeRA's PEFT config, and in
    Telugu leaves no English outside the glossary's short list (tests/browser/test_telugu_pages.py)."""
    from lora_ui.i18n import tr
    from tests.browser.test_telugu_pages import latin_on_page

    open_app(page, app_server, "memory", "lang=te&mem_preset=qwen2.5-0.5b&mem_seq=256&mem_adapter=vera")
    page.wait_for_selector("[data-testid='stMetric']", timeout=120_000)
    wait_for_count(page, ".js-plotly-plot", 3)
    wait_idle(page)
    assert no_exception(page)
    page.get_by_text(tr("family.trains.vera", lang="te")).wait_for()
    assert "VeraConfig(" in page.locator("[data-testid='stCode']").last.inner_text()
    assert not latin_on_page(page)
