#!/usr/bin/env python
"""Load test: N simulated students on LoRA Lab, side by side with a one-slider Streamlit app.

Each student is a real Streamlit client on the websocket `/_stcore/stream`, speaking the same protobufs as the
browser (they ship with streamlit): it sends `BackMsg.rerun_script` with a `ClientState` (page name, query
string, widget states) and reads `ForwardMsg`s until `script_finished`. Widget ids come from the element
protos in the deltas (`$$ID-<hash>-<user key>`), so a student can move any slider it has seen.

A student opens every page, then moves sliders and number inputs (sometimes a select box, radio, checkbox or
multiselect; sometimes another page) with a think time uniform in 1.25-3.75 s. A few students press the Fit
page's Train button instead, again and again, so fits run during the whole measurement. Loops are bounded in
count and time; the server is stopped at the end; traffic goes to 127.0.0.1 only.

The same load then runs against benchmarks/baseline_app.py, Streamlit's own floor on this machine, and
optionally against two replicas behind nginx (benchmarks/nginx/). Run from the repository root:

    python benchmarks/load_test.py --students 10,20,30 --replicas-row --out docs/load.md

Quick check (about a minute): python benchmarks/load_test.py --students 3 --duration 15 --settle 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lora_ui import serve  # the repository root is on sys.path when this runs as a script
from lora_ui.serve import free_port, wait_healthy  # one server helper for tests and benchmarks

ROOT = Path(__file__).resolve().parents[1]
BASELINE_APP = Path(__file__).resolve().parent / "baseline_app.py"
NGINX_TEMPLATE = Path(__file__).resolve().parent / "nginx" / "nginx.conf.template"
NGINX = os.environ.get("LORA_LAB_NGINX", "/usr/sbin/nginx")

PAGES = ["learn", "matrix", "model", "memory", "fit"]  # url_path of each st.Page in app.py
THINK_S = (1.25, 3.75)  # uniform think time between a student's actions (issue 6)
RSS_RECOVERY = 1.15  # "RSS back within 15 % of baseline" (issue 6)
RSS_SETTLE_S = 60.0  # "... within a minute of the sessions closing" (issue 6)
ROUTE_COOKIE = "lora_route"  # the sticky-session cookie benchmarks/nginx/nginx.conf.template sets

# The Fit page submits a job and polls it from a `run_every` fragment; the fit is over when a full run no
# longer registers that fragment (the page then draws the results). While the job waits for a free slot the
# page shows this text (matched case-insensitively; English, the default language). Overridable.
FIT_QUEUED_RE = r"queued|in line|waiting"
FIT_DONE_RE = r"^$"  # extra end marker, if a page needs one; by default only the fragment's end counts


# ---------------------------------------------------------------- one simulated browser tab


@dataclass
class Widget:
    id: str
    kind: str  # the Element oneof name: slider, number_input, selectbox, ...
    proto: object
    fragment_id: str = ""  # ForwardMsg.delta.fragment_id: the st.fragment it was drawn in ("" = none)


@dataclass
class RunResult:
    latency_s: float
    status: str  # FINISHED_SUCCESSFULLY, ..., or "timeout" / "disconnected"
    exceptions: list[str] = field(default_factory=list)
    error_alerts: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    fragment_ids: list[str] = field(default_factory=list)  # the run's fragments (empty: a full run)

    @property
    def ok(self) -> bool:
        return self.status.startswith("FINISHED") and not self.exceptions


def user_key(widget_id: str) -> str | None:
    """The user key Streamlit embeds in an element id (streamlit.runtime.state.common.user_key_from_element_id)."""
    if not widget_id.startswith("$$ID-"):
        return None
    key = widget_id.split("-", maxsplit=2)[-1]
    return None if key == "None" else key


_TEXT_FIELDS = {"markdown": "body", "alert": "body", "text": "body", "heading": "body", "metric": "body"}


class Session:
    """One browser tab: a websocket to /_stcore/stream and the widget states the tab would send."""

    def __init__(self, base_url: str, *, timeout: float = 60.0, cookies: str = "") -> None:
        self.ws_url = "ws" + base_url.removeprefix("http") + "/_stcore/stream"
        self.timeout = timeout
        self.cookies = cookies
        self.ws: websocket.WebSocket | None = None
        self.widgets: dict[str, Widget] = {}  # user key (or id) -> widget, from the last full run
        self.states: dict[str, object] = {}  # widget id -> WidgetState the tab sends on every rerun
        self.query_string = ""
        self.page = ""
        self.page_hash = ""  # the current page's script hash, from the server's new_session
        self.auto_reruns: dict[str, float] = {}  # fragment id -> interval (s), as the frontend keeps them
        self.last_full_run_registered = False  # did the last full run register any run_every fragment?

    def connect(self) -> None:
        header = [f"Cookie: {self.cookies}"] if self.cookies else []
        # The browser puts "streamlit" and its XSRF token in Sec-WebSocket-Protocol; without an Origin header
        # the server skips the XSRF check (it only guards the auth cookie), as for any non-browser client.
        # TCP_NODELAY as browsers set it: without it Nagle + delayed ACK add ~40 ms to every rerun here.
        self.ws = websocket.create_connection(
            self.ws_url,
            subprotocols=["streamlit"],
            header=header,
            timeout=self.timeout,
            sockopt=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
            self.ws = None

    def set_state(self, widget: Widget, value_field: str, value) -> None:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        ws = WidgetState(id=widget.id)
        target = getattr(ws, value_field)
        if value_field.endswith("_array_value"):
            target.data.extend(value)
        else:
            setattr(ws, value_field, value)
        self.states[widget.id] = ws

    def rerun(
        self,
        page: str | None = None,
        *,
        trigger: Widget | None = None,
        fragment_id: str = "",
        auto: bool = False,
    ) -> RunResult:
        """Send rerun_script (as the frontend does on a widget change or navigation) and wait for script_finished.

        fragment_id: rerun only that fragment, as the frontend does for a widget drawn inside an st.fragment
        (auto=False) or for a run_every timer (auto=True). Either way it sends every widget state it holds
        (the frontend's WidgetStateManager.sendUpdateWidgetsMessage)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        if page is not None and page != self.page:
            self.page = page
            self.page_hash = ""  # navigating by name: the server answers with the page's hash (new_session)
            self.query_string = ""  # navigating drops the old page's query params, as the frontend does
            self.auto_reruns.clear()  # and its run_every timers (the frontend's onPageChange)
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query_string
        cs.page_name = self.page
        # The frontend sends the current page's script hash with every rerun. Without it a fragment run has
        # no page of its own, and an st.rerun() inside it (the Fit and Memory pollers) reran the default page.
        cs.page_script_hash = self.page_hash
        if fragment_id:
            cs.fragment_id = fragment_id
            cs.is_auto_rerun = auto
        cs.widget_states.widgets.extend(self.states.values())
        if trigger is not None:
            cs.widget_states.widgets.append(WidgetState(id=trigger.id, trigger_value=True))
        t0 = time.perf_counter()
        try:
            self.ws.send_binary(msg.SerializeToString())
        except Exception:
            return RunResult(time.perf_counter() - t0, "disconnected")
        return self._read_until_finished(t0)

    def move(self, widget: Widget, value_field: str, value) -> RunResult:
        """A student changes a widget: a fragment rerun if it was drawn inside an st.fragment, else a full one."""
        self.set_state(widget, value_field, value)
        return self.rerun(fragment_id=widget.fragment_id)

    def _read_until_finished(self, t0: float) -> RunResult:
        result = RunResult(0.0, "timeout")
        deadline = t0 + self.timeout
        self._read_messages(result, deadline)
        result.latency_s = time.perf_counter() - t0
        return result

    def _read_messages(self, result: RunResult, deadline: float) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        def receive():
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return
                try:
                    self.ws.settimeout(left)
                    opcode, data = self.ws.recv_data()
                except websocket.WebSocketTimeoutException:
                    return
                except Exception:
                    result.status = "disconnected"
                    return
                if opcode != websocket.ABNF.OPCODE_BINARY:
                    continue
                fm = ForwardMsg()
                fm.ParseFromString(data)
                yield fm

        self.apply(receive(), result)

    def apply(self, messages, result: RunResult) -> None:
        """Update this tab from ForwardMsgs (as the frontend does) until script_finished of our run.

        Split from the socket so that recorded messages can be replayed in tests."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        seen: dict[str, Widget] = {}
        run_fragments: list[str] = []
        registered = False
        for fm in messages:
            kind = fm.WhichOneof("type")
            if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                self._read_element(fm.delta.new_element, result, seen, fm.delta.fragment_id)
            elif kind == "navigation" and fm.navigation.page_script_hash:
                self.page_hash = fm.navigation.page_script_hash  # the page st.navigation ran (frontend: same)
            elif kind == "page_info_changed":
                self.query_string = fm.page_info_changed.query_string
            elif kind == "new_session":
                # A run starts. Streamlit 1.67 sends new_session for fragment runs too, with the run's
                # fragments in metadata.run.fragment_ids; only a full run (none) makes the frontend drop
                # its run_every timers (App.handleNewSession -> cleanupAutoReruns), and the full run then
                # re-registers the fragments it still draws. A run that gave way (st.rerun) starts over.
                run_fragments = list(fm.metadata.run.fragment_ids)
                if fm.new_session.page_script_hash:  # a one-page app's script; st.navigation's page below
                    self.page_hash = fm.new_session.page_script_hash
                seen, registered = {}, False
                result.exceptions.clear()
                result.error_alerts.clear()
                result.texts.clear()
                if not run_fragments:
                    self.auto_reruns.clear()
            elif kind == "auto_rerun":
                self.auto_reruns[fm.auto_rerun.fragment_id] = fm.auto_rerun.interval
                registered = True
            elif kind == "stop_auto_rerun":
                for frag in fm.stop_auto_rerun.fragment_ids:
                    self.auto_reruns.pop(frag, None)
            elif kind == "script_finished":
                status = ForwardMsg.ScriptFinishedStatus.Name(fm.script_finished)
                if status == "FINISHED_EARLY_FOR_RERUN":
                    continue  # an older run gave way to ours (or ours to st.rerun); ours still has to finish
                result.status = status
                break
        result.fragment_ids = run_fragments
        if not result.status.startswith("FINISHED"):
            if seen:
                self.widgets.update(seen)
            return
        if not run_fragments:  # a full run: the widgets it drew are the page's widgets
            self.widgets = seen
            self.last_full_run_registered = registered
        else:  # a fragment run redraws its fragments' widgets; the others stay as they were
            frags = set(run_fragments)
            kept = {k: w for k, w in self.widgets.items() if w.fragment_id not in frags}
            kept.update(seen)
            self.widgets = kept
        live = {w.id for w in self.widgets.values()}
        self.states = {i: s for i, s in self.states.items() if i in live}

    @staticmethod
    def _read_element(element, result: RunResult, seen: dict[str, Widget], fragment_id: str = "") -> None:
        kind = element.WhichOneof("type")
        if kind is None:
            return
        proto = getattr(element, kind)
        if kind == "exception":
            result.exceptions.append(f"{proto.type}: {proto.message}"[:300])
            return
        if kind == "alert" and proto.format == 1:  # Alert.Format.ERROR: st.error
            # The body is markdown with the visitor's text escaped (lora_ui/widgets.markdown_literal): keep
            # the text as the student reads it.
            result.error_alerts.append(re.sub(r"\\(.)", r"\1", proto.body)[:300])
        if kind in _TEXT_FIELDS:
            result.texts.append(getattr(proto, _TEXT_FIELDS[kind], ""))
        elif kind == "progress":
            result.texts.append(proto.text)
        wid = getattr(proto, "id", "") if hasattr(proto, "id") else ""
        if isinstance(wid, str) and wid.startswith("$$ID-"):
            seen[user_key(wid) or wid] = Widget(wid, kind, proto, fragment_id)


# ---------------------------------------------------------------- what a student does


def random_value(widget: Widget, rng: random.Random):
    """(value field, value) a student could set on this widget, or None if students leave it alone."""
    p, k = widget.proto, widget.kind
    if getattr(p, "disabled", False):
        return None
    if k == "slider":
        if p.options:  # st.select_slider
            picks = sorted(rng.sample(range(len(p.options)), min(len(p.default), len(p.options))))
            return "string_array_value", [p.options[i] for i in picks]
        if p.data_type not in (0, 1) or p.max <= p.min:  # INT, FLOAT; dates and times left alone
            return None
        steps = max(1, round((p.max - p.min) / (p.step or 1)))
        vals = sorted(p.min + (p.step or 1) * rng.randint(0, steps) for _ in range(max(1, len(p.default))))
        return "double_array_value", [min(v, p.max) for v in vals]
    if k == "number_input":
        lo = p.min if p.has_min else (p.default - 10 * abs(p.default or 1))
        hi = p.max if p.has_max else (p.default + 10 * abs(p.default or 1))
        hi = min(hi, lo + 1000 * (p.step or 1) + 4 * abs(p.default or 1))  # a student types, not a fuzzer
        v = rng.uniform(lo, hi)
        return "double_value", float(round(v) if p.data_type == 0 else v)
    if k in ("selectbox", "radio") and len(p.options) > 1:
        return "string_value", rng.choice(list(p.options))
    if k == "checkbox":
        return "bool_value", rng.random() < 0.5
    if k == "multiselect" and p.options:
        n = rng.randint(1, min(len(p.options), 4))
        return "string_array_value", rng.sample(list(p.options), n)
    return None


@dataclass
class StudentLog:
    reruns: list[tuple[str, float]] = field(default_factory=list)  # (page, latency s) of ok reruns
    fits: list[tuple[float, float]] = field(default_factory=list)  # (queue wait s, total s)
    errors: list[str] = field(default_factory=list)
    error_alerts: int = 0
    alert_texts: list[str] = field(default_factory=list)  # page: text of each st.error, for the report
    actions: int = 0
    waits: list[tuple[str, float, bool]] = field(default_factory=list)  # (page, wait s, cut at the deadline)
    polls: int = 0  # auto-reruns sent (run_every timers followed), fit polls included


def _record(log: StudentLog, page: str, r: RunResult, *, fit: bool = False) -> None:
    log.actions += 1
    if r.ok:
        if not fit:
            log.reruns.append((page, r.latency_s))
    else:
        log.errors.append(f"{page}: {r.status} {'; '.join(r.exceptions)}"[:400])
    log.error_alerts += len(r.error_alerts)
    log.alert_texts.extend(f"{page}: {text}"[:300] for text in r.error_alerts)


MAX_POLLS = 2000  # auto-reruns one wait may send (with the deadline, bounds the loop)


def follow_auto_reruns(
    s: Session, log: StudentLog, page: str, deadline: float
) -> tuple[bool, RunResult | None]:
    """Re-send each registered run_every fragment at its interval, as the frontend's timers do, until none is
    registered (a full run no longer registers any) or the deadline. Returns (finished, last poll result).

    The frontend keeps one setInterval per fragment; a synchronous client sends the one due first. The
    polls' latencies are not rerun latencies (a timer, not a student, waits for them); failures are errors."""
    due = {f: time.perf_counter() + i for f, i in s.auto_reruns.items()}
    last = None
    for _ in range(MAX_POLLS):
        if not s.auto_reruns:
            return True, last
        for f, i in s.auto_reruns.items():  # timers added by the last run start now; stopped ones go
            due.setdefault(f, time.perf_counter() + i)
        due = {f: d for f, d in due.items() if f in s.auto_reruns}
        frag = min(due, key=due.get)
        if due[frag] >= deadline:
            return False, last
        time.sleep(max(0.0, due[frag] - time.perf_counter()))
        last = s.rerun(fragment_id=frag, auto=True)
        log.polls += 1
        if not last.ok:
            _record(log, page, last, fit=True)
            return False, last
        log.error_alerts += len(last.error_alerts)
        log.alert_texts.extend(f"{page}: {text}"[:300] for text in last.error_alerts)
        due[frag] = max(due[frag] + s.auto_reruns.get(frag, 0.0), time.perf_counter())
    return False, last


def act(s: Session, log: StudentLog, page: str, deadline: float, send) -> RunResult:
    """One student action (send() -> its RunResult), then the auto-reruns it leaves running.

    The action's own rerun is its latency; the wait is from sending it until no run_every fragment is
    registered any more (0 when the action's run left none)."""
    t0 = time.perf_counter()
    r = send()
    _record(log, page, r)
    if r.ok:
        if not s.auto_reruns:
            log.waits.append((page, 0.0, False))
        else:
            finished, _ = follow_auto_reruns(s, log, page, deadline)
            log.waits.append((page, time.perf_counter() - t0, not finished))
    return r


def run_fit(s: Session, train: Widget, log: StudentLog, deadline: float, patterns) -> None:
    """Press Train, then follow the page's auto-reruns (as the frontend does) until the fit is over."""
    queued_re, done_re = patterns
    t0 = time.perf_counter()
    r = s.rerun(trigger=train)
    _record(log, "fit", r, fit=True)
    # Queue wait: 0 if the press run shows no "queued" text, else until the first poll that shows none
    # (an upper bound at the page's polling interval).
    started = None if any(queued_re.search(t) for t in r.texts) else t0
    done = any(done_re.search(t) for t in r.texts if t) or not s.auto_reruns
    while not done and r.ok and time.perf_counter() < deadline:
        frag, interval = next(iter(s.auto_reruns.items()))
        time.sleep(max(0.05, interval))
        r = s.rerun(fragment_id=frag, auto=True)
        log.polls += 1
        _record(log, "fit", r, fit=True)
        queued = any(queued_re.search(t) for t in r.texts)
        if started is None and not queued:
            started = time.perf_counter()
        done = any(done_re.search(t) for t in r.texts if t) or not s.auto_reruns
    end = time.perf_counter()
    log.fits.append(((started or end) - t0, end - t0))


def student(
    base_url: str,
    seed: int,
    pages: list[str],
    deadline: float,
    log: StudentLog,
    *,
    fitter: bool,
    fit_key: str | None,
    max_actions: int,
    patterns,
    timeout: float,
    cookies: str = "",
) -> None:
    rng = random.Random(seed)
    s = Session(base_url, timeout=timeout, cookies=cookies)
    try:
        s.connect()
    except Exception as exc:
        log.errors.append(f"connect: {type(exc).__name__}: {exc}"[:300])
        return
    try:
        time.sleep(rng.uniform(0, THINK_S[1]))  # students arrive over a few seconds, not in one tick
        for page in pages:  # open every page once
            act(s, log, page, deadline, lambda page=page: s.rerun(page))
            time.sleep(rng.uniform(*THINK_S))
            if time.perf_counter() > deadline:
                return
        while log.actions < max_actions and time.perf_counter() < deadline:
            if fitter and fit_key:
                if s.page != "fit":
                    act(s, log, "fit", deadline, lambda: s.rerun("fit"))
                train = s.widgets.get(fit_key)
                if train is None:
                    log.errors.append(f"fit: no widget with key {fit_key!r} on the fit page")
                    return
                run_fit(s, train, log, deadline, patterns)
            elif len(pages) > 1 and (rng.random() < 0.2 or not _movable(s)):
                nxt = rng.choice([p for p in pages if p != s.page])
                act(s, log, nxt, deadline, lambda nxt=nxt: s.rerun(nxt))
            else:
                w, (field_name, value) = rng.choice(_movable(s, rng))
                act(s, log, s.page, deadline, lambda w=w, f=field_name, v=value: s.move(w, f, v))
            time.sleep(rng.uniform(*THINK_S))
    finally:
        s.close()


def _movable(s: Session, rng: random.Random | None = None) -> list:
    rng = rng or random.Random(0)
    out = []
    for w in s.widgets.values():
        v = random_value(w, rng)
        if v is not None:
            # sliders and number inputs are what students mostly touch
            out += [(w, v)] * (3 if w.kind in ("slider", "number_input") else 1)
    return out


# ---------------------------------------------------------------- servers


def start_streamlit(
    app: Path, port: int, log_path: Path, *, options: list[str] = (), profile: Path | None = None
) -> subprocess.Popen:
    """A server started from the repository root, so .streamlit/config.toml applies to ours and the baseline.
    Ours is started as the README says, `make run`'s command (lora_ui/serve.py: warmed up before it serves);
    the baseline with `streamlit run`.

    options: extra `--section.name value` pairs for both apps (e.g. to try a config change without editing
    config.toml); profile: write a cProfile of every script run there (benchmarks/profiled_server.py, which
    starts ours the same way)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", STREAMLIT_CLIENT_SHOW_ERROR_DETAILS="full")
    opts = ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true", *options]
    if profile is not None:
        cmd = [sys.executable, str(Path(__file__).resolve().parent / "profiled_server.py"), "run", str(app)]
        env["LORA_LAB_PROFILE"] = str(profile)
    elif Path(app).resolve() == serve.APP:
        cmd = serve.command(sys.executable)
    else:
        cmd = [sys.executable, "-m", "streamlit", "run", str(app)]
    cmd += opts
    with open(log_path, "ab") as fh:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)


def nginx_config(listen_port: int, upstream_ports: list[int], prefix: Path) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in upstream_ports)
    user = "user root;" if os.geteuid() == 0 else ""  # workers keep the tmp prefix's owner
    return (
        NGINX_TEMPLATE.read_text()
        .replace("{{USER}}", user)
        .replace("{{PREFIX}}", str(prefix))
        .replace("{{LISTEN}}", f"127.0.0.1:{listen_port}")
        .replace("{{UPSTREAM_SERVERS}}", servers)
    )


class Stack:
    """One streamlit process, or `replicas` of them behind nginx; stopped on exit."""

    def __init__(
        self, app: Path, replicas: int, workdir: Path, *, options: list[str] = (), profile: Path | None = None
    ) -> None:
        self.app, self.replicas, self.workdir = app, replicas, workdir
        self.options, self.profile = list(options), profile
        self.procs: list[subprocess.Popen] = []
        self.servers: list[subprocess.Popen] = []
        self.base_url = ""

    def __enter__(self) -> Stack:
        ports = [free_port() for _ in range(self.replicas)]
        self.replica_urls = [f"http://127.0.0.1:{port}" for port in ports]
        for port in ports:
            p = start_streamlit(
                self.app,
                port,
                self.workdir / f"streamlit-{port}.log",
                options=self.options,
                profile=self.profile,
            )
            self.servers.append(p)
            self.procs.append(p)
        try:
            for port in ports:
                wait_healthy(f"http://127.0.0.1:{port}", self.servers)
            if self.replicas == 1:
                self.base_url = f"http://127.0.0.1:{ports[0]}"
            else:
                if not Path(NGINX).exists():
                    raise RuntimeError(f"{NGINX} not found (Debian: apt-get install nginx-light)")
                listen = free_port()
                prefix = self.workdir / f"nginx-{listen}"
                (prefix / "tmp").mkdir(parents=True)
                conf = prefix / "nginx.conf"
                conf.write_text(nginx_config(listen, ports, prefix))
                with open(prefix / "stderr.log", "wb") as fh:  # the child keeps its own copy of the fd
                    nginx = subprocess.Popen(
                        [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                    )
                self.procs.append(nginx)
                self.base_url = f"http://127.0.0.1:{listen}"
                wait_healthy(self.base_url, self.procs, timeout=20)
        except BaseException:
            self.__exit__()
            raise
        return self

    def rss(self) -> int:
        """Resident memory of the streamlit processes (and their children), bytes."""
        total = 0
        for p in self.servers:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(p.pid)
                total += proc.memory_info().rss
                total += sum(c.memory_info().rss for c in proc.children(recursive=True))
        return total

    def connections(self) -> list[int]:
        """Open client connections (websockets) per streamlit process: shows how the proxy spreads students."""
        out = []
        for p in self.servers:
            try:
                conns = psutil.Process(p.pid).net_connections(kind="tcp")
            except psutil.Error:
                conns = []
            out.append(sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED))
        return out

    def __exit__(self, *exc) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def sticky_cookie(base_url: str) -> str:
    """The cookies a browser would hold after loading the page through the proxy (route + xsrf)."""
    with urllib.request.urlopen(base_url + "/", timeout=10) as r:
        jar = [h.split(";", 1)[0] for k, h in r.headers.items() if k.lower() == "set-cookie"]
    return "; ".join(jar)


# ---------------------------------------------------------------- one scenario


@dataclass
class Scenario:
    label: str
    app: Path
    pages: list[str]
    students: int
    fitters: int
    replicas: int = 1


@dataclass
class Outcome:
    scenario: Scenario
    latencies: list[float]
    by_page: dict[str, list[float]]
    fits: list[tuple[float, float]]
    errors: list[str]
    error_alerts: int
    actions: int
    rss_before: int
    rss_peak: int
    rss_after: int
    rss_after_s: float  # seconds after the last session closed when rss_after was read
    server_cpu_s: float
    spread: list[int]  # most connections seen on each replica during the load
    alert_texts: list[str] = field(default_factory=list)
    waits: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)  # page -> (wait s, cut)
    polls: int = 0


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan when empty."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def run_scenario(sc: Scenario, args, workdir: Path) -> Outcome:
    patterns = (re.compile(args.fit_queued, re.I), re.compile(args.fit_done, re.I))
    profile = None
    if args.profile and sc.label == "ours" and sc.replicas == 1:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        profile = Path(args.profile).resolve() / f"ours-N{sc.students}.prof"
    with Stack(sc.app, sc.replicas, workdir, options=args.set_options, profile=profile) as stack:
        # Warm up: one visitor per replica opens every page, as the teacher does before class (imports,
        # caches). Straight to each replica's port: through the proxy the route cookie decides, and a replica
        # left cold would charge its first students for the imports.
        warm = StudentLog()
        for url in stack.replica_urls:
            w = Session(url, timeout=args.timeout)
            w.connect()
            for page in sc.pages:  # following the pages' auto-reruns, so what they poll for is cached too
                act(w, warm, page, time.perf_counter() + args.timeout, lambda page=page, w=w: w.rerun(page))
            w.close()
        time.sleep(2)
        if profile is not None:
            for server in stack.servers:
                server.send_signal(signal.SIGUSR1)  # profiled_server.py: drop the warm-up from the profile
        rss_before = stack.rss()
        cpu0 = _cpu(stack)

        peak = [rss_before]
        spread = [0] * sc.replicas
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                peak[0] = max(peak[0], stack.rss())
                spread[:] = [max(a, b) for a, b in zip(spread, stack.connections(), strict=True)]

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        logs = [StudentLog() for _ in range(sc.students)]
        deadline = time.perf_counter() + args.duration
        threads = []
        for i in range(sc.students):
            ck = sticky_cookie(stack.base_url) if sc.replicas > 1 else ""
            t = threading.Thread(
                target=student,
                args=(stack.base_url, args.seed * 1000 + i, sc.pages, deadline, logs[i]),
                kwargs=dict(
                    fitter=i < sc.fitters,
                    fit_key=args.fit_key,
                    max_actions=args.max_actions,
                    patterns=patterns,
                    timeout=args.timeout,
                    cookies=ck,
                ),
                daemon=True,
            )
            t.start()
            threads.append(t)
        for t in threads:  # a student stops at the deadline; one run in flight may add `timeout`
            t.join(args.duration + 2 * args.timeout + 30)
        stop.set()
        sampler.join()
        cpu_s = _cpu(stack) - cpu0

        # After: poll until RSS is back within RSS_RECOVERY x before, or settle time runs out.
        closed = time.perf_counter()
        rss_after = stack.rss()
        while rss_after > RSS_RECOVERY * rss_before and time.perf_counter() - closed < args.settle:
            time.sleep(2)
            rss_after = stack.rss()
        after_s = time.perf_counter() - closed

    lat, by_page = [], {}
    for log in logs:
        for page, s in log.reruns:
            lat.append(s)
            by_page.setdefault(page or "(main)", []).append(s)
    waits: dict[str, list[tuple[float, bool]]] = {}
    for log in logs:
        for page, w, cut in log.waits:
            waits.setdefault(page or "(main)", []).append((w, cut))
    return Outcome(
        scenario=sc,
        waits=waits,
        polls=sum(log.polls for log in logs),
        latencies=lat,
        by_page=by_page,
        fits=[f for log in logs for f in log.fits],
        errors=[e for log in logs for e in log.errors] + [f"warm-up: {e}" for e in warm.errors],
        error_alerts=sum(log.error_alerts for log in logs),
        alert_texts=[t for log in logs for t in log.alert_texts],
        actions=sum(log.actions for log in logs),
        rss_before=rss_before,
        rss_peak=peak[0],
        rss_after=rss_after,
        rss_after_s=after_s,
        server_cpu_s=cpu_s,
        spread=spread,
    )


def _cpu(stack: Stack) -> float:
    total = 0.0
    for p in stack.servers:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(p.pid).cpu_times()
            total += t.user + t.system
    return total


# ---------------------------------------------------------------- report


def _mib(b: int) -> str:
    return f"{b / 2**20:,.0f}"


def _ms(s: float) -> str:
    return "–" if s != s else f"{s * 1000:,.0f}"


def table(rows: list[tuple[Outcome, Outcome | None]]) -> str:
    head = (
        "| setup | N | fits | ours p50 ms | ours p95 ms | baseline p50 ms | baseline p95 ms | p95 ratio "
        "| fit queue wait p50/max s | fits done | errors | RSS before/peak/after MiB (after at s) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for ours, base in rows:
        sc = ours.scenario
        o95, b95 = pct(ours.latencies, 95), pct(base.latencies, 95) if base else float("nan")
        waits = [w for w, _ in ours.fits]
        wait = f"{pct(waits, 50):.1f} / {max(waits):.1f}" if waits else "–"
        errors = len(ours.errors) + (len(base.errors) if base else 0)
        setup = (
            "1 process"
            if sc.replicas == 1
            else f"{sc.replicas} replicas + nginx ({'+'.join(map(str, ours.spread))})"
        )
        lines.append(
            f"| {setup} | {sc.students} | {sc.fitters} | {_ms(pct(ours.latencies, 50))} | {_ms(o95)} "
            f"| {_ms(pct(base.latencies, 50)) if base else '–'} | {_ms(b95)} "
            f"| {o95 / b95:.2f}× | {wait} | {len(ours.fits)} | {errors} "
            f"| {_mib(ours.rss_before)} / {_mib(ours.rss_peak)} / {_mib(ours.rss_after)} "
            f"({ours.rss_after_s:.0f}) |"
        )
    return "\n".join(lines)


def page_table(outcomes: list[Outcome]) -> str:
    pages = sorted({p for o in outcomes for p in o.by_page})
    lines = ["| N | " + " | ".join(f"{p} p50/p95 ms" for p in pages) + " |", "|---" * (len(pages) + 1) + "|"]
    for o in outcomes:
        cells = [
            f"{_ms(pct(o.by_page.get(p, []), 50))} / {_ms(pct(o.by_page.get(p, []), 95))}" for p in pages
        ]
        setup = "1 process" if o.scenario.replicas == 1 else f"{o.scenario.replicas} replicas"
        lines.append(f"| {o.scenario.students} ({setup}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def wait_table(outcomes: list[Outcome]) -> str:
    """Per page: how long students waited for the page's run_every fragments after an action."""
    pages = sorted({p for o in outcomes for p in o.waits})
    lines = [
        "| N | " + " | ".join(f"{p} p50/p95/max s (polled/actions)" for p in pages) + " |",
        "|---" * (len(pages) + 1) + "|",
    ]
    for o in outcomes:
        cells = []
        for p in pages:
            ws = o.waits.get(p, [])
            vals = [w for w, _ in ws]
            polled = sum(1 for w in vals if w > 0)
            cut = sum(1 for _, c in ws if c)
            cell = (
                f"{pct(vals, 50):.1f} / {pct(vals, 95):.1f} / {max(vals):.1f} ({polled}/{len(vals)})"
                if vals
                else "–"
            )
            cells.append(cell + (f", {cut} cut at the deadline" if cut else ""))
        setup = "1 process" if o.scenario.replicas == 1 else f"{o.scenario.replicas} replicas"
        lines.append(f"| {o.scenario.students} ({setup}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(rows: list[tuple[Outcome, Outcome | None]], args, wall_s: float) -> str:
    cpu = psutil.cpu_count() or 0
    out = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {cpu} cores with `python benchmarks/load_test.py "
        f"{' '.join(sys.argv[1:])}` ({wall_s / 60:.1f} min): {args.duration:.0f} s of load per row, think time "
        f"{THINK_S[0]}–{THINK_S[1]} s, rerun latency = `rerun_script` sent → `script_finished` received "
        "(fit presses, fit polls and run_every auto-reruns excluded: fits are the fit columns, auto-reruns "
        "the wait table). "
        "RSS after = first reading within 15 % of before, or the last one within the settle time.",
        "",
        table(rows),
        "",
        "Rerun latency by page (ours):",
        "",
        page_table([o for o, _ in rows]),
        "",
        "Wait for the page's `run_every` fragments after an action (ours; fit presses excluded): from sending "
        "the action until no fragment is registered any more, 0 when the action's run registered none; "
        "polled = waits above 0:",
        "",
        wait_table([o for o, _ in rows]),
    ]
    if args.profile:
        for o, _ in rows:
            prof = Path(args.profile) / f"ours-N{o.scenario.students}.prof"
            if o.scenario.replicas == 1 and prof.exists():
                out += [
                    "",
                    f"Profile of our script runs at N={o.scenario.students} ({prof}):",
                    "",
                    profile_summary(prof),
                ]
    errs = [e for o, b in rows for e in o.errors + (b.errors if b else [])]
    alerts = sum(o.error_alerts for o, _ in rows)
    if errs:
        out += ["", f"Errors ({len(errs)}, first 10):", ""] + [f"- `{e}`" for e in errs[:10]]
    if alerts:
        texts = [t for o, _ in rows for t in o.alert_texts]
        out += ["", f"st.error alerts shown to students (valid inputs; should be 0): {alerts}, first 5:", ""]
        out += [f"- `{t}`" for t in texts[:5]]
    return "\n".join(out) + "\n"


def profile_summary(path: Path, top: int = 25) -> str:
    """Our functions (and the Streamlit/Plotly calls they make) by cumulative time across all script runs."""
    import io
    import pstats

    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    total = stats.total_tt
    rows = []
    for (file, line, name), (_cc, nc, _tt, ct, callers) in stats.stats.items():
        ours = str(ROOT) in file and "/.venv/" not in file
        called_by_ours = any(str(ROOT) in c[0] and "/.venv/" not in c[0] for c in callers)
        if ours or called_by_ours:
            where = Path(file).relative_to(ROOT) if ours else Path(file).name
            rows.append((ct, nc, f"{where}:{line} {name}"))
    rows.sort(reverse=True)
    lines = [f"    total profiled time {total:.1f} s", "    cumulative s   calls   function"]
    lines += [f"    {ct:12.2f} {nc:7d}   {fn}" for ct, nc, fn in rows[:top]]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def default_fit_key() -> str | None:
    """The Train button's key from lora_ui/keys.py (the Fit section: prefix fit_)."""
    sys.path.insert(0, str(ROOT))
    try:
        from lora_ui import keys
    except Exception:
        return None
    finally:
        sys.path.pop(0)
    names = [n for n in dir(keys) if n.startswith("FIT_") and isinstance(getattr(keys, n), str)]
    for word in ("TRAIN", "START", "RUN", "GO"):
        for n in names:
            if word in n:
                return getattr(keys, n)
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", default="10,20,30", help="comma-separated N values (default 10,20,30)")
    p.add_argument(
        "--fitters",
        type=int,
        default=3,
        help="students who press Train again and again (default 3: the runner runs 2 at once, 1 waits)",
    )
    p.add_argument("--duration", type=float, default=45.0, help="seconds of load per row (default 45)")
    p.add_argument(
        "--settle", type=float, default=RSS_SETTLE_S, help="max seconds to wait for RSS (default 60)"
    )
    p.add_argument("--timeout", type=float, default=60.0, help="max seconds for one rerun (default 60)")
    p.add_argument("--max-actions", type=int, default=200, help="max actions per student (default 200)")
    p.add_argument("--replicas-row", action="store_true", help="add a row: 2 replicas behind nginx at max N")
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline app")
    p.add_argument(
        "--fit-key", default=None, help="widget key of the Train button (default: from lora_ui/keys.py)"
    )
    p.add_argument("--fit-queued", default=FIT_QUEUED_RE, help="regex for the fit page's queued message")
    p.add_argument("--fit-done", default=FIT_DONE_RE, help="regex for the fit page's finished message")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.NAME=VALUE",
        help="a streamlit option for both apps, e.g. runner.postScriptGC=false (repeatable)",
    )
    p.add_argument("--profile", default=None, metavar="DIR", help="cProfile our script runs into DIR/*.prof")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=None, help="also write the markdown report to this file")
    p.add_argument("--json", default=None, help="also write raw figures as JSON to this file")
    args = p.parse_args(argv)
    args.n_values = [int(x) for x in str(args.students).split(",") if x.strip()]
    args.set_options = []
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or "." not in name:
            p.error(f"--set {item!r}: expected section.name=value")
        args.set_options += [f"--{name}", value]
    if not args.n_values or min(args.n_values) < 1 or max(args.n_values) > 200:
        p.error("--students: 1..200 each")
    if args.fit_key is None:
        args.fit_key = default_fit_key()
    if not args.fit_key:
        args.fitters = 0  # no Train button yet: students only move sliders
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    rows: list[tuple[Outcome, Outcome | None]] = []
    raw = []
    with tempfile.TemporaryDirectory(prefix="lora-load-") as tmp:
        workdir = Path(tmp)
        plan = [(n, 1) for n in args.n_values]
        if args.replicas_row:
            plan.append((max(args.n_values), 2))
        for n, replicas in plan:
            fitters = min(args.fitters, n)
            ours = run_scenario(Scenario("ours", ROOT / "app.py", PAGES, n, fitters, replicas), args, workdir)
            print(
                f"ours N={n} replicas={replicas}: {len(ours.latencies)} reruns", file=sys.stderr, flush=True
            )
            base = None
            if not args.no_baseline:
                base = run_scenario(Scenario("baseline", BASELINE_APP, [""], n, 0, replicas), args, workdir)
                print(f"baseline N={n}: {len(base.latencies)} reruns", file=sys.stderr, flush=True)
            rows.append((ours, base))
            raw.append({"ours": _raw(ours), "baseline": _raw(base) if base else None})
        if any(o.errors or (b and b.errors) for o, b in rows):
            for f in workdir.glob("*.log"):  # keep the server logs of a run with errors
                shutil.copy(f, Path(tempfile.gettempdir()) / f"lora-load-{f.name}")
    text = report(rows, args, time.perf_counter() - t_start)
    print(text)
    if args.out:
        write_report(Path(args.out), text)
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2))
    return 0


BEGIN, END = "<!-- load-test:begin -->", "<!-- load-test:end -->"


def write_report(path: Path, text: str) -> None:
    """Put the report between the markers in path (the prose around them stays), or write a new file."""
    block = f"{BEGIN}\n{text}{END}\n"
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        path.write_text(head + block + rest.split(END, 1)[1].lstrip("\n"))
    else:
        path.write_text(old + ("\n" if old else "# Load test\n\n") + block)


def _raw(o: Outcome) -> dict:
    return {
        "label": o.scenario.label,
        "students": o.scenario.students,
        "fitters": o.scenario.fitters,
        "replicas": o.scenario.replicas,
        "p50_s": pct(o.latencies, 50),
        "p95_s": pct(o.latencies, 95),
        "mean_s": statistics.fmean(o.latencies) if o.latencies else None,
        "reruns": len(o.latencies),
        "by_page_p95_s": {p: pct(v, 95) for p, v in o.by_page.items()},
        "waits_s": {p: [w for w, _ in v] for p, v in o.waits.items()},
        "waits_cut": {p: sum(1 for _, c in v if c) for p, v in o.waits.items()},
        "auto_reruns_sent": o.polls,
        "fits": o.fits,
        "errors": o.errors,
        "error_alerts": o.error_alerts,
        "rss_before": o.rss_before,
        "rss_peak": o.rss_peak,
        "rss_after": o.rss_after,
        "rss_after_s": o.rss_after_s,
        "server_cpu_s": o.server_cpu_s,
        "connections_per_replica": o.spread,
    }


if __name__ == "__main__":
    sys.exit(main())
