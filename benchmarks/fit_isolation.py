"""Fit isolation: how much do two running fits slow a calculator call, in threads vs in worker processes?

    python benchmarks/fit_isolation.py             # default fits (64 x 48, r=4), 300 calls per phase
    python benchmarks/fit_isolation.py --quick     # tiny: checks the script runs (not a timing)

One process plays the Streamlit server. A "rerun" stand-in is a calculator call the pages make on every
rerun: lora_core.params.count_params for Llama-2-7B with LoRA on q_proj, v_proj (pure Python over the
cached module inventory), plus a small torch matmul, as a page's script does both. We time it repeatedly in
three phases, in one run:

1. baseline: no fit running;
2. threads: two fits running in threads of this process (the old FitRunner, processes=False);
3. processes: two fits running in worker processes (the app's FitRunner, processes=True).

and print p50 and p95 per call and their ratios to the baseline. Fits restart as soon as they end, so two
are always running while a phase is measured. Timings depend on the machine's other load: run it twice.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rerun_standin():
    import torch

    from lora_core.params import count_params
    from lora_core.presets import load_preset
    from lora_core.spec import LoraSpec

    config = load_preset("llama-2-7b")
    spec = LoraSpec(r=8, target_modules=("q_proj", "v_proj"))
    x = torch.randn(64, 64)

    def call() -> None:
        count_params(config, spec)
        (x @ x).sum().item()  # (64, 64): a page's small torch work

    call()  # warm the inventory cache, as a running server has
    return call


def measure(call, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
        time.sleep(0.002)  # reruns do not come back to back: let the fits have the CPU in between
    return out


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]


def with_fits(runner, task, call, calls: int) -> tuple[list[float], float]:
    """Time `calls` calls while two fits run (each restarted when it ends); also the fits' steps/s."""
    jobs = [runner.submit(task, total_steps=task.total_steps) for _ in range(2)]
    deadline = time.monotonic() + 300
    while not all(len(j.losses) > 1 for j in jobs):  # both are training (workers started, floor done)
        assert time.monotonic() < deadline, "the fits did not start"
        time.sleep(0.05)
    steps0, t0 = sum(len(j.losses) for j in jobs), time.perf_counter()
    times, done_steps = [], 0
    for _ in range(calls):
        times.extend(measure(call, 1))
        for i, j in enumerate(jobs):
            if not j.active:  # keep two fits running
                done_steps += len(j.losses)
                jobs[i] = runner.submit(task, total_steps=task.total_steps)
    rate = (done_steps + sum(len(j.losses) for j in jobs) - steps0) / (time.perf_counter() - t0)
    for j in jobs:
        j.cancel()
    while any(j.active for j in jobs):
        time.sleep(0.05)
    return times, rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    import torch

    from lora_core.fit import FIT, MAX_STEPS, FitSettings, FitTask, TargetSettings
    from lora_ui.workers.fit import FitRunner

    torch.set_num_threads(1)  # as the app does (lora_ui.runtime.configure_once)
    sys.setswitchinterval(0.0005)  # as the app's runner does (lora_ui.workers.fit.SWITCH_INTERVAL_S)
    calls = 20 if args.quick else args.calls
    side = (12, 10, 3) if args.quick else (64, 48, 8)  # the page's default fit
    task = FitTask(FIT, FitSettings(steps=MAX_STEPS), generated=TargetSettings(*side, "geometric", 0.05))
    call = rerun_standin()

    rows = [("no fits (baseline)", measure(call, calls), None)]
    threads = FitRunner(2, processes=False)
    rows.append(("2 fits in threads", *with_fits(threads, task, call, calls)))
    procs = FitRunner(2, processes=True)
    try:
        rows.append(("2 fits in worker processes", *with_fits(procs, task, call, calls)))
    finally:
        procs.close()

    base50, base95 = statistics.median(rows[0][1]), p95(rows[0][1])
    print(f"rerun stand-in: count_params(llama-2-7b, q,v r=8) + 64x64 matmul; {calls} calls per phase")
    print(f"{'phase':<28} {'p50 ms':>8} {'p95 ms':>8} {'p50 x':>7} {'p95 x':>7} {'fit steps/s':>12}")
    for name, times, rate in rows:
        p50, q95 = statistics.median(times), p95(times)
        steps = "-" if rate is None else f"{rate:,.0f}"
        print(
            f"{name:<28} {1e3 * p50:>8.2f} {1e3 * q95:>8.2f} {p50 / base50:>7.2f} {q95 / base95:>7.2f} {steps:>12}"
        )


if __name__ == "__main__":  # required: the worker processes are spawned and re-import this file
    main()
