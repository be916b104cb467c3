"""One AppTest per page, starting from app.py as a visitor does: no exception."""

import pytest

from tests.conftest import page_names

PAGES = page_names()


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_without_exception(app_test, page):
    at = app_test(page=page)
    assert not at.exception, at.exception
