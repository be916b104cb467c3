#!/usr/bin/env python
"""Load test (`make load`): a class arriving together on a just-started server, next to a one-slider app.

The server is started as the README says (`make run`: `python -m lora_ui.serve`, warmed up before its health
endpoint says ok), on 127.0.0.1 and a free port, from the repository root. The clock starts the moment
`/_stcore/health` says ok (or `--idle-before` seconds later: the server waits for its class, as when a teacher
starts it before the lesson); nobody visits before the class (issue 12, section 5).

Each student is a real Streamlit client: a browser tab's GET of the page, then the websocket
`/_stcore/stream`, speaking the protobufs the browser speaks (they ship with streamlit). It sends
`BackMsg.rerun_script` with a `ClientState` (page, query string, widget states) and reads `ForwardMsg`s until
`script_finished`. Widget ids come from the element protos (`$$ID-<hash>-<user key>`), and widgets are found
by their keys from lora_ui/keys.py; nothing here reads the app's internals.

A class (`--students`, default 30):
- arrives within `--arrival` seconds (3): each student's arrival is uniform in that window after the clock starts;
- opens the link (`/`: the home page; its "first page"), then every other page in the sidebar's order;
- then, with a think time uniform in 1.25-3.75 s (2.5 s on average), moves inputs: a slider or number input
  anywhere, sometimes another input (select box, radio, checkbox, multiselect), one action in five opens
  another page; on Memory, half the actions change the model (preset), method or precision to a combination
  nobody in the class has asked for yet (while any is left);
- 3 students (per replica) also press Train together every `--fit-every` seconds, so that 2 fits run and 1
  waits (the Fit page runs at most 2 at once per process); they train with the page's defaults.

Every student action is one of: first page, open (another page), slider move, Memory change, other input,
Train (the press until the results are drawn, polls included). Their latency is `rerun_script` sent ->
`script_finished` received (the first page: from the GET of `/` on). The same class then visits
benchmarks/baseline_app.py (Streamlit's own floor on this machine, same run), and with `--replicas-row` twice
the class visits two replicas behind nginx (benchmarks/nginx/, sticky sessions), and the baseline likewise.

    python benchmarks/load_test.py --students 30 --replicas-row --out docs/load.md --readme README.md

Quick check (about 2 minutes): python benchmarks/load_test.py --students 4 --duration 20 --settle 5
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lora_ui import keys, serve  # the repository root is on sys.path when this runs as a script
from lora_ui.serve import free_port, wait_healthy  # one server helper for tests and benchmarks

ROOT = Path(__file__).resolve().parents[1]
BASELINE_APP = Path(__file__).resolve().parent / "baseline_app.py"
NGINX_TEMPLATE = Path(__file__).resolve().parent / "nginx" / "nginx.conf.template"
NGINX = os.environ.get("LORA_LAB_NGINX", "/usr/sbin/nginx")

PAGES = ["learn", "matrix", "model", "memory", "fit"]  # url_path of each st.Page in app.py, sidebar order
ARRIVAL_S = 3.0  # "30 students arrive within 3 s" (issue 12, section 5)
THINK_S = (1.25, 3.75)  # "a think time of 2.5 s (uniform 1.25-3.75 s)" (issue 12, section 5)
# "3 of them press Train, so that 2 fits run" (issue 12); lora_ui/fit_runner.py runs 2 at once per process.
FITTERS_PER_REPLICA = 3
FIT_EVERY_S = 20.0  # the fitters press together this often (ours: 2-3 rounds in a 60 s class)
GOAL_FIRST_P95_S = 1.5  # "first page p95 <= 1.5 s" (issue 12, section 5)
GOAL_RERUN_P95_S = 1.0  # "every rerun p95 <= 1.0 s" (issue 12, section 5)
RSS_RECOVERY = 1.15  # "RSS back within 15 % of its start ..." (issue 12, section 5)
RSS_SETTLE_S = 60.0  # "... within a minute" (issue 12, section 5)
ROUTE_COOKIE = "lora_route"  # the sticky-session cookie benchmarks/nginx/nginx.conf.template sets
# Which replica answered: the harness's nginx adds it (nginx_config; not in the template, which is the deploy
# recipe), so that each replica gets its own fitters (Plan.claim_fitter)
REPLICA_HEADER = "X-Lora-Replica"
PROXY_PASS = "proxy_pass http://lora_lab;"  # the template's line the header goes under

# What a student does, as the report names it. FIRST is the page the link opens (before any other action).
FIRST, OPEN, SLIDER, MEMORY, OTHER, TRAIN = (
    "first page", "open", "slider move", "Memory change", "other input", "Train",
)  # fmt: skip
ACTIONS = (FIRST, OPEN, SLIDER, MEMORY, OTHER, TRAIN)
# The Memory page's "new combination" inputs: model (preset), method, precision (issue 12, section 5).
MEMORY_COMBO = (keys.MEM_PRESET, keys.MEM_METHOD, keys.MEM_PRECISION)
MEMORY_PAGE = "memory"
FIT_PAGE = "fit"

# While a fit waits for a free slot the Fit page shows this text (matched case-insensitively; English, the
# default language). Overridable.
FIT_QUEUED_RE = r"queued|in line|waiting"


# ---------------------------------------------------------------- one simulated browser tab


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
        self.replica = ""  # behind nginx: the replica that serves this tab (open_tab), else ""

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
class Rerun:
    """One student action's rerun (or, for Train, the press until the results are drawn)."""

    page: str
    action: str  # one of ACTIONS
    latency_s: float
    sent_s: float  # when it was sent, seconds after the clock started (health ok, + --idle-before)


@dataclass
class FitRecord:
    queued: bool  # the press's run showed the "queued" text: the fit waited for a free slot
    total_s: float  # press -> results drawn
    finished: bool


@dataclass
class StudentLog:
    origin: float = 0.0  # perf_counter() when the clock started (health ok, + --idle-before)
    arrived_s: float | None = None  # when the student opened the link, seconds after the clock started
    reruns: list[Rerun] = field(default_factory=list)  # ok actions
    fits: list[FitRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error_alerts: int = 0
    alert_texts: list[str] = field(default_factory=list)  # page: text of each st.error, for the report
    actions: int = 0
    waits: list[tuple[str, float, bool]] = field(default_factory=list)  # (page, wait s, cut at the deadline)
    polls: int = 0  # auto-reruns sent (run_every timers followed), fit polls included
    replica: str | None = None  # a student who presses Train: the replica that serves it ("" for one process)


def _record(
    log: StudentLog, page: str, r: RunResult, action: str = OPEN, *, sent: float | None = None
) -> None:
    """An action's outcome: its latency when it finished, else an error; st.error boxes are counted apart."""
    log.actions += 1
    if r.ok:
        t0 = sent if sent is not None else time.perf_counter() - r.latency_s
        log.reruns.append(Rerun(page, action, r.latency_s, t0 - log.origin))
    else:
        log.errors.append(f"{page} ({action}): {r.status} {'; '.join(r.exceptions)}"[:400])
    _alerts(log, page, r)


def _alerts(log: StudentLog, page: str, r: RunResult) -> None:
    log.error_alerts += len(r.error_alerts)
    log.alert_texts.extend(f"{page}: {text}"[:300] for text in r.error_alerts)


MAX_POLLS = 2000  # auto-reruns one wait may send (with the deadline, bounds the loop)


def follow_auto_reruns(
    s: Session, log: StudentLog, page: str, deadline: float
) -> tuple[bool, RunResult | None]:
    """Re-send each registered run_every fragment at its interval, as the frontend's timers do, until none is
    registered (a full run no longer registers any) or the deadline. Returns (finished, last poll result).

    The frontend keeps one setInterval per fragment; a synchronous client sends the one due first. The
    polls' latencies are not action latencies (a timer, not a student, waits for them); failures are errors."""
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
            log.errors.append(f"{page} (poll): {last.status} {'; '.join(last.exceptions)}"[:400])
            return False, last
        _alerts(log, page, last)
        due[frag] = max(due[frag] + s.auto_reruns.get(frag, 0.0), time.perf_counter())
    return False, last


def act(s: Session, log: StudentLog, page: str, deadline: float, send, action: str = OPEN) -> RunResult:
    """One student action (send() -> its RunResult), then the auto-reruns it leaves running.

    The action's own rerun is its latency; the wait is from sending it until no run_every fragment is
    registered any more (0 when the action's run left none)."""
    t0 = time.perf_counter()
    r = send()
    _record(log, page, r, action, sent=t0)
    if r.ok:
        if not s.auto_reruns:
            log.waits.append((page, 0.0, False))
        else:
            finished, _ = follow_auto_reruns(s, log, page, deadline)
            log.waits.append((page, time.perf_counter() - t0, not finished))
    return r


def run_fit(s: Session, train: Widget, log: StudentLog, timeout: float, queued_re: re.Pattern) -> None:
    """Press Train, then follow the page's auto-reruns (as the frontend does) until the results are drawn:
    a full run that registers no run_every fragment. That whole time is the Train action's latency."""
    t0 = time.perf_counter()
    r = s.rerun(trigger=train)
    queued = r.ok and any(queued_re.search(t) for t in r.texts)
    finished = r.ok and not s.auto_reruns
    if r.ok and not finished:
        _alerts(log, FIT_PAGE, r)
        finished, last = follow_auto_reruns(s, log, FIT_PAGE, t0 + timeout)
        if last is not None and not last.ok:  # follow_auto_reruns logged the error
            log.fits.append(FitRecord(queued, time.perf_counter() - t0, False))
            return
        r = RunResult(time.perf_counter() - t0, "FINISHED_SUCCESSFULLY" if finished else "timeout")
    _record(log, FIT_PAGE, r, TRAIN, sent=t0)
    log.fits.append(FitRecord(queued, time.perf_counter() - t0, finished))


# ---------------------------------------------------------------- what a student does


def classify(page: str, widget: Widget, train_key: str | None = keys.FIT_TRAIN) -> str:
    """The action a change of this widget is, for the report (see ACTIONS)."""
    key = user_key(widget.id)
    if page == MEMORY_PAGE and key in MEMORY_COMBO:
        return MEMORY
    if train_key is not None and key == train_key:
        return TRAIN
    if widget.kind in ("slider", "number_input"):
        return SLIDER
    return OTHER


def current_choice(s: Session, widget: Widget) -> str | None:
    """The option a select box or radio shows now: what this tab last sent, else what the server drew."""
    state = s.states.get(widget.id)
    if state is not None and state.WhichOneof("value") == "string_value":
        return state.string_value
    p = widget.proto
    if getattr(p, "set_value", False) and p.raw_value:
        return p.raw_value
    if 0 <= p.default < len(p.options):
        return p.options[p.default]
    return None


class Combos:
    """The (preset, method, precision) combinations the class has had the Memory page show, shared by every
    student of one scenario, so that a Memory change asks for one nobody has asked for yet while any is left."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def current(self, s: Session) -> tuple[dict[str, Widget], tuple[str, ...]] | None:
        widgets = {k: s.widgets.get(k) for k in MEMORY_COMBO}
        if any(w is None or getattr(w.proto, "disabled", False) for w in widgets.values()):
            return None
        now = tuple(current_choice(s, widgets[k]) for k in MEMORY_COMBO)
        return (widgets, now) if None not in now else None

    def note(self, s: Session) -> None:
        """The combination this tab shows now (a page open draws one) counts as asked for."""
        cur = self.current(s)
        if cur is not None:
            with self._lock:
                self.seen.add(cur[1])

    def pick(self, s: Session, rng: random.Random) -> tuple[Widget, str] | None:
        """One widget change (widget, new option) that makes a combination nobody has asked for, if any is
        left (else any change of the three); marks it asked for. None when the widgets are not on the page."""
        cur = self.current(s)
        if cur is None:
            return None
        widgets, now = cur
        moves: dict[str, list[tuple[str, tuple[str, ...]]]] = {}  # key -> [(option, combination)]
        for i, k in enumerate(MEMORY_COMBO):
            for option in widgets[k].proto.options:
                if option != now[i]:
                    moves.setdefault(k, []).append((option, (*now[:i], option, *now[i + 1 :])))
        if not moves:
            return None
        with self._lock:
            fresh = {k: [m for m in ms if m[1] not in self.seen] for k, ms in moves.items()}
            fresh = {k: ms for k, ms in fresh.items() if ms} or moves
            k = rng.choice(sorted(fresh))  # model, method or precision alike, then one of its options
            option, combo = rng.choice(fresh[k])
            self.seen.add(combo)
        return widgets[k], option


@dataclass
class Plan:
    """What one scenario's students share: the clock, the schedule, the class's Memory combinations."""

    base_url: str
    pages: list[str]
    origin: float  # perf_counter() when the clock starts (health ok, + --idle-before)
    offsets: list[float]  # each student's arrival, seconds after origin
    deadline: float  # perf_counter() when students stop starting actions
    fitters: int  # students who press Train: with replicas, `fitters_per_replica` on each (claim_fitter)
    fit_rounds: list[float]  # perf_counter() times at which the fitters press Train together
    timeout: float
    max_actions: int
    seed: int
    queued_re: re.Pattern = re.compile(FIT_QUEUED_RE, re.I)
    combos: Combos = field(default_factory=Combos)
    train_key: str | None = keys.FIT_TRAIN
    fitters_per_replica: int = 0  # with replicas: the first this many students on each replica press Train
    _claimed: dict[str, int] = field(default_factory=dict)  # replica -> fitters it has
    _claim_lock: threading.Lock = field(default_factory=threading.Lock)

    def claim_fitter(self, i: int, replica: str) -> bool:
        """Whether student i presses Train. One process: the first `fitters` students. Replicas: the first
        `fitters_per_replica` students that reach each replica (nginx's route cookie places students at
        random: six fitters by index landed 4 + 2 on two replicas, so that 2 Train presses on one waited
        for a fit slot, against the issue's "3 press Train, so that 2 fits run" per 30 students)."""
        if not self.fitters_per_replica or not replica:
            return i < self.fitters
        with self._claim_lock:
            taken = self._claimed.get(replica, 0)
            if taken >= self.fitters_per_replica:
                return False
            self._claimed[replica] = taken + 1
            return True


def _per_replica(logs: list[StudentLog], replica_urls: list[str]) -> list[int]:
    """How many Train pressers each replica got, in the order of the servers (as `Stack.connections`)."""
    counts = Counter(log.replica for log in logs if log.replica is not None)
    return [counts.get(url.removeprefix("http://"), 0) for url in replica_urls]


def arrival_offsets(n: int, window: float, rng: random.Random) -> list[float]:
    """Each of n students' arrival, seconds after the clock starts: uniform in [0, window]."""
    return [rng.uniform(0.0, window) for _ in range(n)]


def fit_rounds(origin: float, duration: float, every: float, first: float) -> list[float]:
    """When the fitters press Train together: at `first` s after the clock started, then every `every` s,
    while the class lasts (perf_counter() times)."""
    t = first
    out = []
    while t < duration:
        out.append(origin + t)
        t += every
    return out


def open_tab(base_url: str, timeout: float) -> Session:
    """What a browser does with the link: GET the page (keeping its cookies: nginx's route, Streamlit's
    XSRF token), then open the websocket with them."""
    with urllib.request.urlopen(base_url + "/", timeout=timeout) as r:
        r.read()
        jar = [h.split(";", 1)[0] for k, h in r.headers.items() if k.lower() == "set-cookie"]
        # behind nginx: the replica the route cookie sticks to (after a retry nginx lists every upstream it
        # tried, "a, b": the last one answered)
        replica = r.headers.get(REPLICA_HEADER, "").split(",")[-1].strip()
    s = Session(base_url, timeout=timeout, cookies="; ".join(jar))
    s.replica = replica
    s.connect()
    return s


def _think(rng: random.Random) -> None:
    time.sleep(rng.uniform(*THINK_S))


def student(plan: Plan, i: int, log: StudentLog) -> None:
    """One student: arrives, opens the link, every other page, then moves inputs until the deadline."""
    rng = random.Random(plan.seed * 1000 + i)
    log.origin = plan.origin
    time.sleep(max(0.0, plan.origin + plan.offsets[i] - time.perf_counter()))
    t0 = time.perf_counter()
    log.arrived_s = t0 - plan.origin
    first = plan.pages[0]
    try:
        s = open_tab(plan.base_url, plan.timeout)
        s.page = ""  # the link opens "/": the default page
        r = s.rerun()
    except Exception as exc:
        log.actions += 1
        log.errors.append(f"{first} ({FIRST}): {type(exc).__name__}: {exc}"[:300])
        return
    r.latency_s = time.perf_counter() - t0  # the first page counts from the GET of the link
    _record(log, first, r, FIRST, sent=t0)
    if plan.fitters_per_replica and not s.replica:  # the harness's nginx names the replica: a bug if not
        log.errors.append(f"{first}: no {REPLICA_HEADER} header from nginx: Train pressers chosen by index")
    fitter = plan.claim_fitter(i, s.replica)
    log.replica = s.replica if fitter else None
    rounds = list(plan.fit_rounds) if fitter else []
    try:
        if r.ok and s.auto_reruns:
            follow_auto_reruns(s, log, first, plan.deadline)
        for page in plan.pages[1:]:  # every other page once, in the sidebar's order
            _think(rng)
            if time.perf_counter() > plan.deadline:
                return
            _open(s, log, page, plan)
        while log.actions < plan.max_actions:
            _think(rng)
            now = time.perf_counter()
            if now > plan.deadline:
                return
            rounds = [t for t in rounds if t > now - THINK_S[1]]  # a round missed by far is skipped
            if rounds and now >= rounds[0] - THINK_S[1]:
                _train(s, log, plan, rounds.pop(0))
            elif len(plan.pages) > 1 and rng.random() < 0.2:
                _open(s, log, _elsewhere(s, plan, rng), plan)
            else:
                _move(s, log, plan, rng, fitter)
    finally:
        s.close()


def _here(s: Session, plan: Plan) -> str:
    """The page the tab shows: the one it opened, or the default page for the link's "/"."""
    return s.page or plan.pages[0]


def _elsewhere(s: Session, plan: Plan, rng: random.Random) -> str:
    return rng.choice([p for p in plan.pages if p != _here(s, plan)])


def page_name(page: str, pages: list[str] = PAGES) -> str:
    """What the browser sends to open a page: its url_path, "" for the default page (app.py's first
    st.Page, `default=True`, lives at "/"; its own url_path would be answered with page_not_found)."""
    return "" if page == pages[0] else page


def _open(s: Session, log: StudentLog, page: str, plan: Plan) -> None:
    act(s, log, page, plan.deadline, lambda: s.rerun(page_name(page, plan.pages)), OPEN)
    if page == MEMORY_PAGE:
        plan.combos.note(s)


def _train(s: Session, log: StudentLog, plan: Plan, at: float) -> None:
    """Go to the Fit page if needed, and press Train at the round's time, with the other fitters."""
    if _here(s, plan) != FIT_PAGE:
        _open(s, log, FIT_PAGE, plan)
    train = s.widgets.get(plan.train_key) if plan.train_key else None
    if train is None:
        log.errors.append(f"fit: no widget with key {plan.train_key!r} on the Fit page")
        return
    time.sleep(max(0.0, at - time.perf_counter()))
    run_fit(s, train, log, plan.timeout, plan.queued_re)


def _move(s: Session, log: StudentLog, plan: Plan, rng: random.Random, fitter: bool) -> None:
    """Change one input on the current page; on Memory, half the time to a new (preset, method, precision)."""
    page = _here(s, plan)
    if page == MEMORY_PAGE and rng.random() < 0.5:
        pick = plan.combos.pick(s, rng)
        if pick is not None:
            w, option = pick
            act(s, log, page, plan.deadline, lambda: s.move(w, "string_value", option), MEMORY)
            return
    skip = set(MEMORY_COMBO) if page == MEMORY_PAGE else set()
    movable = [
        (w, v)
        for w, v in _movable(s, rng)
        if user_key(w.id) not in skip and not (fitter and page == FIT_PAGE)
    ]  # fitters train with the page's defaults
    if not movable:
        if len(plan.pages) > 1:
            _open(s, log, _elsewhere(s, plan, rng), plan)
        return
    w, (value_field, value) = rng.choice(movable)
    act(s, log, page, plan.deadline, lambda: s.move(w, value_field, value), classify(page, w, plan.train_key))


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


def server_command(app: Path, port: int, python: str = sys.executable, options: list[str] = ()) -> list[str]:
    """How a server is started. Ours exactly as `make run` starts it (Makefile `run`, what the README
    says: `python -m lora_ui.serve --server.port PORT --server.address HOST`); the baseline with
    `streamlit run`. options: extra `--section.name value` pairs (`--set`)."""
    opts = ["--server.port", str(port), "--server.address", "127.0.0.1", *options]
    if Path(app).resolve() == serve.APP:
        return serve.command(python, *opts)
    return [python, "-m", "streamlit", "run", str(app), *opts]


def start_streamlit(
    app: Path, port: int, log_path: Path, *, options: list[str] = (), profile: Path | None = None
) -> subprocess.Popen:
    """A server started from the repository root, so .streamlit/config.toml applies to ours and the baseline.

    profile: write a cProfile of every script run there (benchmarks/profiled_server.py, which starts ours
    through lora_ui.serve too)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", STREAMLIT_CLIENT_SHOW_ERROR_DETAILS="full")
    cmd = server_command(app, port, options=list(options))
    if profile is not None:
        profiled = [
            sys.executable,
            str(Path(__file__).resolve().parent / "profiled_server.py"),
            "run",
            str(app),
        ]
        cmd = profiled + cmd[cmd.index("--server.port") :]
        env["LORA_LAB_PROFILE"] = str(profile)
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
        .replace(PROXY_PASS, f"{PROXY_PASS}\n            add_header {REPLICA_HEADER} $upstream_addr always;")
    )


class Stack:
    """One streamlit process, or `replicas` of them behind nginx; stopped on exit.

    healthy_at: perf_counter() when the whole stack first answered its health check (every replica, then
    nginx): the clock of a scenario starts there. health_s: seconds from starting the servers to then."""

    def __init__(
        self, app: Path, replicas: int, workdir: Path, *, options: list[str] = (), profile: Path | None = None
    ) -> None:
        self.app, self.replicas, self.workdir = app, replicas, workdir
        self.options, self.profile = list(options), profile
        self.procs: list[subprocess.Popen] = []
        self.servers: list[subprocess.Popen] = []
        self.base_url = ""
        self.healthy_at = 0.0
        self.health_s = 0.0

    def __enter__(self) -> Stack:
        ports = [free_port() for _ in range(self.replicas)]
        self.replica_urls = [f"http://127.0.0.1:{port}" for port in ports]
        started = time.perf_counter()
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
                self.healthy_at = wait_healthy(f"http://127.0.0.1:{port}", self.servers, 300.0, poll_s=0.05)
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
                self.healthy_at = wait_healthy(self.base_url, self.procs, 20.0, poll_s=0.05)
        except BaseException:
            self.__exit__()
            raise
        self.health_s = self.healthy_at - started
        return self

    def rss(self) -> int:
        """Resident memory of the streamlit processes (and their children: fit workers), bytes."""
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


# ---------------------------------------------------------------- one scenario


@dataclass
class Scenario:
    label: str  # "ours" | "baseline"
    app: Path
    pages: list[str]
    students: int
    fitters: int
    replicas: int = 1


@dataclass
class Outcome:
    scenario: Scenario
    origin: float  # perf_counter() when the clock started (health ok, + --idle-before): the clock's zero
    reruns: list[Rerun]
    fits: list[FitRecord]
    errors: list[str]
    error_alerts: int
    actions: int
    rss_start: int  # at health ok
    rss_peak: int
    rss_after: int
    rss_after_s: float  # seconds after the last student left when rss_after was read
    server_cpu_s: float  # the servers and their fit workers, during the class
    harness_cpu_s: float  # this process (every student's client), during the class: it shares the machine
    spread: list[int]  # most connections seen on each replica during the load
    health_s: float  # servers started -> health ok
    arrivals: list[float]  # when each student opened the link, seconds after the clock started
    load_before: tuple[float, float, float]  # os.getloadavg() just before the servers were started
    started: str  # local time the scenario started
    alert_texts: list[str] = field(default_factory=list)
    waits: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)  # page -> (wait s, cut)
    polls: int = 0
    fitters_per_replica: list[int] = field(default_factory=list)  # students who press Train, as `spread`
    idle_before: float = 0.0  # seconds from health ok to the clock's start (--idle-before)

    def latencies(
        self, *, action: str | None = None, page: str | None = None, first: bool = True
    ) -> list[float]:
        return [
            r.latency_s
            for r in self.reruns
            if (action is None or r.action == action)
            and (page is None or r.page == page)
            and (first or r.action != FIRST)
        ]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan when empty."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def run_scenario(sc: Scenario, args, workdir: Path) -> Outcome:
    """Start the servers, wait for health ok (the clock starts), let the class in, wait for RSS to settle."""
    profile = None
    if args.profile and sc.label == "ours" and sc.replicas == 1:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        profile = Path(args.profile).resolve() / f"ours-N{sc.students}.prof"
    load_before = os.getloadavg()
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    with Stack(sc.app, sc.replicas, workdir, options=args.set_options, profile=profile) as stack:
        rss_start = stack.rss()
        idle = args.idle_before if sc.label == "ours" else 0.0  # the one-slider baseline has nothing to reap
        time.sleep(idle)  # the server waits for its class, as when a teacher starts it before the lesson
        origin = stack.healthy_at + idle  # the clock: no visitor before it
        if profile is not None:
            for server in stack.servers:
                server.send_signal(signal.SIGUSR1)  # profiled_server.py: drop the warm-up from the profile
        cpu0 = _cpu(stack)
        harness0 = sum(psutil.Process().cpu_times()[:2])
        spies = start_py_spy(args.py_spy, stack, sc, args.duration + 5) if sc.label == "ours" else []
        rng = random.Random(args.seed)
        plan = Plan(
            base_url=stack.base_url,
            pages=sc.pages,
            origin=origin,
            offsets=arrival_offsets(sc.students, args.arrival, rng),
            deadline=origin + args.duration,
            fitters=sc.fitters,
            # The first round once every student has had time to open every page (the latest arrival and
            # the longest think time before each page), so that the fitters press it together.
            fit_rounds=fit_rounds(
                origin, args.duration, args.fit_every, args.arrival + len(sc.pages) * THINK_S[1]
            )
            if sc.fitters
            else [],
            timeout=args.timeout,
            max_actions=args.max_actions,
            seed=args.seed,
            queued_re=re.compile(args.fit_queued, re.I),
            train_key=args.fit_key,
            fitters_per_replica=sc.fitters // sc.replicas if sc.replicas > 1 else 0,
        )
        peak = [rss_start]
        spread = [0] * sc.replicas
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                peak[0] = max(peak[0], stack.rss())
                spread[:] = [max(a, b) for a, b in zip(spread, stack.connections(), strict=True)]

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        logs = [StudentLog(origin=origin) for _ in range(sc.students)]
        threads = [
            threading.Thread(target=student, args=(plan, i, logs[i]), daemon=True) for i in range(sc.students)
        ]
        for t in threads:
            t.start()
        for t in threads:  # a student stops at the deadline; one action in flight may add `timeout`
            t.join(max(1.0, plan.deadline - time.perf_counter()) + 2 * args.timeout + 30)
        stop.set()
        sampler.join()
        cpu_s = _cpu(stack) - cpu0
        harness_s = sum(psutil.Process().cpu_times()[:2]) - harness0
        for spy in spies:
            spy.wait()

        # After: poll until RSS is back within RSS_RECOVERY x its start, or the settle time runs out.
        closed = time.perf_counter()
        rss_after = stack.rss()
        while rss_after > RSS_RECOVERY * rss_start and time.perf_counter() - closed < args.settle:
            time.sleep(2)
            rss_after = stack.rss()
        after_s = time.perf_counter() - closed

    waits: dict[str, list[tuple[float, bool]]] = {}
    for log in logs:
        for page, w, cut in log.waits:
            waits.setdefault(page, []).append((w, cut))
    return Outcome(
        scenario=sc,
        origin=origin,
        reruns=[r for log in logs for r in log.reruns],
        fits=[f for log in logs for f in log.fits],
        fitters_per_replica=_per_replica(logs, stack.replica_urls) if sc.replicas > 1 else [],
        idle_before=idle,
        errors=[e for log in logs for e in log.errors],
        error_alerts=sum(log.error_alerts for log in logs),
        alert_texts=[t for log in logs for t in log.alert_texts],
        actions=sum(log.actions for log in logs),
        rss_start=rss_start,
        rss_peak=peak[0],
        rss_after=rss_after,
        rss_after_s=after_s,
        server_cpu_s=cpu_s,
        harness_cpu_s=harness_s,
        spread=spread,
        health_s=stack.health_s,
        arrivals=[log.arrived_s for log in logs if log.arrived_s is not None],
        load_before=load_before,
        started=started,
        waits=waits,
        polls=sum(log.polls for log in logs),
    )


def py_spy_files(directory: str, sc: Scenario) -> str:
    return f"{directory}/ours-N{sc.students}-x{sc.replicas}"


def start_py_spy(directory: str | None, stack: Stack, sc: Scenario, seconds: float) -> list[subprocess.Popen]:
    """Sample every server process with py-spy (if asked, and on PATH) for the class: only the thread that
    holds the GIL (`--gil`), so the samples say what occupies each interpreter, the resource every
    student's rerun queues for. Raw collapsed stacks go to DIR/ours-N<students>-x<replicas>-<pid>.txt."""
    exe = shutil.which("py-spy")
    if not directory or not exe:
        if directory:
            print("py-spy not on PATH: no sampling (pip install py-spy)", file=sys.stderr)
        return []
    Path(directory).mkdir(parents=True, exist_ok=True)
    out = []
    for p in stack.servers:
        cmd = [
            exe,
            "record",
            "--pid",
            str(p.pid),
            "--rate",
            "100",
            "--format",
            "raw",
            "--gil",
            "--nonblocking",
        ]
        cmd += ["--duration", str(int(seconds)), "-o", f"{py_spy_files(directory, sc)}-{p.pid}.txt"]
        out.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return out


def _ours(frame: str) -> bool:
    """Whether a py-spy frame, `function (path:line)`, is our code. py-spy shortens paths to the sys.path
    entry they were found under: app.py, pages' file names, lora_ui/..., lora_core/..."""
    path = re.sub(r":\d+$", "", frame.rpartition(" (")[2].rstrip(")"))
    pages = {"app.py", *(p.name for p in (ROOT / "pages").glob("*.py"))}
    return path in pages or path.startswith(("pages/", "lora_ui/", "lora_core/"))


def py_spy_summary(paths: list[Path], top: int = 20) -> str:
    """The GIL holder's time by function: inclusive (our code only) and self (any code), over every sampled
    process, in seconds at py-spy's 100 Hz."""
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")[1:]]  # no thread, no line numbers
            for f in {f for f in frames if _ours(f)}:
                inclusive[f] = inclusive.get(f, 0) + n
            if frames:
                leaf[frames[-1]] = leaf.get(frames[-1], 0) + n
    lines = [f"    {total / 100:.1f} s with the GIL held (sampled); inclusive, our code:"]
    lines += [f"    {n / 100:8.2f} s  {f}" for f, n in sorted(inclusive.items(), key=lambda x: -x[1])[:top]]
    lines += ["    self time, any code:"]
    lines += [f"    {n / 100:8.2f} s  {f}" for f, n in sorted(leaf.items(), key=lambda x: -x[1])[:top]]
    return "\n".join(lines)


def _cpu(stack: Stack) -> float:
    total = 0.0
    for p in stack.servers:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(p.pid)
            for q in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = q.cpu_times()
                    total += t.user + t.system
    return total


# ---------------------------------------------------------------- report


def _mib(b: int) -> str:
    return f"{b / 2**20:,.0f}"


def _ms(s: float) -> str:
    return "–" if s != s else f"{s * 1000:,.0f}"


def cell(values: list[float]) -> str:
    """p50 / p95 in ms and the count, or a dash when there are none."""
    if not values:
        return "–"
    return f"{_ms(pct(values, 50))} / {_ms(pct(values, 95))} ({len(values)})"


def setup_name(sc: Scenario) -> str:
    return "1 process" if sc.replicas == 1 else f"{sc.replicas} replicas + nginx"


def goals(o: Outcome) -> list[str]:
    """The issue's goals this outcome misses (empty: all met). Every action after the first page (Train
    included) must have its p95 within GOAL_RERUN_P95_S."""
    missed = []
    first = o.latencies(action=FIRST)
    if not first or pct(first, 95) > GOAL_FIRST_P95_S:
        missed.append(f"first page p95 > {GOAL_FIRST_P95_S:g} s")
    for action in ACTIONS[1:]:
        v = o.latencies(action=action)
        if v and pct(v, 95) > GOAL_RERUN_P95_S:
            missed.append(f"{action} p95 > {GOAL_RERUN_P95_S:g} s")
    if o.errors:
        missed.append(f"{len(o.errors)} errors")
    if o.rss_after > RSS_RECOVERY * o.rss_start:
        missed.append(f"RSS not back within {RSS_RECOVERY - 1:.0%} in {RSS_SETTLE_S:.0f} s")
    return missed


def summary_table(rows: list[tuple[Outcome, Outcome | None]]) -> str:
    """One row per setup (ours), with the baseline app's figures for the same class beside it."""
    head = (
        "| setup | students | first page p50 / p95 ms | every rerun after it p50 / p95 ms "
        "| worst action p95 ms | baseline first page / rerun p95 ms | fits (queued) | errors "
        "| RSS start / peak / after MiB (after at s) | goals |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for o, b in rows:
        sc = o.scenario
        first, rest = o.latencies(action=FIRST), o.latencies(first=False)
        worst = max(
            ((pct(o.latencies(action=a), 95), a) for a in ACTIONS[1:] if o.latencies(action=a)), default=None
        )
        base = (
            f"{_ms(pct(b.latencies(action=FIRST), 95))} / {_ms(pct(b.latencies(first=False), 95))}"
            if b
            else "–"
        )
        queued = sum(1 for f in o.fits if f.queued)
        missed = goals(o)
        lines.append(
            f"| {setup_name(sc)} | {sc.students} "
            f"| {_ms(pct(first, 50))} / {_ms(pct(first, 95))} | {_ms(pct(rest, 50))} / {_ms(pct(rest, 95))} "
            f"| {f'{_ms(worst[0])} ({worst[1]})' if worst else '–'} | {base} "
            f"| {sum(f.finished for f in o.fits)} ({queued}) | {len(o.errors) + (len(b.errors) if b else 0)} "
            f"| {_mib(o.rss_start)} / {_mib(o.rss_peak)} / {_mib(o.rss_after)} ({o.rss_after_s:.0f}) "
            f"| {'met' if not missed else 'missed: ' + '; '.join(missed)} |"
        )
    return "\n".join(lines)


def action_table(o: Outcome, base: Outcome | None) -> str:
    """Rows: pages, every page, the baseline app; columns: actions; cells: p50 / p95 ms (count)."""
    cols = [*ACTIONS, "every rerun after the first page"]
    lines = [
        "| page | " + " | ".join(f"{c} p50 / p95 ms (n)" for c in cols) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]

    def row(name: str, out: Outcome, page: str | None) -> str:
        cells = [cell(out.latencies(action=a, page=page)) for a in ACTIONS]
        cells.append(cell(out.latencies(page=page, first=False)))
        return f"| {name} | " + " | ".join(cells) + " |"

    for page in o.scenario.pages:
        lines.append(row(page, o, page))
    lines.append(row("**every page**", o, None))
    if base is not None:
        lines.append(row("baseline app (one slider)", base, None))
    return "\n".join(lines)


def machine() -> str:
    """The machine, in words: CPU model, cores, memory, OS."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{psutil.cpu_count() or 0} cores ({model or platform.machine()}), {mem:,.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def _load(avg: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.2f}" for x in avg)


def report(
    rows: list[tuple[Outcome, Outcome | None]], args, wall_s: float, load_before: tuple[float, float, float]
) -> str:
    when = rows[0][0].started if rows else datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    waited = f" + {args.idle_before:g} s (--idle-before: the server waits for its class)" if args.idle_before else ""
    out = [
        f"Measured {when} on {machine()}; load average before the run {_load(load_before)} (1 / 5 / 15 min). "
        f"`python benchmarks/load_test.py {' '.join(sys.argv[1:]) if args.argv is None else ' '.join(args.argv)}` "
        f"({wall_s / 60:.1f} min). Each setup starts cold (`make run`'s command); the clock starts at health "
        f"ok{waited}; the class arrives within {args.arrival:g} s; {args.duration:g} s of class; think time "
        f"{THINK_S[0]}–{THINK_S[1]} s; Train pressed by {args.fitters} students per replica together "
        f"every {args.fit_every:g} s.",
        "",
        summary_table(rows),
        "",
        f"Goals (issue 12): first page p95 ≤ {GOAL_FIRST_P95_S:g} s; every action's p95 ≤ "
        f"{GOAL_RERUN_P95_S:g} s; zero errors; RSS back within {RSS_RECOVERY - 1:.0%} of its start within "
        f"{RSS_SETTLE_S:.0f} s. Fits: finished Train presses (in brackets: those that waited for a slot).",
    ]
    for o, b in rows:
        sc = o.scenario
        spread = f", students per replica {' + '.join(map(str, o.spread))}" if sc.replicas > 1 else ""
        if sc.replicas > 1 and o.fitters_per_replica:
            spread += f", of whom press Train {' + '.join(map(str, o.fitters_per_replica))}"
        clock = f"the clock (health ok + {o.idle_before:g} s)" if o.idle_before else "health ok"
        base = (
            f"; baseline: health ok after {b.health_s:.1f} s, load before {_load(b.load_before)}" if b else ""
        )
        out += [
            "",
            f"**{setup_name(sc)}, {sc.students} students** ({o.started}; load average before it "
            f"{_load(o.load_before)}; health ok {o.health_s:.1f} s after start; arrivals "
            f"{min(o.arrivals, default=float('nan')):.2f}–{max(o.arrivals, default=float('nan')):.2f} s after "
            f"{clock}{spread}; CPU: servers {o.server_cpu_s:.0f} s, this harness {o.harness_cpu_s:.0f} s{base}):",
            "",
            action_table(o, b),
        ]
    waits = [(o, p, ws) for o, _ in rows for p, ws in o.waits.items() if any(w > 0 for w, _ in ws)]
    if waits:
        out += [
            "",
            "Waits for `run_every` fragments after an action (s; the Memory page should have none):",
            "",
        ]
        for o, page, ws in waits:
            vals = [w for w, _ in ws]
            out.append(
                f"- {setup_name(o.scenario)} × {o.scenario.students}, {page}: {sum(1 for v in vals if v > 0)} "
                f"of {len(vals)} actions, p95 {pct(vals, 95):.1f}, max {max(vals):.1f}"
            )
    if args.profile:
        for o, _ in rows:
            prof = Path(args.profile) / f"ours-N{o.scenario.students}.prof"
            if o.scenario.replicas == 1 and o.scenario.label == "ours" and prof.exists():
                out += ["", f"Profile of our script runs at N={o.scenario.students} ({prof}):", ""]
                out += [profile_summary(prof)]
    if args.py_spy:
        for o, _ in rows:
            files = sorted(
                Path(args.py_spy).glob(Path(py_spy_files(args.py_spy, o.scenario)).name + "-*.txt")
            )
            if files:
                out += ["", f"py-spy, {setup_name(o.scenario)} × {o.scenario.students} ({args.py_spy}):", ""]
                out += [py_spy_summary(files)]
    errs = [e for o, b in rows for e in o.errors + (b.errors if b else [])]
    if errs:
        out += ["", f"Errors ({len(errs)}, first 10):", ""] + [f"- `{e}`" for e in errs[:10]]
    alerts = sum(o.error_alerts for o, _ in rows)
    if alerts:
        texts = [t for o, _ in rows for t in o.alert_texts]
        out += [
            "",
            f"st.error boxes shown for the students' inputs (counted apart from errors): {alerts}, first 5:",
            "",
        ]
        out += [f"- `{t}`" for t in texts[:5]]
    return "\n".join(out) + "\n"


def readme_block(rows: list[tuple[Outcome, Outcome | None]], load_before: tuple[float, float, float]) -> str:
    """The README's published figure: the summary table with the date, the machine and the load before."""
    when = rows[0][0].started if rows else ""
    return (
        f"Measured {when} on {machine()}, load average before the run {_load(load_before)} "
        "(`make load`; per page and per action in [docs/load.md](docs/load.md)):\n\n"
        + summary_table(rows)
        + "\n"
    )


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--students", default="30", help="comma-separated class sizes, one process each (default 30)"
    )
    p.add_argument(
        "--replicas-row",
        action="store_true",
        help="add a row: 2 replicas behind nginx, twice the largest class (default: 60 students)",
    )
    p.add_argument("--replica-students", type=int, default=None, help="students of the replicas row")
    p.add_argument(
        "--fitters",
        type=int,
        default=FITTERS_PER_REPLICA,
        help=f"students per replica who press Train (default {FITTERS_PER_REPLICA}: 2 fits run, 1 waits)",
    )
    p.add_argument("--fit-every", type=float, default=FIT_EVERY_S, help="seconds between Train rounds (20)")
    p.add_argument("--arrival", type=float, default=ARRIVAL_S, help="seconds the class takes to arrive (3)")
    p.add_argument(
        "--idle-before",
        type=float,
        default=0.0,
        help="seconds the server waits after health ok before the class arrives (default 0): a teacher starts it "
        "before the lesson, and worker pools that reap idle workers have reaped them by then",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=60.0,
        help="seconds of class from the clock's start (health ok, + --idle-before; default 60)",
    )
    p.add_argument(
        "--settle", type=float, default=RSS_SETTLE_S, help="max seconds to wait for RSS (default 60)"
    )
    p.add_argument("--timeout", type=float, default=60.0, help="max seconds for one action (default 60)")
    p.add_argument("--max-actions", type=int, default=200, help="max actions per student (default 200)")
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline app")
    p.add_argument("--fit-key", default=keys.FIT_TRAIN, help="widget key of the Train button")
    p.add_argument("--fit-queued", default=FIT_QUEUED_RE, help="regex for the Fit page's queued message")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.NAME=VALUE",
        help="a streamlit option for both apps, e.g. runner.postScriptGC=true (repeatable)",
    )
    p.add_argument(
        "--profile",
        default=None,
        metavar="DIR",
        help="cProfile our script runs into DIR/*.prof (slows every run: not for the published figures)",
    )
    p.add_argument(
        "--py-spy",
        default=None,
        metavar="DIR",
        help="sample our servers with py-spy (on PATH) during the class, GIL holder only, into DIR",
    )
    p.add_argument("--keep-logs", default=None, metavar="DIR", help="copy the servers' logs into DIR")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=None, help="also write the report between docs/load.md's markers here")
    p.add_argument("--readme", default=None, help="also write the summary between README.md's markers here")
    p.add_argument("--json", default=None, help="also write raw figures as JSON to this file")
    args = p.parse_args(argv)
    args.argv = argv
    args.n_values = [int(x) for x in str(args.students).split(",") if x.strip()]
    args.set_options = []
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or "." not in name:
            p.error(f"--set {item!r}: expected section.name=value")
        args.set_options += [f"--{name}", value]
    if not args.n_values or min(args.n_values) < 1 or max(args.n_values) > 200:
        p.error("--students: 1..200 each")
    if args.replica_students is None:
        args.replica_students = 2 * max(args.n_values)
    if not 0 <= args.arrival <= 60 or args.duration <= 0 or args.fit_every <= 0 or not 0 <= args.idle_before <= 3600:
        p.error("--arrival 0..60, --idle-before 0..3600, --duration and --fit-every above 0")
    return args


def plan_rows(args) -> list[tuple[int, int]]:
    """(students, replicas) of each row: every class size in one process, then the replicas row."""
    rows = [(n, 1) for n in args.n_values]
    if args.replicas_row:
        rows.append((args.replica_students, 2))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    rows: list[tuple[Outcome, Outcome | None]] = []
    raw = []
    with tempfile.TemporaryDirectory(prefix="lora-load-") as tmp:
        workdir = Path(tmp)
        for n, replicas in plan_rows(args):
            fitters = min(args.fitters * replicas, n)
            ours = run_scenario(Scenario("ours", ROOT / "app.py", PAGES, n, fitters, replicas), args, workdir)
            print(f"ours N={n} replicas={replicas}: {len(ours.reruns)} actions", file=sys.stderr, flush=True)
            base = None
            if not args.no_baseline:
                base = run_scenario(
                    Scenario("baseline", BASELINE_APP, ["baseline"], n, 0, replicas), args, workdir
                )
                print(f"baseline N={n}: {len(base.reruns)} actions", file=sys.stderr, flush=True)
            rows.append((ours, base))
            raw.append({"ours": _raw(ours), "baseline": _raw(base) if base else None})
        if args.keep_logs or any(o.errors or (b and b.errors) for o, b in rows):
            keep = Path(args.keep_logs or tempfile.gettempdir())  # the server logs of a run with errors
            keep.mkdir(parents=True, exist_ok=True)
            for f in workdir.glob("*.log"):
                shutil.copy(f, keep / f"lora-load-{f.name}")
    text = report(rows, args, time.perf_counter() - t_start, load_before)
    print(text)
    if args.out:
        write_between(Path(args.out), text, BEGIN, END, title="# Load test\n\n")
    if args.readme:
        write_between(Path(args.readme), readme_block(rows, load_before), README_BEGIN, README_END)
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2))
    return 0


BEGIN, END = "<!-- load-test:begin -->", "<!-- load-test:end -->"
README_BEGIN, README_END = "<!-- load-summary:begin -->", "<!-- load-summary:end -->"


def write_between(path: Path, text: str, begin: str, end: str, title: str = "") -> None:
    """Put text between the markers in path (the prose around them stays), or append them to the file."""
    block = f"{begin}\n{text}{end}\n"
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        after = rest.split(end, 1)[1]
        path.write_text(head + block + after.removeprefix("\n"))  # the end marker's own line break
    else:
        path.write_text(old + ("\n" if old else title) + block)


def write_report(path: Path, text: str) -> None:
    """docs/load.md's table: the report between its markers."""
    write_between(path, text, BEGIN, END, title="# Load test\n\n")


def _raw(o: Outcome) -> dict:
    return {
        "label": o.scenario.label,
        "students": o.scenario.students,
        "fitters": o.scenario.fitters,
        "replicas": o.scenario.replicas,
        "started": o.started,
        "load_before": o.load_before,
        "health_s": o.health_s,
        "arrivals_s": o.arrivals,
        "by_action": {
            a: {"p50_s": pct(v, 50), "p95_s": pct(v, 95), "n": len(v)}
            for a in ACTIONS
            if (v := o.latencies(action=a))
        },
        "reruns": [[r.page, r.action, round(r.latency_s, 4), round(r.sent_s, 3)] for r in o.reruns],
        "waits_s": {p: [w for w, _ in v] for p, v in o.waits.items()},
        "auto_reruns_sent": o.polls,
        "fits": [[f.queued, f.total_s, f.finished] for f in o.fits],
        "errors": o.errors,
        "error_alerts": o.error_alerts,
        "rss_start": o.rss_start,
        "rss_peak": o.rss_peak,
        "rss_after": o.rss_after,
        "rss_after_s": o.rss_after_s,
        "server_cpu_s": o.server_cpu_s,
        "connections_per_replica": o.spread,
        "fitters_per_replica": o.fitters_per_replica,
        "idle_before_s": o.idle_before,
        "goals_missed": goals(o),
    }


if __name__ == "__main__":
    sys.exit(main())
