#!/usr/bin/env python
"""The first fit in a fresh fit worker, with and without the worker's warm-up fit (lora_ui/workers/fit_worker.py
`warm`), timed in the same run: ROUNDS fresh workers each way, alternating, each then running the Fit page's
default fit twice (submit to the job's end, what the page waits for before it draws the results). It times
fits in ready workers: a Train that has to start a worker itself waits for the start and the warm-up fit too
(the Fit page starts its workers ahead of the presses: lora_ui/workers/fit.py `_free_slots`).

    python benchmarks/fit_first.py            # 6 rounds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_contention import time_fits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)

    from lora_ui.workers import fit_worker
    from lora_ui.workers.process import NICE, WorkerProcess

    def cold():  # the worker as it was started before the warm-up fit
        return WorkerProcess(fit_worker.serve, name="lora-lab-fit", nice=0 if fit_worker.PER_THREAD_NICE else NICE)

    ways = {"cold": cold, "warm": fit_worker.start_fit_worker}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}
    for _ in range(args.rounds):
        for name, start in ways.items():
            first, second = time_fits(start, 2, workers=1)  # a fresh worker's first fit, then its second
            times[name].append((first, second))
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {args.rounds} fresh workers each way, default fit, submit to end (ms):")
    for name, pairs in times.items():
        first = [1000 * a for a, _ in pairs]
        second = [1000 * b for _, b in pairs]
        print(
            f"  {name}: first fit median {statistics.median(first):.0f} (range {min(first):.0f}-{max(first):.0f}),"
            f" second fit median {statistics.median(second):.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
