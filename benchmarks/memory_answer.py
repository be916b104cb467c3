#!/usr/bin/env python
"""How long the Memory page takes to answer a change, complete (activations included), in a warm server.

Starts the real server (benchmarks/timed_server.py: `streamlit run app.py`, logging each script run's wall
and thread CPU time on the server) and drives it over Streamlit's websocket as a browser tab does
(benchmarks/load_test.Session). After one warm-up visit of the Memory page (the server's own warm-up does
the same before it answers health checks), for every preset, in the order a student clicking through meets
them:

- preset: switch the model (method lora, precision bf16);
- precision: switch to each precision, then to each method under it.

Reported per change: the server's wall time for the rerun (the script run itself: what the issue's 250 ms
counts), its thread CPU time, and the tab's latency. Every run must end with the complete estimate (its
"The peak comes during the ..." line) or, where the core refuses the combination, its st.error; the table says which.

    python benchmarks/memory_answer.py --out docs/memory_speed.md
    python benchmarks/memory_answer.py --presets llama-3-8b,gpt2 --json /tmp/memory_answer.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_test as lt
import page_cost

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lora_ui import keys  # noqa: E402
from lora_ui.memory_inputs import DEFAULT_RANK, default_setup  # noqa: E402

GOAL_MS = 250.0  # issue "Instant from the first visitor": complete within 250 ms of server time
PEAK_TEXT = "The peak comes during the"  # lora_ui/strings/memory.py EN["phase"]: shown with the estimate
# (change, widget key, value, the first view's value, field): one step away from each of the page's first
# view's inputs (lora_ui/memory_inputs.py: default_setup, DEFAULT_RANK), and back.
_FIRST, _RANK = default_setup(), DEFAULT_RANK
SLIDERS = [
    ("batch", keys.MEM_BATCH, 4.0, float(_FIRST.batch), "double_value"),
    ("seq", keys.MEM_SEQ, float(2 * _FIRST.seq), float(_FIRST.seq), "double_value"),
    ("rank", keys.MEM_RANK, float(2 * _RANK), float(_RANK), "double_value"),
    ("optimizer", keys.MEM_OPTIMIZER, "adamw-8bit", _FIRST.optimizer, "string_value"),
    ("gpus", keys.MEM_GPUS, float(_FIRST.gpus + 1), float(_FIRST.gpus), "double_value"),
]
assert _FIRST.optimizer != "adamw-8bit" and _FIRST.batch != 4
REPLAYED = ("batch", "seq", "rank", "optimizer")  # SLIDERS whose change is a new replay (not the GPU count)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", help="comma-separated preset names (default: all)")
    parser.add_argument("--json", help="write every timed run here")
    parser.add_argument("--out", help="write the markdown table here")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)

    from lora_core.memory.setup import METHODS, PRECISIONS
    from lora_core.presets import PRESETS, load_preset

    def default_targets(config: dict) -> tuple[str, ...]:
        """PEFT's default targets for the model type (what a student types first after all-linear)."""
        from lora_core.arch import inventory
        from lora_core.spec import default_targets as peft_default

        return peft_default(config.get("model_type", ""), inventory(config).target_names)

    presets = args.presets.split(",") if args.presets else list(PRESETS)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, runlog = page_cost.start(ROOT / "app.py", Path(tmp), nodelay=True)
        try:
            s = lt.Session(url, timeout=args.timeout)
            s.connect()
            r = s.rerun("memory")  # the warm-up visit
            assert r.ok, r

            def change(kind: str, preset: str, method: str, precision: str, key: str, value, field="string_value"):
                before = runlog.stat().st_size
                r = s.move(s.widgets[key], field, value)
                with open(runlog) as fh:
                    fh.seek(before)
                    runs = [json.loads(line) for line in fh if line.strip()]
                if not r.ok:
                    raise SystemExit(f"{preset} {method} {precision}: {r.status} {r.exceptions}")
                complete = any(PEAK_TEXT in t for t in r.texts)
                row = {
                    "change": kind, "preset": preset, "method": method, "precision": precision,
                    "server_ms": round(1000 * sum(x["wall_s"] for x in runs), 1),
                    "cpu_ms": round(1000 * sum(x["thread_s"] for x in runs), 1),
                    "latency_ms": round(1000 * r.latency_s, 1), "runs": len(runs),
                    "complete": complete, "error": r.error_alerts[0] if r.error_alerts else "",
                }  # fmt: skip
                rows.append(row)
                print(f"{preset:14s} {kind:9s} {method:5s} {precision:8s} server {row['server_ms']:6.1f} ms "
                      f"cpu {row['cpu_ms']:6.1f} ms latency {row['latency_ms']:6.1f} ms "
                      f"{'complete' if complete else 'ERROR ' + row['error'][:60]}", flush=True)  # fmt: skip

            for preset in presets:
                s.move(s.widgets[keys.MEM_METHOD], "string_value", "lora")
                s.move(s.widgets[keys.MEM_PRECISION], "string_value", "bf16")
                change("preset", preset, "lora", "bf16", keys.MEM_PRESET, preset)
                for precision in PRECISIONS:
                    change("precision", preset, "lora", precision, keys.MEM_PRECISION, precision)
                    for method in METHODS:
                        change("method", preset, method, precision, keys.MEM_METHOD, method)
                # Beyond the precomputed grid: recipes traced when asked (PEFT's default targets, then DoRA).
                s.move(s.widgets[keys.MEM_METHOD], "string_value", "lora")
                s.move(s.widgets[keys.MEM_PRECISION], "string_value", "bf16")
                targets = ",".join(default_targets(load_preset(preset)))
                change("targets", preset, "lora", "bf16", keys.MEM_TARGETS, targets)
                change("dora", preset, "lora", "bf16", keys.MEM_DORA, True, "bool_value")
                s.move(s.widgets[keys.MEM_DORA], "bool_value", False)
                s.move(s.widgets[keys.MEM_TARGETS], "string_value", "all-linear")
                # Inputs away from the page's first view, one at a time and back: the precomputed grid holds
                # no replay there, so each is one caching-allocator replay (a worker process's, in the
                # server: lora_ui/workers/replay.py), except the GPU count (data parallel: the same replay).
                for kind, key, value, back, field in SLIDERS:
                    change(kind, preset, "lora", "bf16", key, value, field)
                    s.move(s.widgets[key], field, back)
            s.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    text = report(rows)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.out:
        Path(args.out).write_text(text)
    return 0


def pct(values: list[float], p: int) -> float:
    """The p-th percentile (statistics.quantiles, exclusive method); the value itself for fewer than two."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[p - 1]


def report(rows: list[dict]) -> str:
    grid = [r for r in rows if r["change"] in ("preset", "precision", "method")]
    ms = [r["server_ms"] for r in grid]
    over = [r for r in grid if r["server_ms"] > GOAL_MS]
    # beyond the grid, only runs that ended with the estimate (a refused recipe replays nothing)
    traced = [r["server_ms"] for r in rows if r["change"] in ("targets", "dora") and r["complete"]]
    slider = [r["server_ms"] for r in rows if r["change"] in REPLAYED and r["complete"]]
    gpus = [r["server_ms"] for r in rows if r["change"] == "gpus" and r["complete"]]
    q = statistics.quantiles(ms, n=20) if len(ms) > 1 else ms * 19
    lines = [
        "# Memory page: server time to a complete answer, per change (benchmarks/memory_answer.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()} ({os.cpu_count()} cores, load "
        f"average {os.getloadavg()[0]:.1f} at the end), torch {__import__('torch').__version__}: {len(rows)} "
        "reruns of the real page by one tab on a warm server. Server time: the script run's wall clock.",
        f"Within the precomputed grid (every preset x method x precision): p50 {statistics.median(ms):.0f} ms, "
        f"p95 {q[18]:.0f} ms, max {max(ms):.0f} ms; {len(over)} of {len(grid)} over {GOAL_MS:.0f} ms. "
        f"Changes traced when asked: p50 {statistics.median(traced or [0]):.0f} ms, max {max(traced or [0]):.0f} ms. "
        f"Batch, sequence, rank or optimizer changed off the first view (one allocator replay each): p50 "
        f"{statistics.median(slider or [0]):.0f} ms, p95 {pct(slider, 95):.0f} ms, max {max(slider or [0]):.0f} ms, "
        f"{sum(v > GOAL_MS for v in slider)} of {len(slider)} over {GOAL_MS:.0f} ms. One GPU more (the same "
        f"replay): p50 {statistics.median(gpus or [0]):.0f} ms, max {max(gpus or [0]):.0f} ms. "
        f"{sum(not r['complete'] for r in rows)} of {len(rows)} runs without a complete estimate.",
        "",
        "Per preset (ms of server time; thread CPU in brackets): the preset switch, the slowest precision switch "
        "and the slowest method switch (the precomputed grid), then changes beyond it: PEFT's default targets "
        "instead of all-linear, then DoRA on (each traced when asked), and one at a time from the first view: "
        + ", ".join(f"{k} {b:g} -> {v:g}" if isinstance(v, float) else f"{k} {b} -> {v}" for k, _, v, b, _ in SLIDERS)
        + " (each a caching-allocator replay, but the GPU count: data-parallel GPUs share one).",
        "",
        "| preset | preset switch | slowest precision switch | slowest method switch | targets (traced) | "
        "DoRA (traced) | batch | sequence | rank | optimizer | GPUs | complete |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for preset in dict.fromkeys(r["preset"] for r in rows):
        mine = [r for r in rows if r["preset"] == preset]
        first = next(r for r in mine if r["change"] == "preset")
        prec = max((r for r in mine if r["change"] == "precision"), key=lambda r: r["server_ms"])
        meth = max((r for r in mine if r["change"] == "method"), key=lambda r: r["server_ms"])
        beyond = ("targets", "dora", *(kind for kind, *_ in SLIDERS))
        traced = [next((r for r in mine if r["change"] == c), None) for c in beyond]
        traced_cells = " | ".join(f"{r['server_ms']:.0f} ({r['cpu_ms']:.0f})" if r else "-" for r in traced)
        errors = sorted({r["error"][:80] for r in mine if not r["complete"]})
        complete = "all" if not errors else f"no: {'; '.join(errors)}"
        lines.append(
            f"| {preset} | {first['server_ms']:.0f} ({first['cpu_ms']:.0f}) | "
            f"{prec['server_ms']:.0f} ({prec['cpu_ms']:.0f}; {prec['precision']}) | "
            f"{meth['server_ms']:.0f} ({meth['cpu_ms']:.0f}; {meth['method']}, {meth['precision']}) | "
            f"{traced_cells} | {complete} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
