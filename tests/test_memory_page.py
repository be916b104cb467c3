"""The Memory page through AppTest: it renders, and changing widgets changes what it shows."""

import pytest

QUERY = {"mem_preset": "qwen2.5-0.5b", "mem_seq": "256"}


def metric_values(at):
    return {m.label: m.value for m in at.metric}


def test_page_renders_and_reacts(app_test):
    at = app_test(page="memory", query=QUERY)
    assert not at.exception, at.exception
    assert at.metric, "no metrics shown"
    before = metric_values(at)
    at.number_input(key="mem_batch").set_value(4).run()
    assert not at.exception, at.exception
    after = metric_values(at)
    assert after != before  # a bigger batch needs more memory

    at.radio(key="mem_method").set_value("full").run()
    assert not at.exception, at.exception
    assert metric_values(at) != after


def test_bad_targets_show_an_error_not_an_exception(app_test):
    at = app_test(page="memory", query=QUERY)
    at.text_input(key="mem_targets").set_value("no_such_module").run()
    assert not at.exception, at.exception
    assert at.error, "expected a user-facing error"


@pytest.mark.parametrize("variable", ["batch", "seq", "rank"])
def test_solver(app_test, variable):
    at = app_test(page="memory", query={**QUERY, "mem_solve_var": variable})
    assert not at.exception, at.exception
    assert at.success or at.warning


def test_telugu(app_test):
    at = app_test(page="memory", query=QUERY)
    at.radio(key="lang").set_value("te").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "మెమరీ"
