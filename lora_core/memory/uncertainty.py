"""How far a GPU estimate can be trusted: the band the validation supports, and the margin "fits" uses.

The numbers come from the committed validation data (data/validation_gpu.json, written by
benchmarks/gpu_rows.py from public measured peaks and, when a GPU was at hand, from
benchmarks/measure_memory.py --device cuda): for every compared row, error = (predicted - measured) /
measured of max_memory_reserved. Nothing here is typed in:

- band: the smallest and largest error over those rows ("-6.5 % .. -3.8 %, 2 rows");
- margin: the factor an estimate must be raised by to cover every row's measurement,
  max(measured / predicted) - 1 (0 when nothing was under-predicted);
- verdict for a card: "yes" when the estimate plus the margin fits, "tight" when the estimate fits but not
  with the margin, "no" when the estimate alone does not fit.

tests/test_gpu_rows.py checks that the file is what benchmarks/gpu_rows.py computes with today's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

FILE = "validation_gpu.json"  # in lora_core/memory/data/
VERDICTS = ("yes", "tight", "no")


@dataclass(frozen=True)
class Band:
    low: float  # most negative relative error of max_memory_reserved (fraction; -0.065 = 6.5 % under)
    high: float  # largest relative error
    rows: int  # compared rows it rests on
    margin: float  # fraction an estimate is raised by before "fits" says yes

    def percent(self) -> tuple[float, float, float]:
        return 100 * self.low, 100 * self.high, 100 * self.margin


@cache
def rows() -> tuple[dict, ...]:
    """The committed validation rows (public measurements and our own GPU runs)."""
    data = json.loads(resources.files("lora_core.memory").joinpath("data", FILE).read_text())
    return tuple(data["rows"])


def compared(all_rows=None) -> list[dict]:
    """Rows with a measured and a predicted max_memory_reserved."""
    return [
        r
        for r in (rows() if all_rows is None else all_rows)
        if r.get("status") == "compared" and r.get("metric") == "max_memory_reserved"
    ]


def band_of(rows_: list[dict]) -> Band:
    if not rows_:
        return Band(0.0, 0.0, 0, 0.0)
    errors = [(r["predicted_bytes"] - r["measured_bytes"]) / r["measured_bytes"] for r in rows_]
    need = max(r["measured_bytes"] / r["predicted_bytes"] for r in rows_) - 1
    return Band(min(errors), max(errors), len(rows_), max(0.0, need))


@cache
def gpu_band() -> Band:
    """The band and margin of GPU estimates, from the committed rows."""
    return band_of(compared())


def verdict(total_bytes: int, capacity_bytes: int, margin: float) -> str:
    """yes | tight | no for a card of `capacity_bytes` (see the module docstring)."""
    if total_bytes > capacity_bytes:
        return "no"
    if total_bytes * (1 + margin) > capacity_bytes:
        return "tight"
    return "yes"
