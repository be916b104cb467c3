#!/usr/bin/env python
"""A default fit beside busy servers: a fit worker niced from its start against one at the server's priority
for its first second (lora_ui/workers/fit_worker.py INTERACTIVE_S), both timed in the same run.

Two busy Python processes at the server's priority stand in for two replicas answering a class (each uses a
core); a FitRunner with two worker processes runs the Fit page's default fit RUNS times, one after the
other, from submit to the job's end (what the page waits for before it draws the results). "niced" starts
the workers at process.NICE, as every fit worker was started before: the fit's thread inherits it (its own
demotion after INTERACTIVE_S would come later than a default fit ends). "interactive" is the
server's own start_fit_worker.

    python benchmarks/fit_contention.py            # 8 fits each way
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUNS = 8
HOGS = 2  # one per core of the 2-core classroom server


def time_fits(start_worker, runs: int, workers: int = 2) -> list[float]:
    """`runs` default fits one after the other on `workers` ready workers, each from submit to the job's end."""
    from lora_core.fit import FIT, FitSettings, FitTask, TargetSettings
    from lora_ui.workers.fit import FitRunner

    runner = FitRunner(max_running=workers, processes=True, start_worker=start_worker)
    runner.warm()
    while runner.workers < workers or runner.starting:
        time.sleep(0.05)
    out = []
    for _ in range(runs):
        job = runner.submit(FitTask(FIT, FitSettings(), generated=TargetSettings()))
        t0 = time.perf_counter()
        while job.active:
            time.sleep(0.002)
        out.append(time.perf_counter() - t0)
        assert job.state == "done" and job.in_process, (job.state, job.error)
    runner.close()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)

    from lora_ui.workers.fit_worker import serve, start_fit_worker
    from lora_ui.workers.process import NICE, WorkerProcess

    def niced():
        return WorkerProcess(serve, name="lora-lab-fit", nice=NICE)

    load = os.getloadavg()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(HOGS)]
    try:
        rows = {"niced from the start": time_fits(niced, args.runs), "interactive first second": time_fits(start_fit_worker, args.runs)}
    finally:
        for h in hogs:
            h.kill()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average before {load[0]:.2f}, "
          f"{HOGS} busy processes at the server's priority; the Fit page's default fit, submit to end, {args.runs} each:")  # fmt: skip
    for name, ts in rows.items():
        print(f"  {name:26s} p50 {statistics.median(ts):.3f} s, max {max(ts):.3f} s")
    a, b = (statistics.median(v) for v in rows.values())
    print(f"  ratio of the p50s: {a / b:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
