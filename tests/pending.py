"""AppTest helpers for pages that end their run while an activation trace is pending (pages/memory.py, the
Learn gallery): rerun, as the page's timed fragment makes a browser do, until the figures are in. Bounded."""

from __future__ import annotations

import time

from lora_ui.strings import learn as learn_strings
from lora_ui.strings import memory as memory_strings

MEMORY_PENDING = {memory_strings.EN["tracing"], memory_strings.TE["tracing"]}
LEARN_PENDING = {learn_strings.EN["scenario.computing"], learn_strings.TE["scenario.computing"]}


def pending(at) -> bool:
    memory = any(i.value in MEMORY_PENDING for i in at.info)
    return memory or any(c.value in LEARN_PENDING for c in at.caption)


def until_traced(at, timeout: float = 300, poll: float = 0.25):
    """Rerun `at` until no trace is pending (the traces run in the worker process); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while pending(at):
        assert not at.exception, at.exception
        if time.monotonic() > deadline:
            raise AssertionError(f"traces still pending after {timeout:.0f} s")
        time.sleep(poll)
        at.run()
    return at
