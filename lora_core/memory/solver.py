"""The reverse question: the largest batch, sequence length or rank whose step fits a GPU, with a margin.

A value fits when the card's total (series.card_total: device_total_bytes with its cuBLAS workspaces) raised by
the margin (uncertainty.gpu_band: what the GPU validation needs to cover every measurement) is at most the
card's capacity: the same rule as the fits table's "yes". Memory never decreases as batch, sequence or rank
grows (tests/test_memory_properties.py), so a doubling search followed by bisection finds the largest such
value in O(log n) estimates. The search runs on the fast path (live peak, reserved by rounding: milliseconds
each), then the answer is checked with the caching-allocator replay and, where the replay needs more than the
fast path thought, the search continues below it on replays.
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.errors import LoraLabError
from lora_core.memory.estimate import estimate_memory
from lora_core.memory.setup import MAX_BATCH, MAX_SEQ, TrainingSetup
from lora_core.spec import MAX_OFFERED_RANK
from lora_core.validate import MAX_DIM, choice, positive_int

VARIABLES = ("batch", "seq", "rank")
_LIMITS = {"batch": MAX_BATCH, "seq": MAX_SEQ, "rank": MAX_OFFERED_RANK}  # the search stops there: `capped`


@dataclass(frozen=True)
class SolverQuestion:
    """What the solver is asked: the largest `variable` (one of VARIABLES) whose step fits on the card named
    `gpu` (a name in gpus.GPUS)."""

    gpu: str
    variable: str


@dataclass(frozen=True)
class Solution:
    variable: str
    value: int  # the largest that fits; 0 when even 1 does not fit
    capacity_bytes: int
    used_bytes: int  # the card's total at `value` (at 1 when nothing fits), before the margin
    capped: bool  # the search stopped at the variable's maximum: more would fit too
    margin: float = 0.0  # the margin the answer keeps (a fraction)


def _total(config, spec, setup, variable: str, value: int, gpu, replay: bool, replayer=None) -> int:
    from lora_core.memory.series import card_total

    if variable == "rank":
        spec = spec.with_rank(value)  # AdaLoRA: init_r
    else:
        setup = setup.replace(**{variable: value})
    e = estimate_memory(config, spec, setup, replay=replay, replayer=replayer)
    return card_total(e, gpu) if gpu is not None else e.device_total_bytes


def _search(fits, lo: int, hi: int) -> int:
    """The largest v in [lo, hi) with fits(v), given fits(lo) and not fits(hi)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def largest_fitting(
    config: dict, spec, setup: TrainingSetup, capacity_bytes: int, variable: str, *, gpu=None,
    margin: float | None = None, replayer=None,
) -> Solution:  # fmt: skip
    """The largest `variable` whose total, raised by `margin` (default: the GPU validation's), fits
    `capacity_bytes` (`gpu`: a gpus.Gpu, for its capacity and cuBLAS workspace size). replayer: what runs
    the caching-allocator replays it needs (estimate_memory's)."""
    from lora_core.memory.uncertainty import gpu_band

    variable = choice("variable", variable, VARIABLES)
    if gpu is not None:
        capacity_bytes = gpu.bytes
    capacity_bytes = positive_int("capacity", capacity_bytes, maximum=10**15)
    if variable == "rank" and setup.method == "full":
        raise LoraLabError("memory.rank_method")
    if variable == "rank" and spec.rank is None:
        raise LoraLabError("memory.no_rank", label=spec.label)
    m = gpu_band().margin if margin is None else margin
    if m < 0:
        raise LoraLabError("memory.margin_negative", margin=m)
    limit = min(_LIMITS[variable], MAX_DIM)
    used: dict[tuple[int, bool], int] = {}

    def total(v: int, replay: bool) -> int:
        if (v, replay) not in used:
            used[v, replay] = _total(config, spec, setup, variable, v, gpu, replay, replayer)
        return used[v, replay]

    def fits(v: int, replay: bool = False) -> bool:
        return total(v, replay) * (1 + m) <= capacity_bytes

    if not fits(1) and not fits(1, replay=True):
        return Solution(variable, 0, capacity_bytes, total(1, True), False, m)
    # fast path: doubling, then bisection
    lo, hi = 1, 2
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    capped = hi > limit
    if not capped:
        lo = _search(fits, lo, hi)
    # the replay has the last word: below the fast answer while the replay says it does not fit
    if not fits(lo, replay=True):
        top = lo
        step, low = 1, lo
        while low > 1 and not fits(low, replay=True):
            top, low = low, max(1, lo - step)
            step *= 2
        lo = _search(lambda v: fits(v, replay=True), low, top) if fits(low, replay=True) else low
        capped = False
    return Solution(variable, lo, capacity_bytes, total(lo, True), capped, m)
