#!/usr/bin/env python
"""Summarise the logs of benchmarks/gc_probe: per process, collections and pauses by generation.

python benchmarks/gc_summary.py /tmp/gc        # reads /tmp/gc.<pid>
"""

from __future__ import annotations

import glob
import sys


def summarise(path: str) -> str:
    header, rows = "", []
    with open(path) as fh:
        for line in fh:
            if line.startswith("#"):
                header = header or line[2:].strip()
            else:
                t, gen, ms, collected = line.split()
                rows.append((float(t), int(gen), float(ms), int(collected)))
    out = [f"{path}: {header}"]
    for gen in (0, 1, 2):
        pauses = [ms for _, g, ms, _ in rows if g == gen]
        if pauses:
            out.append(
                f"  gen{gen}: {len(pauses)} collections, {sum(pauses):.0f} ms in all, "
                f"max {max(pauses):.1f} ms, mean {sum(pauses) / len(pauses):.1f} ms"
            )
    if rows:
        t0 = rows[0][0]
        full = ", ".join(f"{t - t0:.0f}s:{ms:.0f}" for t, g, ms, _ in rows if g == 2)
        out.append(f"  full collections (seconds since the first collection: ms): {full}")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    files = sorted(f for f in glob.glob(f"{sys.argv[1]}.*") if f.rsplit(".", 1)[1].isdigit())  # LOG.<pid>
    print("\n".join(summarise(f) for f in files) if files else f"no logs at {sys.argv[1]}.*")
