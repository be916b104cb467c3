#!/usr/bin/env python
"""What one rerun of each page costs: one client, no concurrency, next to the one-slider baseline app.

Starts `streamlit run app.py` and benchmarks/baseline_app.py on 127.0.0.1 (through benchmarks/timed_server.py,
which logs each script run's server-side wall and thread CPU time), and for every page measures, `--reps`
times each:

- open: navigating to the page from another one (a full run);
- move: a slider or number input moved on it, sent as the browser would (a fragment rerun when the widget
  was drawn inside an st.fragment, else a full run); after it, the page's run_every fragments are followed
  until none is registered (that time is the wait, reported apart).

Reports median and p90 of the client's latency (rerun_script sent -> script_finished) and of the server's
thread time, each also as a ratio to the baseline app's slider rerun measured in the same run.

    python benchmarks/page_cost.py --reps 15 --json /tmp/page_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_test as lt

TIMED_SERVER = Path(__file__).resolve().parent / "timed_server.py"


def start(app: Path, workdir: Path, nodelay: bool) -> tuple[subprocess.Popen, str, Path]:
    port = lt.free_port()
    runlog = workdir / f"runs-{port}.jsonl"
    runlog.touch()
    env = dict(os.environ, PYTHONUNBUFFERED="1", LORA_LAB_RUN_LOG=str(runlog))
    if nodelay:
        env["LORA_LAB_NODELAY"] = "1"
    cmd = [sys.executable, str(TIMED_SERVER), "run", str(app), "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    with open(workdir / f"streamlit-{port}.log", "ab") as fh:
        proc = subprocess.Popen(cmd, cwd=lt.ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    lt.wait_healthy(url, [proc], 300.0, poll_s=0.05)
    return proc, url, runlog


class Meter:
    """Client latency and server thread time of one measured rerun (lines the run log gained meanwhile)."""

    def __init__(self, runlog: Path) -> None:
        self.runlog = runlog
        self.rows: dict[str, list[tuple[float, float]]] = {}

    def measure(self, name: str, send) -> lt.RunResult:
        before = self.runlog.stat().st_size
        r = send()
        with open(self.runlog) as fh:
            fh.seek(before)
            runs = [json.loads(line) for line in fh if line.strip()]
        if r.ok:
            self.rows.setdefault(name, []).append((r.latency_s, sum(x["thread_s"] for x in runs)))
        return r


def q(values: list[float], p: float) -> float:
    return lt.pct(values, p)


def measure_app(app: Path, pages: list[str], args, workdir: Path) -> tuple[dict, dict, int]:
    proc, url, runlog = start(app, workdir, args.nodelay)
    rng = random.Random(args.seed)
    meter = Meter(runlog)
    log = lt.StudentLog()
    waits: dict[str, list[float]] = {}
    try:
        s = lt.Session(url, timeout=args.timeout)
        s.connect()
        for page in pages:  # warm-up: imports and first cache fills, as the load test's warm-up visitor
            lt.act(
                s,
                log,
                page,
                time.perf_counter() + args.timeout,
                lambda page=page: s.rerun(lt.page_name(page)),
            )
        for i, page in enumerate(pages):
            other = pages[i - 1] if len(pages) > 1 else None
            for _ in range(args.reps):
                if other is not None:
                    s.rerun(lt.page_name(other))
                    lt.follow_auto_reruns(s, log, other, time.perf_counter() + args.timeout)
                    time.sleep(args.pause)
                meter.measure(f"{page or 'baseline'} open", lambda page=page: s.rerun(lt.page_name(page)))
                lt.follow_auto_reruns(s, log, page, time.perf_counter() + args.timeout)
                time.sleep(args.pause)
            for _ in range(args.reps):
                movable = [(w, v) for w, v in lt._movable(s, rng) if w.kind in ("slider", "number_input")]
                movable = movable or lt._movable(s, rng)
                if not movable:
                    break
                w, (f, v) = rng.choice(movable)
                t0 = time.perf_counter()
                r = meter.measure(f"{page or 'baseline'} move", lambda w=w, f=f, v=v: s.move(w, f, v))
                if r.ok and s.auto_reruns:
                    lt.follow_auto_reruns(s, log, page, time.perf_counter() + args.timeout)
                    waits.setdefault(page or "baseline", []).append(time.perf_counter() - t0)
                else:
                    waits.setdefault(page or "baseline", []).append(0.0)
                time.sleep(args.pause)
        s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return meter.rows, waits, len(log.errors)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=15, help="measured reruns per page and kind (default 15)")
    p.add_argument("--pages", default=",".join(lt.PAGES), help="comma-separated pages (default: all)")
    p.add_argument("--pause", type=float, default=0.5, help="seconds between reruns (default 0.5)")
    p.add_argument("--timeout", type=float, default=120.0, help="max seconds for one rerun (default 120)")
    p.add_argument("--nodelay", action="store_true", help="set TCP_NODELAY on the servers' sockets")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the figures as JSON to this file")
    args = p.parse_args(argv)
    if not 1 <= args.reps <= 1000:
        p.error("--reps: 1..1000")
    pages = [x for x in args.pages.split(",") if x]
    with tempfile.TemporaryDirectory(prefix="lora-page-cost-") as tmp:
        base_rows, _, base_err = measure_app(lt.BASELINE_APP, [""], args, Path(tmp))
        rows, waits, errors = measure_app(lt.ROOT / "app.py", pages, args, Path(tmp))
    base = base_rows.get("baseline move", [])
    b_lat = statistics.median([x for x, _ in base]) if base else float("nan")
    b_cpu = statistics.median([c for _, c in base]) if base else float("nan")
    out = {"baseline_rerun_ms": b_lat * 1e3, "baseline_thread_ms": b_cpu * 1e3, "rows": {}, "waits_s": waits}
    lines = [
        f"Baseline slider rerun: {b_lat * 1e3:.1f} ms client, {b_cpu * 1e3:.1f} ms server thread time "
        f"(median of {len(base)}); `--reps {args.reps} --pause {args.pause}`"
        + (" `--nodelay`" if args.nodelay else ""),
        "",
        "| page, action | n | client p50 / p90 ms | × baseline | server thread p50 / p90 ms | × baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, vals in rows.items():
        lat, cpu = [x for x, _ in vals], [c for _, c in vals]
        l50, l90, c50, c90 = q(lat, 50), q(lat, 90), q(cpu, 50), q(cpu, 90)
        out["rows"][name] = {"n": len(vals), "p50_ms": l50 * 1e3, "p90_ms": l90 * 1e3}
        out["rows"][name] |= {"thread_p50_ms": c50 * 1e3, "thread_p90_ms": c90 * 1e3}
        lines.append(
            f"| {name} | {len(vals)} | {l50 * 1e3:,.0f} / {l90 * 1e3:,.0f} | {l50 / b_lat:,.1f}× "
            f"| {c50 * 1e3:,.0f} / {c90 * 1e3:,.0f} | {c50 / b_cpu:,.1f}× |"
        )
    lines += ["", "Wait after a move (run_every fragments followed until none is registered), s:", ""]
    for page, ws in waits.items():
        lines.append(f"- {page}: p50 {q(ws, 50):.2f}, p95 {q(ws, 95):.2f}, max {max(ws):.2f} (n {len(ws)})")
    lines.append(f"\nErrors: {errors + base_err}")
    out["errors"] = errors + base_err
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
