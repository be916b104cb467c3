"""The reverse question: the largest batch, sequence length or rank whose step fits a GPU.

Memory never decreases as batch, sequence or rank grows (tests/test_memory_properties.py), so a doubling
search followed by bisection finds the largest value with device_total_bytes <= capacity in O(log n)
estimates; each estimate is a lookup in the cached fit (trace.py), not a new trace.
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.errors import LoraLabError
from lora_core.memory.estimate import estimate_memory
from lora_core.memory.setup import MAX_BATCH, MAX_SEQ, TrainingSetup
from lora_core.validate import MAX_DIM, choice, positive_int

VARIABLES = ("batch", "seq", "rank")
_LIMITS = {"batch": MAX_BATCH, "seq": MAX_SEQ, "rank": 4096}


@dataclass(frozen=True)
class Solution:
    variable: str
    value: int  # the largest that fits; 0 when even 1 does not fit
    capacity_bytes: int
    used_bytes: int  # device_total_bytes at `value` (at 1 when nothing fits)
    capped: bool  # the search stopped at the variable's maximum: more would fit too


def _total(config, spec, setup, variable: str, value: int) -> int:
    if variable == "rank":
        spec = spec.with_rank(value)  # AdaLoRA: init_r
    else:
        setup = setup.replace(**{variable: value})
    return estimate_memory(config, spec, setup).device_total_bytes


def largest_fitting(config: dict, spec, setup: TrainingSetup, capacity_bytes: int, variable: str) -> Solution:
    variable = choice("variable", variable, VARIABLES)
    capacity_bytes = positive_int("capacity", capacity_bytes, maximum=10**15)
    if variable == "rank" and setup.method == "full":
        raise LoraLabError("rank only applies to lora and qlora")
    if variable == "rank" and spec.rank is None:
        raise LoraLabError(f"{spec.label} has no rank")
    limit = min(_LIMITS[variable], MAX_DIM)

    def fits(v: int) -> tuple[bool, int]:
        used = _total(config, spec, setup, variable, v)
        return used <= capacity_bytes, used

    ok, used = fits(1)
    if not ok:
        return Solution(variable, 0, capacity_bytes, used, False)
    lo, hi = 1, 2
    while hi <= limit:
        ok, used_hi = fits(hi)
        if not ok:
            break
        lo, used = hi, used_hi
        hi *= 2
    else:
        return Solution(variable, lo, capacity_bytes, used, True)
    while hi - lo > 1:  # invariant: lo fits, hi does not
        mid = (lo + hi) // 2
        ok, used_mid = fits(mid)
        if ok:
            lo, used = mid, used_mid
        else:
            hi = mid
    return Solution(variable, lo, capacity_bytes, used, False)
