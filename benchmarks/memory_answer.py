#!/usr/bin/env python
"""How long the Memory page takes to answer a change, complete (activations included), in a warm server.

Runs the real page (pages/memory.py through AppTest from app.py, in this process, as the server runs it) and
times each rerun's wall clock, script and all: the server time a student waits for. The process is warmed the
way the server warms itself (imports, the default Memory view). Then, for every preset, in the order a
student clicking through would meet them:

- preset: switch the model (method lora, precision bf16: new recipes are traced for it);
- precision: switch to each precision, then to each method under it (a new precision is new recipes;
  a method switch answers from the same estimates, all three methods are computed together).

Every run must show the complete estimate (the "peak" metric) or, where the core refuses the combination,
its error; the table says which. `traces` counts the recipes traced during that run.

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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL_MS = 250.0  # issue "Instant from the first visitor": complete within 250 ms of server time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", help="comma-separated preset names (default: all)")
    parser.add_argument("--json", help="write every timed run here")
    parser.add_argument("--out", help="write the markdown table here")
    args = parser.parse_args(argv)

    os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")
    from streamlit.testing.v1 import AppTest

    from lora_core.memory import setup as setup_mod
    from lora_core.memory import trace
    from lora_core.presets import PRESETS
    from lora_ui import keys

    presets = args.presets.split(",") if args.presets else list(PRESETS)
    traced = []
    original = trace.build_live_model

    def counting(*a, **kw):
        traced.append(1)
        return original(*a, **kw)

    trace.build_live_model = counting

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.switch_page("pages/memory.py")
    at.run()  # the warm server has run the default view once (imports, the default preset's recipes)
    rows = []

    def timed(change: str, preset: str, method: str, precision: str, widget, value) -> None:
        traced.clear()
        start = time.perf_counter()
        widget.set_value(value).run()
        ms = (time.perf_counter() - start) * 1000
        if at.exception:
            raise SystemExit(f"{preset} {method} {precision}: exception {at.exception[0].value}")
        complete = any(m.label and "peak" in m.label.lower() for m in at.metric)
        error = at.error[0].value if at.error else ""
        rows.append(
            {
                "change": change, "preset": preset, "method": method, "precision": precision,
                "ms": round(ms, 1), "traces": len(traced), "complete": complete, "error": error,
            }
        )  # fmt: skip
        print(f"{preset:14s} {change:9s} {method:5s} {precision:8s} {ms:7.1f} ms traces={len(traced)} "
              f"{'complete' if complete else 'ERROR ' + error[:60]}", flush=True)  # fmt: skip

    for preset in presets:
        at.radio(key=keys.MEM_METHOD).set_value("lora").run()
        at.selectbox(key=keys.MEM_PRECISION).set_value("bf16").run()
        timed("preset", preset, "lora", "bf16", at.selectbox(key=keys.MEM_PRESET), preset)
        for precision in setup_mod.PRECISIONS:
            timed("precision", preset, "lora", precision, at.selectbox(key=keys.MEM_PRECISION), precision)
            for method in setup_mod.METHODS:
                timed("method", preset, method, precision, at.radio(key=keys.MEM_METHOD), method)

    text = report(rows)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.out:
        Path(args.out).write_text(text)
    return 0


def report(rows: list[dict]) -> str:
    ms = [r["ms"] for r in rows]
    over = [r for r in rows if r["ms"] > GOAL_MS]
    q = statistics.quantiles(ms, n=20) if len(ms) > 1 else ms * 19
    lines = [
        "# Memory page: time to a complete answer, per change (benchmarks/memory_answer.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()} ({os.cpu_count()} cores), "
        f"torch {__import__('torch').__version__}: {len(rows)} reruns of the real page in one warm process.",
        f"p50 {statistics.median(ms):.0f} ms, p95 {q[18]:.0f} ms, max {max(ms):.0f} ms; "
        f"{len(over)} of {len(rows)} over {GOAL_MS:.0f} ms; "
        f"{sum(not r['complete'] for r in rows)} without a complete estimate.",
        "",
        "Per preset: the preset switch, the slowest precision switch (new recipes traced), the slowest method "
        "switch (answered from the same estimates), and the recipes traced.",
        "",
        "| preset | preset switch ms | slowest precision switch ms | slowest method switch ms | traces | complete |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for preset in dict.fromkeys(r["preset"] for r in rows):
        mine = [r for r in rows if r["preset"] == preset]
        first = next(r for r in mine if r["change"] == "preset")
        prec = max((r for r in mine if r["change"] == "precision"), key=lambda r: r["ms"])
        meth = max((r for r in mine if r["change"] == "method"), key=lambda r: r["ms"])
        errors = sorted({r["error"][:80] for r in mine if not r["complete"]})
        complete = "all" if not errors else f"no: {'; '.join(errors)}"
        lines.append(
            f"| {preset} | {first['ms']:.0f} | {prec['ms']:.0f} ({prec['precision']}) | "
            f"{meth['ms']:.0f} ({meth['method']}, {meth['precision']}) | {sum(r['traces'] for r in mine)} | {complete} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
