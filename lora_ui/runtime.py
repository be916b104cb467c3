"""Process-wide settings the app applies once at start, never per call."""

from __future__ import annotations

import os
from functools import cache


@cache
def configure_once() -> None:
    """Torch threads: one per fit, so that the bounded number of concurrent fits shares the cores
    instead of oversubscribing them (2 cores here; see README "Deploying for a classroom").
    LORA_LAB_TORCH_THREADS overrides it."""
    import gc

    import torch
    import transformers  # noqa: F401  (imported here so its objects are frozen below)

    torch.set_num_threads(max(1, int(os.environ.get("LORA_LAB_TORCH_THREADS", "1"))))
    # torch and transformers leave ~10^6 long-lived objects; every full collection would walk them again.
    # gc.freeze() moves them to the permanent generation (Python docs, gc.freeze), so collections stay cheap.
    gc.collect()
    gc.freeze()
    # Memory-page traces run in a worker process (lora_ui/trace_pool.py); LORA_LAB_TRACE_WORKER=0 keeps them here.
    if os.environ.get("LORA_LAB_TRACE_WORKER", "1") != "0":
        from lora_core.memory import trace
        from lora_ui.trace_pool import IdlePool, prewarm

        trace.trace_in(IdlePool())
        prewarm()  # the default Memory view and the Learn gallery, traced in the background (niced worker)
