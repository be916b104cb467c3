"""Boundary checks shared by the CLI, the config parser and the pages.

Each returns the cleaned value or raises `LoraLabError` naming the field, the value and the allowed range.
"""

from __future__ import annotations

import math
from typing import Any

from lora_core.errors import LoraLabError

# Sane maxima for a shared server (issue 6): 10^6 per dimension, and per rank (a rank r of a d x k layer
# buys nothing past min(d, k), but PEFT accepts any r, and so do the CLI and LoraSpec).
MAX_DIM = 1_000_000
# lora_alpha (and alpha_pattern values): PEFT accepts any number; scaling alpha / r only multiplies B·A·x, so
# the counts and the memory do not depend on it. 10^9 keeps a typo from reaching the arithmetic as inf.
MAX_ALPHA = 10**9
# Layers: 1,024. The deepest published configs have ~126 layers (Llama-3.1-405B); building a 10^4-layer model on
# the meta device took ~54 s of a shared server's CPU (our measurement, GPT-2 form), 1,024 takes a few seconds.
MAX_LAYERS = 1_024


def positive_int(name: str, value: Any, *, maximum: int = MAX_DIM, minimum: int = 1) -> int:
    """An integer in [minimum, maximum]; bools, floats with a fraction, NaN and strings are refused."""
    if isinstance(value, bool):
        raise LoraLabError("value.not_integer", name=name, value=value)
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise LoraLabError("value.not_integer", name=name, value=value)
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise LoraLabError("value.not_integer", name=name, value=value) from None
    if not isinstance(value, int):
        raise LoraLabError("value.not_integer_type", name=name, type=type(value).__name__)
    if value < minimum or value > maximum:
        raise LoraLabError("value.int_range", name=name, minimum=minimum, maximum=maximum, value=value)
    return value


def positive_float(name: str, value: Any, *, maximum: float = math.inf, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0 with allow_zero), at most `maximum`."""
    if isinstance(value, bool):
        raise LoraLabError("value.not_number", name=name, value=value)
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise LoraLabError("value.not_number", name=name, value=value) from None
    if not math.isfinite(out):
        raise LoraLabError("value.not_finite", name=name, value=value)
    if out < 0 or (out == 0 and not allow_zero):
        if allow_zero:
            raise LoraLabError("value.negative", name=name, value=value)
        raise LoraLabError("value.not_positive", name=name, value=value)
    if out > maximum:
        raise LoraLabError("value.too_large", name=name, maximum=maximum, value=value)
    return out


def choice(name: str, value: Any, allowed: tuple[str, ...] | list[str]) -> str:
    """One of `allowed`, compared exactly."""
    if value not in allowed:
        raise LoraLabError("value.choice", name=name, allowed=tuple(allowed), value=value)
    return value
