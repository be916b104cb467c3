#!/usr/bin/env python
"""Cold start: how long a just-started server makes its first visitors wait, before and after the warm-up.

For each way of starting the server and each class size N, on a fresh server every time:
1. start it (`make run`'s command, `python -m lora_ui.serve`, or the plain `streamlit run app.py` it
   replaced), on 127.0.0.1 and a free port, from the repository root (so .streamlit/config.toml applies);
2. poll `/_stcore/health` every 50 ms: the time from starting the process to the first "ok";
3. the moment it is ok, N visitors arrive together (one thread each, released at once): each opens a
   websocket to `/_stcore/stream` and asks for the first page as the browser does
   (benchmarks/load_test.py's Session: `rerun_script` with the page's URL path and query string), and
   is timed from the connect to `script_finished` of its run (a run that gave way to an st.rerun is
   followed to the end, as the browser follows it);
4. each visitor also keeps the page names of every `navigation` message it received, so the table says
   how many saw file names (`app`, `memory`, ...) in their sidebar instead of the app's own titles;
5. when they are done, N more visitors arrive together on the same server ("next class"): what a warm
   server costs for the same page, so the first class's figure can be read against it.

    python benchmarks/cold_start.py                      # 1 and 20 visitors, both launchers (~3 minutes)
    python benchmarks/cold_start.py --visitors 20 --launchers serve --repeat 3
    python benchmarks/cold_start.py --visitors 1 --query lang=te --chromium   # + the first paint in Chromium

Timings come from a shared machine: compare the two launchers' rows of the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import load_test as lt  # noqa: E402  (benchmarks/ is not a package)

from lora_ui import serve  # noqa: E402

# The file names Streamlit's pages/-directory mode puts in the sidebar (app.py and pages/*.py, lower case).
RAW_NAMES = {"app", *(Path(p).stem for p in serve.page_files())}


def launch_command(launcher: str, port: int) -> list[str]:
    opts = ["--server.port", str(port), "--server.address", "127.0.0.1"]
    if launcher == "serve":  # what `make run` runs
        return serve.command(sys.executable, *opts)
    if launcher == "streamlit":  # what `make run` ran before the warm-up
        return [sys.executable, "-m", "streamlit", "run", "app.py", *opts]
    raise ValueError(launcher)


class FirstVisit(lt.Session):
    """A browser tab that also remembers the page names of every navigation message it was sent."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.nav_names: list[list[str]] = []

    def apply(self, messages, result) -> None:
        def spy(ms):
            for fm in ms:
                if fm.WhichOneof("type") == "navigation":
                    self.nav_names.append([p.page_name for p in fm.navigation.app_pages])
                yield fm

        super().apply(spy(messages), result)


@dataclasses.dataclass
class Visit:
    latency_s: float = float("nan")
    ok: bool = False
    raw_names: bool = False
    error: str = ""


@dataclasses.dataclass
class Start:
    launcher: str
    visitors: int
    health_s: float
    visits: list[Visit] = dataclasses.field(default_factory=list)
    again: list[Visit] = dataclasses.field(default_factory=list)  # a second class on the same server, once the first left
    rss_mib: float = 0.0


def visit(base: str, page: str, query: str, gate: threading.Barrier, out: Visit, timeout: float) -> None:
    s = FirstVisit(base, timeout=timeout)
    s.page, s.query_string = page, query  # the URL the visitor opens (Session.rerun(page) would drop the query)
    gate.wait()
    t0 = time.perf_counter()
    try:
        s.connect()
        r = s.rerun()
        out.latency_s = time.perf_counter() - t0
        out.ok = r.ok
        out.error = "" if r.ok else f"{r.status} {r.exceptions[:1]}"
        out.raw_names = any(RAW_NAMES & set(names) for names in s.nav_names)
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        s.close()


def arrive(base: str, n: int, page: str, query: str, timeout: float) -> list[Visit]:
    """n visitors open the page together; returns their visits when all are done."""
    visits = [Visit() for _ in range(n)]
    gate = threading.Barrier(n)
    threads = [threading.Thread(target=visit, args=(base, page, query, gate, v, timeout)) for v in visits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return visits


@contextlib.contextmanager
def fresh_server(launcher: str, workdir: Path, timeout: float):
    """Start a server; yields (base URL, seconds from start to health ok, process) the moment it is ok
    (health polled every 50 ms)."""
    port = serve.free_port()
    log = workdir / f"{launcher}-{port}.log"
    with serve.started(launch_command(launcher, port), port=port, log=log, timeout=timeout, poll_s=0.05) as server:
        yield server.url, server.healthy_after_s, server.proc


def cold_start(
    launcher: str, n: int, page: str, query: str, workdir: Path, timeout: float, *, again: bool
) -> Start:
    import psutil

    with fresh_server(launcher, workdir, timeout) as (base, health_s, proc):
        start = Start(launcher, n, health_s)
        start.visits = arrive(base, n, page, query, timeout)
        if again:
            start.again = arrive(base, n, page, query, timeout)
        start.rss_mib = psutil.Process(proc.pid).memory_info().rss / 2**20
    return start


def chromium_first_visit(launcher: str, page: str, query: str, workdir: Path, timeout: float) -> str:
    """One visitor in Debian's Chromium (started before the server), the moment health says ok: seconds to
    the first sidebar navigation and what it said, to the page's title, and to the end of the run."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(timeout * 1000)
        with fresh_server(launcher, workdir, timeout) as (base, health_s, _):
            t0 = time.perf_counter()
            tab.goto(f"{base}/{page}" + (f"?{query}" if query else ""))
            nav = tab.locator("[data-testid=stSidebarNavLink] [data-testid=stMarkdownContainer]")
            nav.first.wait_for()
            t_nav, first_nav = time.perf_counter() - t0, nav.all_inner_texts()
            tab.wait_for_selector("[data-testid=stMain] h1")
            t_title = time.perf_counter() - t0
            tab.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
            t_done = time.perf_counter() - t0
        browser.close()
    name = "`python -m lora_ui.serve`" if launcher == "serve" else "`streamlit run app.py`"
    return (
        f"| {name} | {health_s:.1f} | {t_nav:.2f} | {', '.join(first_nav)} | {t_title:.2f} | {t_done:.2f} |"
    )


def table(starts: list[Start]) -> str:
    rows = [
        "| start command | visitors | server start → health ok s | first page p50 / max s | errors |"
        " saw file names in the nav | next class p50 / max s | RSS after MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in starts:
        errors = sum(1 for v in s.visits + s.again if not v.ok)
        raw = sum(1 for v in s.visits if v.raw_names)
        name = "`python -m lora_ui.serve`" if s.launcher == "serve" else "`streamlit run app.py`"
        rows.append(
            f"| {name} | {s.visitors} | {s.health_s:.1f} | {_spread(s.visits)} | {errors} |"
            f" {raw} of {s.visitors} | {_spread(s.again)} | {s.rss_mib:,.0f} |"
        )
    return "\n".join(rows)


def _spread(visits: list[Visit]) -> str:
    lat = [v.latency_s for v in visits if v.ok]
    if not lat:
        return "–"
    return f"{statistics.median(lat):.2f} / {max(lat):.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--visitors", default="1,20", help="class sizes, comma-separated (default 1,20)")
    ap.add_argument("--launchers", default="streamlit,serve", help="streamlit (before) and/or serve (after)")
    ap.add_argument("--page", default="", help="the page the visitors open (URL path; default: the home page)")
    ap.add_argument("--query", default="", help="its query string, e.g. lang=te")
    ap.add_argument("--repeat", type=int, default=1, help="fresh servers per launcher and class size")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds for health and for each visit")
    ap.add_argument(
        "--no-again", dest="again", action="store_false", help="skip the second class on the same server"
    )
    ap.add_argument("--json", help="write the raw figures here")
    ap.add_argument(
        "--chromium", action="store_true", help="also one visitor in Chromium per launcher (first paint)"
    )
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.visitors.split(",")]
    launchers = args.launchers.split(",")
    starts: list[Start] = []
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        for _ in range(args.repeat):
            for n in sizes:
                for launcher in launchers:
                    s = cold_start(launcher, n, args.page, args.query, Path(tmp), args.timeout, again=args.again)
                    starts.append(s)
                    print(table([s]).splitlines()[-1], flush=True)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(f"\n{when}, {platform.node()}, {os.cpu_count()} CPUs; page '/{args.page}?{args.query}'\n")
    print(table(starts))
    if args.chromium:
        with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
            rows = [chromium_first_visit(x, args.page, args.query, Path(tmp), args.timeout) for x in launchers]
        print(
            "\n| start command | server start → health ok s | first navigation drawn s | it lists |"
            " page title drawn s | run finished s |\n|---|---|---|---|---|---|"
        )
        print("\n".join(rows))
    if args.json:
        raw = [dataclasses.asdict(s) for s in starts]
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
