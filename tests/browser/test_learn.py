"""Learn page and shared links in Chromium: the page, a scenario click, a link restoring a non-default rank."""

from __future__ import annotations

from tests.browser.conftest import no_exception, open_app, wait_for_metrics, wait_idle


def test_learn_page_shows_the_live_example(page, app_server):
    open_app(page, app_server, "")
    assert no_exception(page)
    expected = [f"{10_000 * 10_000:,}", f"{(10_000 + 10_000) * 8:,}", "0.16 %"]
    wait_for_metrics(page, expected, first=True)  # a cold server may still be drawing the page
    # st.latex rendered by KaTeX: Chromium loads KaTeX lazily, so the formulas may come after the metrics
    page.locator(".katex").nth(2).wait_for(timeout=30_000)
    assert page.locator("[data-testid='stDownloadButton']").count() == 1  # CSV of the worked example


def test_learn_rank_from_the_url(page, app_server):
    open_app(page, app_server, "", "learn_r=16")
    wait_for_metrics(page, [f"{10_000 * 10_000:,}", f"{(10_000 + 10_000) * 16:,}"], first=True)


def test_shared_link_restores_a_non_default_rank(page, app_server):
    open_app(page, app_server, "matrix", "r=32")
    assert no_exception(page)
    wait_for_metrics(page, [f"{(10_000 + 10_000) * 32:,}"])
    slider = page.locator("[data-testid='stSlider']").filter(has_text="r").last
    assert "32" in slider.inner_text()
    assert "r=32" in page.url


def test_scenario_link_opens_its_page_preloaded(page, app_server):
    open_app(page, app_server, "")
    page.locator("[data-testid='stPageLink'] a[href*='matrix?d=10000']").last.click()
    page.wait_for_url("**/matrix*")
    wait_idle(page)
    assert no_exception(page)
    wait_for_metrics(page, [f"{(10_000 + 10_000) * 8:,}"])


def test_try_it_link_carries_the_learn_rank_to_matrix(page, app_server):
    open_app(page, app_server, "", "learn_r=16")
    wait_for_metrics(page, [f"{10_000 * 10_000:,}", f"{(10_000 + 10_000) * 16:,}"], first=True)
    page.locator("[data-testid='stPageLink'] a[href*='matrix?d=10000'][href*='r=16']").first.click()
    page.wait_for_url("**/matrix?*r=16*")
    wait_idle(page)
    wait_for_metrics(page, [f"{(10_000 + 10_000) * 16:,}"])


def test_copy_link_box_shows_this_view(page, app_server):
    open_app(page, app_server, "matrix", "r=32")
    box = page.locator("[data-testid='stSidebar'] [data-testid='stCode']")
    box.wait_for()
    text = box.inner_text()
    assert "/matrix?" in text and "r=32" in text


def test_moving_the_example_rank_updates_its_links_without_a_full_rerun(page, app_server):
    """The worked example is an st.fragment: its rerun must redraw the onward links further down the page
    and the sidebar link (both outside the fragment), with no exception (Streamlit 1.67 refuses a fragment
    rerun that writes outside itself where its full run did not)."""
    open_app(page, app_server, "")
    wait_for_metrics(page, [f"{10_000 * 10_000:,}", f"{(10_000 + 10_000) * 8:,}"], first=True)
    slider = page.locator("[data-testid='stSlider']").first.get_by_role("slider")
    slider.focus()
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    wait_idle(page)
    wait_for_metrics(page, [f"{10_000 * 10_000:,}", f"{(10_000 + 10_000) * 16:,}"], first=True)
    page.locator("[data-testid='stPageLink'] a[href*='matrix?d=10000'][href*='r=16']").first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stSidebar] [data-testid=stCode]')]"
        ".some(e => e.innerText.includes('learn_r=16'))"
    )
    assert no_exception(page)
