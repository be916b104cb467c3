"""Sanity checks of benchmarks/load_test.py's pieces (no timings: the benchmark reports those)."""

from __future__ import annotations

import importlib.util
import random
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lt():
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "benchmarks" / "load_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_test"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_percentile_is_nearest_rank(lt):
    values = [float(i) for i in range(1, 101)]  # 1..100
    assert lt.pct(values, 50) == 50.0
    assert lt.pct(values, 95) == 95.0
    assert lt.pct(values, 100) == 100.0
    assert lt.pct([3.0], 95) == 3.0
    assert lt.pct([], 95) != lt.pct([], 95)  # nan


def test_user_key_from_element_id(lt):
    assert lt.user_key("$$ID-0123abcd-fit_train") == "fit_train"
    assert lt.user_key("$$ID-0123abcd-a-b") == "a-b"  # keys may contain dashes
    assert lt.user_key("$$ID-0123abcd-None") is None
    assert lt.user_key("plain") is None


def test_random_values_stay_inside_the_widget(lt):
    from streamlit.proto.MultiSelect_pb2 import MultiSelect
    from streamlit.proto.NumberInput_pb2 import NumberInput
    from streamlit.proto.Selectbox_pb2 import Selectbox
    from streamlit.proto.Slider_pb2 import Slider

    rng = random.Random(0)
    slider = Slider(id="$$ID-h-r", min=1, max=64, step=1, data_type=Slider.INT, default=[8])
    ranged = Slider(id="$$ID-h-span", min=0, max=1, step=0.1, data_type=Slider.FLOAT, default=[0.2, 0.8])
    number = NumberInput(id="$$ID-h-d", has_min=True, min=1, has_max=True, max=10**6, step=1, default=4096)
    select = Selectbox(id="$$ID-h-preset", options=["a", "b", "c"])
    multi = MultiSelect(id="$$ID-h-targets", options=["q", "k", "v"])
    for _ in range(200):
        f, v = lt.random_value(lt.Widget(slider.id, "slider", slider), rng)
        assert f == "double_array_value" and len(v) == 1 and 1 <= v[0] <= 64 and v[0] == int(v[0])
        f, v = lt.random_value(lt.Widget(ranged.id, "slider", ranged), rng)
        assert len(v) == 2 and 0 <= v[0] <= v[1] <= 1
        f, v = lt.random_value(lt.Widget(number.id, "number_input", number), rng)
        assert f == "double_value" and 1 <= v <= 10**6 and v == int(v)
        f, v = lt.random_value(lt.Widget(select.id, "selectbox", select), rng)
        assert f == "string_value" and v in select.options
        f, v = lt.random_value(lt.Widget(multi.id, "multiselect", multi), rng)
        assert f == "string_array_value" and v and set(v) <= set(multi.options)
    disabled = Slider(id="$$ID-h-x", min=0, max=1, step=1, default=[0], disabled=True)
    assert lt.random_value(lt.Widget(disabled.id, "slider", disabled), rng) is None


@pytest.mark.server
def test_nginx_config_is_loopback_sticky_and_passes_websockets(lt, tmp_path):
    text = lt.nginx_config(18080, [18501, 18502], tmp_path)
    assert "{{" not in text
    assert "listen 127.0.0.1:18080;" in text
    assert "server 127.0.0.1:18501" in text and "server 127.0.0.1:18502" in text
    assert "hash $lora_route consistent;" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    # the harness's nginx says which replica answered (Plan.claim_fitter); the deploy recipe does not
    assert f"add_header {lt.REPLICA_HEADER} $upstream_addr always;" in text
    assert lt.REPLICA_HEADER not in lt.NGINX_TEMPLATE.read_text()
    # make test installs nginx-light (.ci/ensure-system-packages): a missing one fails here, not skips
    assert Path(lt.NGINX).exists(), f"{lt.NGINX} not installed (apt-get install nginx-light)"
    (tmp_path / "tmp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    r = subprocess.run(
        [lt.NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr


def test_each_replica_gets_its_own_train_pressers(lt):
    """Behind nginx the route cookie places students at random; the first fitters_per_replica students to
    reach each replica press Train (one process: the first `fitters` students, as before)."""
    plan = lt.Plan("http://127.0.0.1:1", lt.PAGES, 0.0, [0.0] * 8, 1e18, 6, [], 60, 10, 1, fitters_per_replica=3)
    arrivals = ["a:1", "a:1", "a:1", "a:1", "b:2", "b:2", "b:2", "b:2"]
    claimed = [plan.claim_fitter(i, replica) for i, replica in enumerate(arrivals)]
    assert claimed == [True, True, True, False, True, True, True, False]
    one = lt.Plan("http://127.0.0.1:1", lt.PAGES, 0.0, [0.0] * 8, 1e18, 3, [], 60, 10, 1)
    assert [one.claim_fitter(i, "") for i in range(8)] == [True] * 3 + [False] * 5


@pytest.mark.server
def test_a_tab_behind_nginx_learns_its_replica(lt):
    """Two baseline replicas behind the harness's nginx: each tab's replica is one of the two upstreams, and
    it stays the same for the tab's cookie (sticky), which is what gives each replica its own fitters."""
    with tempfile.TemporaryDirectory() as tmp, lt.Stack(lt.BASELINE_APP, 2, Path(tmp)) as stack:
        upstreams = {url.removeprefix("http://") for url in stack.replica_urls}
        tabs = [lt.open_tab(stack.base_url, 60) for _ in range(6)]
        try:
            assert {tab.replica for tab in tabs} <= upstreams and all(tab.replica for tab in tabs)
            for tab in tabs:
                request = urllib.request.Request(stack.base_url + "/", headers={"Cookie": tab.cookies})
                with urllib.request.urlopen(request, timeout=60) as r:
                    assert r.headers.get(lt.REPLICA_HEADER) == tab.replica
        finally:
            for tab in tabs:
                tab.close()


@pytest.mark.server
def test_one_student_round_trip_on_the_baseline_app(lt):
    """A real server: the session learns the slider's id, moves it, and the script sees the new value."""
    with tempfile.TemporaryDirectory() as tmp, lt.Stack(lt.BASELINE_APP, 1, Path(tmp)) as stack:
        s = lt.Session(stack.base_url, timeout=60)
        s.connect()
        try:
            first = s.rerun("")
            assert first.ok, first
            assert "x" in s.widgets and s.widgets["x"].kind == "slider"
            s.set_state(s.widgets["x"], "double_array_value", [7.0])
            second = s.rerun()
            assert second.ok, second
            assert any("49" in t for t in second.texts), second.texts
        finally:
            s.close()
        assert stack.rss() > 0


def test_parse_args_defaults(lt):
    args = lt.parse_args(["--students", "3,5", "--fit-key", "fit_train"])
    assert args.n_values == [3, 5] and args.fitters == 3 and args.fit_key == "fit_train"
    with pytest.raises(SystemExit):
        lt.parse_args(["--students", "0"])


def test_idle_before_and_the_replicas_fitters_are_reported(lt):
    """--idle-before (0..3600 s) starts the clock that long after health ok, and the report says so; with
    replicas it lists the Train pressers per replica in the servers' order, a replica without any as 0."""
    assert lt.parse_args([]).idle_before == 0.0 and lt.parse_args(["--idle-before", "45"]).idle_before == 45.0
    for bad in ("-1", "3601"):
        with pytest.raises(SystemExit):
            lt.parse_args(["--idle-before", bad])
    args = lt.parse_args(["--idle-before", "45"])
    ours = _outcome(lt, "ours", ["learn"], [lt.Rerun("learn", lt.FIRST, 0.2, 1.0)], replicas=2)
    ours.idle_before, ours.fitters_per_replica = 45.0, [3, 0]
    text = lt.report([(ours, None)], args, 60.0, (1.0, 1.0, 1.0))
    assert "the clock starts at health ok + 45 s (--idle-before" in text
    assert "s after the clock (health ok + 45 s), students per replica 15 + 15, of whom press Train 3 + 0;" in text
    logs = [lt.StudentLog(replica="127.0.0.1:2"), lt.StudentLog(replica=None), lt.StudentLog(replica="127.0.0.1:2")]
    assert lt._per_replica(logs, ["http://127.0.0.1:1", "http://127.0.0.1:2"]) == [0, 2]


def test_report_goes_between_the_markers(lt, tmp_path):
    doc = tmp_path / "load.md"
    doc.write_text(f"# Load\n\nprose before\n\n{lt.BEGIN}\nold table\n{lt.END}\n\nprose after\n")
    lt.write_report(doc, "new table\n")
    text = doc.read_text()
    assert "old table" not in text and "new table" in text
    assert text.index("prose before") < text.index("new table") < text.index("prose after")
    fresh = tmp_path / "fresh.md"
    lt.write_report(fresh, "t\n")
    assert lt.BEGIN in fresh.read_text() and "t\n" in fresh.read_text()


class _FakeSocket:
    """Stands in for the websocket: records what the session sends, answers with prepared ForwardMsgs."""

    def __init__(self, websocket_module) -> None:
        self.sent: list[bytes] = []
        self.replies: list = []
        self._opcode = websocket_module.ABNF.OPCODE_BINARY

    def send_binary(self, data: bytes) -> None:
        self.sent.append(data)

    def settimeout(self, _t) -> None:
        pass

    def recv_data(self):
        return self._opcode, self.replies.pop(0).SerializeToString()


def _msgs(fragment_run: list[str], elements: list[tuple[str, str]], *, status: str, extra=()):
    """A recorded run: new_session (run's fragments in metadata), sliders (id, fragment id), script_finished."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    out = []
    m = ForwardMsg()
    m.new_session.name = "app"
    m.metadata.run.fragment_ids.extend(fragment_run)
    out.append(m)
    for wid, frag in elements:
        d = ForwardMsg()
        d.delta.new_element.slider.id = wid
        d.delta.new_element.slider.min = 0
        d.delta.new_element.slider.max = 10
        d.delta.new_element.slider.step = 1
        d.delta.new_element.slider.default.append(1)
        d.delta.fragment_id = frag
        out.append(d)
    out.extend(extra)
    f = ForwardMsg()
    f.script_finished = ForwardMsg.ScriptFinishedStatus.Value(status)
    out.append(f)
    return out


def test_fragment_ids_are_recorded_and_fragment_runs_keep_the_other_widgets(lt):
    import websocket
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    s = lt.Session("http://127.0.0.1:1")
    s.ws = _FakeSocket(websocket)
    poll = ForwardMsg()
    poll.auto_rerun.fragment_id, poll.auto_rerun.interval = "F2", 0.5
    qs = ForwardMsg()
    qs.page_info_changed.query_string = "mem_r=8"
    # Full run: "a" outside any fragment, "b" inside fragment F, and a run_every fragment F2.
    s.ws.replies = _msgs(
        [], [("$$ID-1-a", ""), ("$$ID-2-b", "F")], status="FINISHED_SUCCESSFULLY", extra=[poll, qs]
    )
    r = s.rerun("memory")
    assert r.ok and r.fragment_ids == []
    assert s.widgets["a"].fragment_id == "" and s.widgets["b"].fragment_id == "F"
    assert s.auto_reruns == {"F2": 0.5} and s.query_string == "mem_r=8"

    # Moving "a" sends a full rerun; moving "b" sends a fragment rerun with every widget state, not auto.
    s.set_state(s.widgets["a"], "double_array_value", [3.0])
    s.ws.replies = _msgs(["F"], [("$$ID-3-b", "F")], status="FINISHED_FRAGMENT_RUN_SUCCESSFULLY")
    r = s.move(s.widgets["b"], "double_array_value", [4.0])
    assert r.ok and r.fragment_ids == ["F"]
    sent = BackMsg()
    sent.ParseFromString(s.ws.sent[-1])
    cs = sent.rerun_script
    assert cs.fragment_id == "F" and not cs.is_auto_rerun
    assert {w.id for w in cs.widget_states.widgets} == {"$$ID-1-a", "$$ID-2-b"}
    assert cs.query_string == "mem_r=8" and cs.page_name == "memory"
    # The fragment's widget was redrawn (new id), the other one stays; the old id's state is dropped.
    assert s.widgets["a"].id == "$$ID-1-a" and s.widgets["b"].id == "$$ID-3-b"
    assert set(s.states) == {"$$ID-1-a"}
    # A fragment run (it sends new_session too) leaves the run_every timers alone.
    assert s.auto_reruns == {"F2": 0.5}

    # An auto-rerun of F2 says is_auto_rerun; stop_auto_rerun drops the timer.
    stop = ForwardMsg()
    stop.stop_auto_rerun.fragment_ids.append("F2")
    s.ws.replies = _msgs(["F2"], [], status="FINISHED_FRAGMENT_RUN_SUCCESSFULLY", extra=[stop])
    assert s.rerun(fragment_id="F2", auto=True).ok
    sent.ParseFromString(s.ws.sent[-1])
    assert sent.rerun_script.fragment_id == "F2" and sent.rerun_script.is_auto_rerun
    assert s.auto_reruns == {}

    # A full run clears the timers and replaces the widget map; a run that gave way starts over.
    s.auto_reruns["F2"] = 0.5
    early = _msgs([], [("$$ID-9-z", "")], status="FINISHED_EARLY_FOR_RERUN")
    s.ws.replies = early + _msgs([], [("$$ID-1-a", "")], status="FINISHED_SUCCESSFULLY")
    r = s.move(s.widgets["a"], "double_array_value", [5.0])
    assert r.ok and set(s.widgets) == {"a"} and s.auto_reruns == {}
    assert not s.last_full_run_registered


def test_waits_follow_run_every_until_none_is_registered(lt):
    import websocket
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    s = lt.Session("http://127.0.0.1:1")
    s.ws = _FakeSocket(websocket)
    poll = ForwardMsg()
    poll.auto_rerun.fragment_id, poll.auto_rerun.interval = "T", 0.01
    log = lt.StudentLog()
    # Opening the page registers T; the first poll still shows it (fragment run); the second poll's
    # fragment calls st.rerun: a full run that registers nothing.
    s.ws.replies = (
        _msgs([], [("$$ID-1-a", "")], status="FINISHED_SUCCESSFULLY", extra=[poll])
        + _msgs(["T"], [], status="FINISHED_FRAGMENT_RUN_SUCCESSFULLY")
        + _msgs(["T"], [], status="FINISHED_EARLY_FOR_RERUN")
        + _msgs([], [("$$ID-1-a", "")], status="FINISHED_SUCCESSFULLY")
    )
    lt.act(s, log, "memory", 1e18, lambda: s.rerun("memory"))
    assert log.polls == 2 and len(log.reruns) == 1 and not log.errors
    ((page, wait, cut),) = log.waits
    assert page == "memory" and wait > 0 and not cut
    # An action whose run registers nothing waits 0.
    s.ws.replies = _msgs([], [("$$ID-1-a", "")], status="FINISHED_SUCCESSFULLY")
    lt.act(s, log, "memory", 1e18, lambda: s.move(s.widgets["a"], "double_array_value", [2.0]))
    assert log.waits[-1] == ("memory", 0.0, False)


def test_reruns_carry_the_page_hash_st_navigation_reported(lt):
    """Like the frontend, every rerun names the current page by its script hash (from st.navigation's
    message). Without it, an st.rerun() inside a fragment run (the Fit and Memory pollers) ran the default
    page: fit students lost their Train button after their first fit."""
    import websocket
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    s = lt.Session("http://127.0.0.1:1")
    s.ws = _FakeSocket(websocket)
    nav = ForwardMsg()
    nav.navigation.page_script_hash = "fit-hash"
    s.ws.replies = _msgs([], [("$$ID-1-a", "")], status="FINISHED_SUCCESSFULLY", extra=[nav])
    sent = BackMsg()
    assert s.rerun("fit").ok
    sent.ParseFromString(s.ws.sent[-1])
    assert sent.rerun_script.page_name == "fit" and sent.rerun_script.page_script_hash == ""  # by name
    assert s.page_hash == "fit-hash"
    s.ws.replies = _msgs(["F"], [], status="FINISHED_FRAGMENT_RUN_SUCCESSFULLY")
    assert s.rerun(fragment_id="F", auto=True).ok
    sent.ParseFromString(s.ws.sent[-1])
    assert sent.rerun_script.page_script_hash == "fit-hash" and sent.rerun_script.fragment_id == "F"
    s.ws.replies = _msgs([], [], status="FINISHED_SUCCESSFULLY")
    assert s.rerun("memory").ok  # navigating: by name again, the hash is the server's to tell
    sent.ParseFromString(s.ws.sent[-1])
    assert sent.rerun_script.page_name == "memory" and sent.rerun_script.page_script_hash == ""


# ---------------------------------------------------------------- issue 12, section 5: a class arriving together


def test_the_server_is_started_with_the_readmes_command(lt):
    """The README's command is `make run`: the harness starts our server with exactly what it runs."""
    assert "make run" in (ROOT / "README.md").read_text()
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "run", "VENV=/venv", "PORT=18555", "HOST=127.0.0.1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    make_run = out.strip().splitlines()[-1].split()
    assert lt.server_command(lt.ROOT / "app.py", 18555, python="/venv/bin/python") == make_run
    # The baseline app is plain `streamlit run`, on the same address.
    base = lt.server_command(lt.BASELINE_APP, 18556, python="py")
    assert base[:4] == ["py", "-m", "streamlit", "run"]
    assert base[-4:] == ["--server.port", "18556", "--server.address", "127.0.0.1"]


def test_the_clock_starts_when_health_says_ok(lt):
    """wait_healthy returns the moment of the first 200 from /_stcore/health, not when it started polling."""
    import http.server
    import threading
    import time

    ready = threading.Event()
    ok_at = []

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if ready.is_set():
                ok_at.append(time.perf_counter())
                self.send_response(200)
            else:
                self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Timer(0.6, ready.set).start()
    try:
        t0 = time.perf_counter()
        at = lt.wait_healthy(f"http://127.0.0.1:{server.server_address[1]}", [], timeout=30)
    finally:
        server.shutdown()
    assert at - t0 >= 0.6 and at >= ok_at[0]


def test_arrivals_fall_inside_the_window(lt):
    rng = random.Random(3)
    offsets = lt.arrival_offsets(30, 3.0, rng)
    assert len(offsets) == 30 and all(0.0 <= x <= 3.0 for x in offsets)
    assert max(offsets) - min(offsets) > 1.5  # spread over the window, not one tick


def test_a_cold_class_arrives_after_health_ok_and_nobody_before(lt, monkeypatch):
    """A real (baseline) server: every tab opens after the clock started at health ok, within the window,
    one per student: no warm-up visitor. The students' first page and slider moves are classified."""
    import time

    opened = []
    original = lt.open_tab

    def spy(base_url, timeout):
        opened.append(time.perf_counter())
        return original(base_url, timeout)

    monkeypatch.setattr(lt, "open_tab", spy)
    args = lt.parse_args(["--students", "3", "--duration", "5", "--arrival", "1", "--settle", "0"])
    sc = lt.Scenario("baseline", lt.BASELINE_APP, ["baseline"], 3, 0)
    with tempfile.TemporaryDirectory() as tmp:
        o = lt.run_scenario(sc, args, Path(tmp))
    assert not o.errors, o.errors
    assert len(opened) == 3  # one tab per student, none before them
    assert all(o.origin <= t <= o.origin + 1.0 + 0.5 for t in opened)
    assert len(o.arrivals) == 3 and all(0.0 <= a <= 1.5 for a in o.arrivals)
    assert o.health_s > 0
    assert sorted({r.action for r in o.reruns}) == sorted({lt.FIRST, lt.SLIDER})
    assert len(o.latencies(action=lt.FIRST)) == 3


def _widget(lt, kind: str, key: str, **fields):
    from streamlit.proto.Element_pb2 import Element

    element = Element()
    proto = getattr(element, kind)
    proto.id = f"$$ID-0123-{key}"
    for name, value in fields.items():
        target = getattr(proto, name)
        if isinstance(value, list):
            target.extend(value)
        else:
            setattr(proto, name, value)
    return lt.Widget(proto.id, kind, proto)


def test_each_action_is_classified(lt):
    from lora_ui import keys

    preset = _widget(lt, "selectbox", keys.MEM_PRESET, options=["a", "b"])
    method = _widget(lt, "radio", keys.MEM_METHOD, options=["full", "lora"])
    precision = _widget(lt, "selectbox", keys.MEM_PRECISION, options=["fp32", "bf16"])
    batch = _widget(lt, "number_input", keys.MEM_BATCH)
    optimizer = _widget(lt, "selectbox", keys.MEM_OPTIMIZER, options=["adamw", "sgd"])
    rank = _widget(lt, "slider", keys.MATRIX_R)
    model_preset = _widget(lt, "selectbox", keys.MODEL_PRESET, options=["a", "b"])
    train = _widget(lt, "button", keys.FIT_TRAIN)
    assert [lt.classify("memory", w) for w in (preset, method, precision)] == [lt.MEMORY] * 3
    assert lt.classify("memory", batch) == lt.SLIDER and lt.classify("matrix", rank) == lt.SLIDER
    assert lt.classify("memory", optimizer) == lt.OTHER and lt.classify("model", model_preset) == lt.OTHER
    assert lt.classify("fit", train) == lt.TRAIN
    assert lt.ACTIONS == (lt.FIRST, lt.OPEN, lt.SLIDER, lt.MEMORY, lt.OTHER, lt.TRAIN)


def _memory_tab(lt, presets=("p1", "p2", "p3")):
    from lora_ui import keys

    s = lt.Session("http://127.0.0.1:1")
    s.page = "memory"
    s.widgets = {
        keys.MEM_PRESET: _widget(lt, "selectbox", keys.MEM_PRESET, options=list(presets), default=0),
        keys.MEM_METHOD: _widget(lt, "radio", keys.MEM_METHOD, options=["full", "lora", "qlora"], default=1),
        keys.MEM_PRECISION: _widget(lt, "selectbox", keys.MEM_PRECISION, options=["fp32", "bf16"], default=1),
        keys.MEM_BATCH: _widget(lt, "number_input", keys.MEM_BATCH, has_min=True, min=1, default=1),
    }
    return s


def test_memory_changes_ask_for_combinations_nobody_asked_for(lt):
    """Each Memory change moves one of model, method, precision, to a (preset, method, precision) no student
    of the class has had yet, while one is reachable; two students share what the class has seen."""
    combos = lt.Combos()
    a, b = _memory_tab(lt), _memory_tab(lt)
    combos.note(a)
    assert combos.seen == {("p1", "lora", "bf16")}
    rng = random.Random(0)
    seen = [("p1", "lora", "bf16")]
    moved = set()
    for i in range(12):
        s = (a, b)[i % 2]
        before = combos.current(s)[1]
        w, option = combos.pick(s, rng)
        s.set_state(w, "string_value", option)
        after = combos.current(s)[1]
        assert sum(x != y for x, y in zip(before, after, strict=True)) == 1  # one widget, as a browser sends
        assert after not in seen, (i, after)
        seen.append(after)
        moved.add(lt.user_key(w.id))
    assert len(set(seen)) == len(seen) == 13 and combos.seen == set(seen)
    assert moved == set(lt.MEMORY_COMBO)  # model, method and precision all change, not one of them only


def test_a_memory_change_is_sent_and_recorded_as_one(lt):
    import websocket
    from streamlit.proto.BackMsg_pb2 import BackMsg

    from lora_ui import keys

    s = _memory_tab(lt)
    s.ws = _FakeSocket(websocket)
    s.ws.replies = _msgs([], [], status="FINISHED_SUCCESSFULLY")
    plan = lt.Plan("http://127.0.0.1:1", lt.PAGES, 0.0, [0.0], 1e18, 0, [], 60, 10, 1)
    plan.combos.note(s)
    log = lt.StudentLog()

    class Always(random.Random):  # the Memory branch (random() < 0.5) and a fixed choice
        def random(self):
            return 0.0

    lt._move(s, log, plan, Always(1), fitter=False)
    sent = BackMsg()
    sent.ParseFromString(s.ws.sent[-1])
    changed = {lt.user_key(w.id): w.string_value for w in sent.rerun_script.widget_states.widgets}
    assert len(changed) == 1 and set(changed) <= {keys.MEM_PRESET, keys.MEM_METHOD, keys.MEM_PRECISION}
    ((page, action),) = [(r.page, r.action) for r in log.reruns]
    assert (page, action) == ("memory", lt.MEMORY) and len(plan.combos.seen) == 2


def test_train_counts_from_the_press_until_the_results(lt):
    """Train: the press, the live panel's polls (followed as the browser does), until a full run draws the
    results without the panel. One Train action, the polls not counted as actions; a queued press is seen."""
    import websocket
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    s = lt.Session("http://127.0.0.1:1")
    s.ws = _FakeSocket(websocket)
    panel = ForwardMsg()
    panel.auto_rerun.fragment_id, panel.auto_rerun.interval = "LIVE", 0.05
    queued = ForwardMsg()
    queued.delta.new_element.alert.body = "Queued: 2 fits are running, yours is next"
    s.ws.replies = (
        _msgs([], [], status="FINISHED_SUCCESSFULLY", extra=[queued, panel])  # the press: queued
        + _msgs(["LIVE"], [], status="FINISHED_FRAGMENT_RUN_SUCCESSFULLY")  # a poll: training
        + _msgs([], [], status="FINISHED_SUCCESSFULLY")  # the fit ended: results, no panel
    )
    log = lt.StudentLog()
    train = _widget(lt, "button", "fit_train")
    lt.run_fit(s, train, log, 60, re.compile(lt.FIT_QUEUED_RE, re.I))
    assert [(r.page, r.action) for r in log.reruns] == [("fit", lt.TRAIN)]
    assert log.polls == 2 and not log.errors
    ((fit),) = log.fits
    assert fit.queued and fit.finished
    assert log.reruns[0].latency_s >= 2 * 0.05  # both polls, at the panel's interval, are inside it


def _outcome(lt, label, pages, reruns, *, errors=(), rss=(100, 150, 110), replicas=1):
    sc = lt.Scenario(label, lt.ROOT / "app.py", pages, 30, 3, replicas)
    return lt.Outcome(
        scenario=sc,
        origin=0.0,
        reruns=reruns,
        fits=[lt.FitRecord(False, 0.3, True), lt.FitRecord(True, 0.6, True)],
        errors=list(errors),
        error_alerts=0,
        actions=len(reruns),
        rss_start=rss[0] * 2**20,
        rss_peak=rss[1] * 2**20,
        rss_after=rss[2] * 2**20,
        rss_after_s=12.0,
        server_cpu_s=30.0,
        harness_cpu_s=20.0,
        spread=[15, 15][:replicas],
        health_s=20.0,
        arrivals=[0.1, 2.9],
        load_before=(1.0, 2.0, 3.0),
        started="2026-11-29 10:00",
    )


def test_the_report_tables(lt):
    """A table per setup: a row per page, every page, and the baseline; a column per action; each cell
    p50 / p95 ms (count). The summary: one row per setup with the goals it meets or misses."""
    # memory: Memory changes of 1..100 ms; learn: first pages of 1..20 ms; fit: a 2 s Train.
    reruns = [lt.Rerun("memory", lt.MEMORY, i / 1000, 5.0) for i in range(1, 101)]
    reruns += [lt.Rerun("learn", lt.FIRST, i / 1000, 1.0) for i in range(1, 21)]
    reruns += [lt.Rerun("fit", lt.TRAIN, 2.0, 30.0)]
    ours = _outcome(lt, "ours", ["learn", "memory", "fit"], reruns)
    base = _outcome(lt, "baseline", ["baseline"], [lt.Rerun("baseline", lt.SLIDER, 0.008, 4.0)] * 4)
    table = lt.action_table(ours, base).splitlines()
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[0] == "page" and header[1:7] == [f"{a} p50 / p95 ms (n)" for a in lt.ACTIONS]
    assert [r.split("|")[1].strip() for r in table[2:]] == [
        "learn", "memory", "fit", "**every page**", "baseline app (one slider)"
    ]  # fmt: skip
    assert all(r.count("|") == table[0].count("|") for r in table)
    cells = {r.split("|")[1].strip(): [c.strip() for c in r.strip("|").split("|")[1:]] for r in table[2:]}
    assert cells["memory"][lt.ACTIONS.index(lt.MEMORY)] == "50 / 95 (100)"
    assert cells["learn"][lt.ACTIONS.index(lt.FIRST)] == "10 / 19 (20)"
    assert cells["**every page**"][-1] == "51 / 96 (101)"  # every rerun after the first page (Train too)
    assert cells["baseline app (one slider)"][lt.ACTIONS.index(lt.SLIDER)] == "8 / 8 (4)"
    assert cells["fit"][lt.ACTIONS.index(lt.OPEN)] == "–"

    summary = lt.summary_table([(ours, base)]).splitlines()
    assert summary[0].count("|") == summary[1].count("|") == summary[2].count("|")
    row = [c.strip() for c in summary[2].strip("|").split("|")]
    assert row[:3] == ["1 process", "30", "10 / 19"]
    assert row[-1] == "missed: Train p95 > 1 s"  # the 2 s Train; RSS 110 of 100 is within 15 %
    assert lt.goals(ours) == ["Train p95 > 1 s"]
    slow = _outcome(
        lt, "ours", ["learn"], [lt.Rerun("learn", lt.FIRST, 1.6, 1.0)], errors=["x"], rss=(100, 200, 120)
    )
    assert lt.goals(slow) == ["first page p95 > 1.5 s", "1 errors", "RSS not back within 15% in 60 s"]
    fine = _outcome(lt, "ours", ["learn"], [lt.Rerun("learn", lt.FIRST, 0.2, 1.0)], replicas=2)
    assert lt.goals(fine) == [] and "| 2 replicas + nginx |" in lt.summary_table([(fine, None)])

    block = lt.readme_block([(ours, base)], (1.0, 2.0, 3.0))
    assert "2026-11-29 10:00" in block and "cores" in block and "1.00 / 2.00 / 3.00" in block
    assert lt.summary_table([(ours, base)]) in block


def test_make_load_writes_both_tables(lt, tmp_path):
    """`make load` passes --out docs/load.md and --readme README.md; each gets its block between markers."""
    make = (ROOT / "Makefile").read_text()
    load = make.split("\nload:", 1)[1].split("\n\n", 1)[0]
    assert "--out docs/load.md" in load and "--readme README.md" in load
    for doc, begin, end in [
        ("docs/load.md", lt.BEGIN, lt.END),
        ("README.md", lt.README_BEGIN, lt.README_END),
    ]:
        text = (ROOT / doc).read_text()
        assert text.count(begin) == 1 and text.count(end) == 1 and text.index(begin) < text.index(end)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{lt.README_BEGIN}\nold\n{lt.README_END}\nrest\n")
    lt.write_between(readme, "new\n", lt.README_BEGIN, lt.README_END)
    assert readme.read_text() == f"intro\n{lt.README_BEGIN}\nnew\n{lt.README_END}\nrest\n"


def test_opening_the_default_page_sends_its_address_as_the_browser_does(lt):
    """The sidebar's first page (app.py's default) is opened at "/": page name "", never its url_path,
    which Streamlit answers with page_not_found (and a toast) before running the default page anyway."""
    import websocket
    from streamlit.proto.BackMsg_pb2 import BackMsg

    s = lt.Session("http://127.0.0.1:1")
    s.ws = _FakeSocket(websocket)
    s.page = "matrix"
    plan = lt.Plan("http://127.0.0.1:1", lt.PAGES, 0.0, [0.0], 1e18, 0, [], 60, 10, 1)
    log = lt.StudentLog()
    for page in ("learn", "memory"):
        s.ws.replies = _msgs([], [], status="FINISHED_SUCCESSFULLY")
        lt._open(s, log, page, plan)
        sent = BackMsg()
        sent.ParseFromString(s.ws.sent[-1])
        assert sent.rerun_script.page_name == ("" if page == "learn" else page)
    assert [(r.page, r.action) for r in log.reruns] == [("learn", lt.OPEN), ("memory", lt.OPEN)]
    assert lt.PAGES[0] == "learn"  # app.py: st.Page("pages/learn.py", ..., url_path="learn", default=True)
    assert 'url_path="learn",\n        default=True' in (ROOT / "app.py").read_text()


def test_py_spy_summary_reads_collapsed_stacks(lt, tmp_path):
    """--py-spy: the GIL holder's samples (100 Hz) by our functions (inclusive) and by any function (self)."""
    raw = tmp_path / "ours-N30-x1-1.txt"
    raw.write_text(
        "thread (1): ScriptRunner.scriptThread;run (threading.py:982);<module> (app.py:35);"
        "page (memory.py:341);charts_ui (memory.py:250);_enqueue (streamlit/delta_generator.py:547) 30\n"
        "thread (1): ScriptRunner.scriptThread;run (threading.py:982);<module> (app.py:35);"
        "figure (lora_ui/plotly_fast.py:26) 20\n"
        "thread (2): MainThread;_run_once (asyncio/base_events.py:1922) 50\n"
    )
    text = lt.py_spy_summary([raw])
    assert "1.0 s with the GIL held" in text
    assert "0.50 s  <module> (app.py)" in text and "0.30 s  charts_ui (memory.py)" in text
    assert "0.20 s  figure (lora_ui/plotly_fast.py)" in text
    ours, _, rest = text.partition("self time")
    assert "threading.py" not in ours and "asyncio" not in ours  # not our code
    assert "0.50 s  _run_once (asyncio/base_events.py)" in rest
