"""Every page opens in Chromium without an exception."""

import pytest

from tests.browser.conftest import no_exception, open_app

PAGES = ["", "matrix", "model", "memory", "fit"]  # Learn is the default page, served at /


@pytest.mark.parametrize("path", PAGES)
def test_page_opens(page, app_server, path):
    open_app(page, app_server, path)
    assert no_exception(page)
    assert page.locator("h1").count() >= 1
