"""lora_ui/runtime.py: the heap is frozen once more when every page has run (freeze_when_warm)."""

from __future__ import annotations

import gc
import weakref

import pytest

from lora_ui import runtime


class _Node:
    self: _Node | None = None


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(runtime, "_warm_pages", set())
    monkeypatch.setattr(runtime, "_warm_frozen", False)
    yield
    gc.unfreeze()  # give this test process its collector back (objects frozen here would never be freed)


def test_the_heap_is_frozen_once_when_every_page_has_run(fresh):
    gc.unfreeze()
    pages = ["", "matrix", "fit"]
    assert not runtime.freeze_when_warm("", pages)
    assert not runtime.freeze_when_warm("matrix", pages)
    assert gc.get_freeze_count() == 0  # not yet: "fit" has not run
    node = _Node()
    node.self = node  # a cycle: only the collector frees it
    alive = weakref.ref(node)
    del node
    assert runtime.freeze_when_warm("fit", pages)
    assert gc.get_freeze_count() > 0
    assert alive() is None  # garbage at the moment of freezing was collected, not frozen
    assert not runtime.freeze_when_warm("fit", pages)  # once per process
    assert not runtime.freeze_when_warm("", pages)
