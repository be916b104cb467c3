"""Process-wide settings the app applies once at start, never per call."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Collection
from functools import cache


@cache
def configure_once() -> None:
    """Torch threads: one per fit, so that the bounded number of concurrent fits shares the cores
    instead of oversubscribing them (2 cores here; see README "Deploying for a classroom").
    LORA_LAB_TORCH_THREADS overrides it."""
    import torch
    import transformers  # noqa: F401  (imported here so its objects are frozen below)

    torch.set_num_threads(max(1, int(os.environ.get("LORA_LAB_TORCH_THREADS", "1"))))
    # torch and transformers leave ~10^6 long-lived objects; every full collection would walk them again.
    # gc.freeze() moves them to the permanent generation (Python docs, gc.freeze), so collections stay cheap.
    gc.collect()
    gc.freeze()


_warm_lock = threading.Lock()
_warm_pages: set[str] = set()
_warm_frozen = False


def freeze_when_warm(page: str, pages: Collection[str]) -> bool:
    """Freeze the heap once, the first time every page has run in this process (app.py calls it after each
    page). Returns True on the run that froze it.

    configure_once() freezes torch and transformers, but a page's first run imports the rest (Streamlit's
    elements, plotly, pandas, the pages' modules, the presets' transformers model classes): ~200,000 more
    long-lived objects that every full collection walks again. Measured in one process (AppTest, every page
    visited once, 2026-11-23): a full collection took 95-126 ms before this second freeze and 2 ms after it.
    Under 30 simulated students (benchmarks/gc_probe; docs/load.md, "Round 4") the server's full collections
    during the load took ~140 ms each before and ~50 ms after; each is a pause for every student's rerun.
    Whatever is alive at that moment (every connected session's state too) is not collected as cycles any
    more; refcounting still frees it. A one-off, bounded cost: one freeze per process."""
    global _warm_frozen
    with _warm_lock:
        if _warm_frozen:
            return False
        _warm_pages.add(page)
        if not _warm_pages.issuperset(pages):
            return False
        _warm_frozen = True
    gc.collect()  # what is garbage now is freed, not frozen
    gc.freeze()
    return True
