"""Process-wide settings the app applies once at start, never per call."""

from __future__ import annotations

import os
from functools import cache


@cache
def configure_once() -> None:
    """Torch threads: one per fit, so that the bounded number of concurrent fits shares the cores
    instead of oversubscribing them (2 cores here; see README "Deploying for a classroom").
    LORA_LAB_TORCH_THREADS overrides it."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("LORA_LAB_TORCH_THREADS", "1"))))
