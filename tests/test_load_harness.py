"""Sanity checks of benchmarks/load_test.py's pieces (no timings: the benchmark reports those)."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
import tempfile
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
    if not Path(lt.NGINX).exists():
        pytest.skip(f"{lt.NGINX} not installed; the config text was checked, nginx -t was not run")
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
