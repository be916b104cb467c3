"""The Fit page's default run in a real browser: click Train, wait for the results, read what the page says.

    python benchmarks/fit_page.py                   # this checkout, 5 default fits
    python benchmarks/fit_page.py --root DIR        # another checkout (e.g. `git archive main` unpacked)

One `streamlit run app.py` server (started by lora_ui.serve.started, as tests/browser starts theirs) and headless Debian Chromium
(/usr/bin/chromium). The page opens with every control at its default, and its first render warms a fit
worker process; the script waits until the server has that worker, so the first Train does not pay for
starting one. Then, RUNS times: open the page afresh (a new session, no results yet), click Train, wait
until the results (the metrics) are drawn, and read the
"Steps" and "Seconds" metrics (the fit's own wall clock, measured in the worker). Reported: the fit's
seconds as the page shows them, and click to results, which adds the page's polling (the live panel
redraws every 0.5 s, lora_ui/fit_live.py REDRAW_S) and one rerun. Timings of a shared machine: say its load.
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
from lora_ui import serve  # this checkout's helper, whichever checkout it serves

CHROMIUM = os.environ.get("LORA_LAB_CHROMIUM", "/usr/bin/chromium")
RUNS = 5


def start_server(root: Path, port: int):
    """`streamlit run app.py` of the checkout at `root`, once healthy (a context manager: stopped after)."""
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    return serve.started(cmd, port=port, cwd=root, timeout=120.0)


def fit_workers(server: subprocess.Popen) -> int:
    """Fit worker processes the server has started (children named by multiprocessing's spawn)."""
    import psutil

    children = psutil.Process(server.pid).children(recursive=True)
    return sum("multiprocessing" in " ".join(c.cmdline()) for c in children if c.is_running())


def metric(page, label: str) -> str:
    box = page.locator("[data-testid='stMetric']").filter(has_text=label).first
    return box.locator("[data-testid='stMetricValue']").inner_text()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="checkout to serve")
    p.add_argument("--runs", type=int, default=RUNS)
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    port = serve.free_port()
    load = os.getloadavg()[0]
    rows = []
    with start_server(args.root.resolve(), port) as started:
        server = started.proc
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{port}/fit")
            page.wait_for_selector("[data-testid='stMain'] h1")
            deadline = time.monotonic() + 120
            while fit_workers(server) < 1 and time.monotonic() < deadline:  # the page's warm() worker
                time.sleep(0.2)
            time.sleep(1.0)  # the worker has imported torch and said "ready"
            for _ in range(args.runs):
                page.goto(f"http://127.0.0.1:{port}/fit")  # a new session: no results on the page yet
                page.wait_for_selector("[data-testid='stMain'] h1")
                train = page.get_by_role("button", name="Train", exact=True)
                train.wait_for()
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
                start = time.perf_counter()
                train.click()
                page.wait_for_selector("[data-testid='stMetric']")
                wall = time.perf_counter() - start
                rows.append({"click_to_results": wall, "steps": metric(page, "Steps"),
                             "fit_seconds": float(metric(page, "Seconds"))})  # fmt: skip
            browser.close()
    print(f"{args.root}: load {load:.2f} before, {os.getloadavg()[0]:.2f} after, {os.cpu_count()} cores")
    for r in rows:
        print(
            f"  {r['steps']:>6} steps  fit {r['fit_seconds']:.2f} s  click to results {r['click_to_results']:.2f} s"
        )
    fit = statistics.median(r["fit_seconds"] for r in rows)
    click = statistics.median(r["click_to_results"] for r in rows)
    print(f"median: fit {fit:.2f} s (the page's Seconds), click to results {click:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
