"""The Memory page through AppTest: it renders, and changing widgets changes what it shows."""

import pytest

from lora_ui import keys

QUERY = {"mem_preset": "qwen2.5-0.5b", "mem_seq": "256"}


def url_value(at, key):
    """The URL's value for `key` (AppTest keeps one value as a string, several as a list)."""
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value


def metric_values(at):
    return {m.label: m.value for m in at.metric}


def test_page_renders_and_reacts(app_test):
    at = app_test(page="memory", query=QUERY)
    assert not at.exception, at.exception
    assert at.metric, "no metrics shown"
    before = metric_values(at)
    at.number_input(key="mem_batch").set_value(4).run()
    assert not at.exception, at.exception
    after = metric_values(at)
    assert after != before  # a bigger batch needs more memory

    at.radio(key=keys.MEM_METHOD).set_value("full").run()
    assert not at.exception, at.exception
    assert metric_values(at) != after


def test_inputs_take_the_cores_limits(app_test):
    """Each limit is defined once, in the core: the page's inputs end where TrainingSetup and the solver do."""
    from lora_core.memory.setup import MAX_BATCH, MAX_GPUS, MAX_SEQ
    from lora_core.spec import MAX_OFFERED_RANK

    at = app_test(page="memory", query=QUERY)
    assert not at.exception, at.exception
    maxima = {k: at.number_input(key=k).max for k in (keys.MEM_RANK, keys.MEM_BATCH, keys.MEM_SEQ, keys.MEM_GPUS)}
    assert maxima == {
        keys.MEM_RANK: MAX_OFFERED_RANK,
        keys.MEM_BATCH: MAX_BATCH,
        keys.MEM_SEQ: MAX_SEQ,
        keys.MEM_GPUS: MAX_GPUS,
    }


def test_peft_snippet_matches_the_inputs_and_goes_away_for_full(app_test):
    at = app_test(page="memory", query={**QUERY, keys.MEM_RANK: "32"})
    assert not at.exception, at.exception
    snippets = [c.value for c in at.code if "LoraConfig(" in c.value]
    assert len(snippets) == 1 and "r=32" in snippets[0], snippets
    at.radio(key=keys.MEM_METHOD).set_value("full").run()
    assert not any("LoraConfig(" in c.value for c in at.code)


def test_bad_targets_show_an_error_not_an_exception(app_test):
    at = app_test(page="memory", query=QUERY)
    at.text_input(key="mem_targets").set_value("no_such_module").run()
    assert not at.exception, at.exception
    assert at.error, "expected a user-facing error"


@pytest.mark.parametrize("variable", ["batch", "seq", "rank"])
def test_solver(app_test, variable):
    at = app_test(page="memory", query={**QUERY, "mem_solve_var": variable})
    at.button(key=keys.MEM_SOLVE_RUN).click().run()
    assert not at.exception, at.exception
    assert at.success or at.warning


def test_the_solver_runs_when_asked_and_its_answer_stays_for_that_question(app_test, monkeypatch):
    from lora_core.memory import solver

    calls = []
    original = solver.largest_fitting
    monkeypatch.setattr(solver, "largest_fitting", lambda *a, **k: calls.append(a) or original(*a, **k))
    at = app_test(page="memory", query={**QUERY, keys.MEM_SOLVE_VAR: "seq"})
    at.number_input(key=keys.MEM_BATCH).set_value(3).run()  # changes elsewhere never search
    assert not calls and not at.success
    at.button(key=keys.MEM_SOLVE_RUN).click().run()
    assert len(calls) == 1 and at.success
    at.run()  # the same question: the answer stays (from the page's cache)
    assert at.success
    at.number_input(key=keys.MEM_BATCH).set_value(4).run()  # another question: asked again
    assert not at.success and len(calls) == 1


def test_telugu(app_test):
    at = app_test(page="memory", query=QUERY)
    at.radio(key="lang").set_value("te").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "మెమరీ"


# --- coded option widgets: the URL carries codes, never translated labels ----------------------------------


@pytest.mark.parametrize("lang", ["en", "te"])
def test_a_method_link_opens_with_that_method_in_either_language(app_test, lang):
    at = app_test(page="memory", query={**QUERY, keys.MEM_METHOD: "qlora", "lang": lang})
    assert not at.exception, at.exception
    radio = at.radio(key=keys.MEM_METHOD)
    assert radio.value == "qlora"
    assert radio.options == ["full", "lora", "qlora"]  # the codes; the translation is each option's caption
    assert url_value(at, keys.MEM_METHOD) == "qlora"
    assert not at.warning  # no "link value not used" note


def test_the_chosen_method_survives_the_language_switch(app_test):
    """The options are codes, so the Telugu run sees the same option (a translated option label would not
    match and Streamlit would reset the radio). The browser writes a bound value into the URL; AppTest
    does not, so the URL side is tests/browser/test_memory.py's."""
    at = app_test(page="memory", query=QUERY)
    at.radio(key=keys.MEM_METHOD).set_value("qlora").run()
    at.radio(key="lang").set_value("te").run()
    assert not at.exception, at.exception
    assert at.radio(key=keys.MEM_METHOD).value == "qlora"
    assert at.title[0].value == "మెమరీ"


@pytest.mark.parametrize(("key", "code"), [(keys.MEM_SOURCE, "upload"), (keys.MEM_SOLVE_VAR, "rank")])
def test_other_coded_radios_restore_from_their_code(app_test, key, code):
    at = app_test(page="memory", query={**QUERY, key: code, "lang": "te"})
    assert not at.exception, at.exception
    assert at.radio(key=key).value == code


def test_a_translated_label_in_the_url_is_not_a_code(app_test):
    at = app_test(page="memory", query={**QUERY, keys.MEM_METHOD: "QLoRA"})
    assert not at.exception, at.exception
    assert at.radio(key=keys.MEM_METHOD).value == "lora"  # the default
    assert any(f"“{keys.MEM_METHOD}”" in w.value for w in at.warning)  # and the note says so


def test_curves_cached_without_their_own_input_match_the_core(app_test):
    """The page caches the rank curve at any rank and the sequence curve at any seq (then adds the current
    point); the plotted values must be what the core gives for the student's own inputs."""
    import json

    from lora_core.memory import TrainingSetup
    from lora_core.memory.series import peak_series
    from lora_core.presets import load_preset
    from lora_core.spec import LoraSpec

    at = app_test(page="memory", query={**QUERY, "mem_seq": "300", "mem_rank": "32"})
    assert not at.exception, at.exception
    charts = {c.proto.spec and json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
              for c in at.get("plotly_chart")}  # fmt: skip
    config = load_preset("qwen2.5-0.5b")
    spec = LoraSpec(r=32, alpha=16, target_modules="all-linear")
    setup = TrainingSetup(method="lora", precision="bf16", optimizer="adamw", batch=1, seq=300)
    seqs = [128, 256, 300, 512, 1024, 2048, 4096, 8192]
    want = peak_series(config, spec, setup, "seq", seqs)
    (seq_chart,) = [c for t, c in charts.items() if "sequence" in t.lower()]
    lora = next(t for t in seq_chart["data"] if t["name"] == "LoRA")
    assert list(lora["x"]) == seqs
    assert [round(y * 2**30) for y in lora["y"]] == want["lora"]


@pytest.mark.parametrize(
    "lang,margin_word,band_word,verdicts",
    [
        ("en", "margin", "uncertainty band", {"yes", "tight", "no"}),
        ("te", "మార్జిన్", "అనిశ్చితి పరిధి", {"అవును", "బొటాబొటిగా సరిపోతుంది", "లేదు"}),
    ],
)
def test_band_and_margin_are_shown_in_either_language(app_test, lang, margin_word, band_word, verdicts):
    """The estimate's band (GPU validation) and the margin "Fits on" uses, with the numbers the core derives
    from the committed validation rows; the fits table gives yes / tight / no per card at its capacity."""
    from lora_core.memory.gpus import GPUS
    from lora_core.memory.uncertainty import gpu_band

    at = app_test(page="memory", query={**QUERY, "lang": lang})
    assert not at.exception, at.exception
    low, high, margin = gpu_band().percent()
    captions = [c.value for c in at.caption]
    band = [c for c in captions if band_word in c]
    assert band and f"{low:+.1f}" in band[0] and f"{high:+.1f}" in band[0] and f"{margin:.1f}" in band[0]
    assert any(margin_word in c and f"{margin:.1f}" in c for c in captions if c not in band)  # the fits caption
    (fits,) = [d.value for d in at.dataframe if len(d.value) == len(GPUS)]
    assert set(fits.iloc[:, 3]) <= verdicts
    assert list(fits.iloc[:, 2]) == [g.total_mib for g in GPUS]


# --- the adapter family -----------------------------------------------------------------------------------

FAMILY = [
    ({keys.MEM_ADAPTER: "vera", keys.MEM_RANK: "64"}, "VeraConfig("),
    ({keys.MEM_ADAPTER: "loha", keys.MEM_RANK: "4", keys.MEM_RANK_PATTERN: "down_proj=2"}, "LoHaConfig("),
    ({keys.MEM_ADAPTER: "lokr", keys.MEM_RANK: "8"}, "LoKrConfig("),
    ({keys.MEM_ADAPTER: "ia3", keys.MEM_FEEDFORWARD: "down_proj"}, "IA3Config("),
    ({keys.MEM_ADAPTER: "adalora", keys.MEM_RANK: "12"}, "AdaLoraConfig("),
    ({keys.MEM_RANK_PATTERN: "q_proj=32", keys.MEM_RSLORA: "true"}, "use_rslora=True"),
]


@pytest.mark.parametrize("query,snippet", FAMILY, ids=lambda v: str(v)[:40])
def test_every_adapter_type_is_estimated(app_test, query, snippet):
    """The page's numbers are the core's for the spec its inputs name, and the snippet is that type's."""
    from lora_core.memory import TrainingSetup, estimate_memory
    from lora_core.presets import load_preset
    from lora_ui.memory_inputs import memory_spec

    at = app_test(page="memory", query={**QUERY, **query})
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    adapter = query.get(keys.MEM_ADAPTER, "lora")
    spec = memory_spec(
        "all-linear", int(query.get(keys.MEM_RANK, 16)), adapter=adapter,
        rank_pattern=query.get(keys.MEM_RANK_PATTERN, ""), rslora=keys.MEM_RSLORA in query,
        feedforward=query.get(keys.MEM_FEEDFORWARD, ""),
    )  # fmt: skip
    e = estimate_memory(load_preset("qwen2.5-0.5b"), spec, TrainingSetup(seq=256))
    assert metric_values(at)["Trainable parameters"] == f"{e.trainable_params:,}"
    assert any(snippet in c.value for c in at.code), [c.value for c in at.code]


def test_ia3_has_no_rank_and_the_rank_survives_a_visit_to_it(app_test):
    at = app_test(page="memory", query={**QUERY, keys.MEM_RANK: "32", keys.MEM_SOLVE_VAR: "rank"})
    at.selectbox(key=keys.MEM_ADAPTER).set_value("ia3").run()
    assert not at.exception, at.exception
    assert at.number_input(key=keys.MEM_RANK).disabled
    assert any("IA3" in i.value for i in at.info)  # the solver cannot search a rank IA3 does not have
    at.selectbox(key=keys.MEM_ADAPTER).set_value("lora").run()
    assert at.number_input(key=keys.MEM_RANK).value == 32


def test_loha_has_no_4bit_method(app_test):
    at = app_test(page="memory", query={**QUERY, keys.MEM_ADAPTER: "loha", keys.MEM_METHOD: "qlora"})
    assert not at.exception, at.exception
    assert any("no 4" in e.value and "LoHa" in e.value for e in at.error)  # said, not guessed
    at.radio(key=keys.MEM_METHOD).set_value("lora").run()
    assert not at.error and at.metric


def test_family_in_telugu(app_test):
    at = app_test(page="memory", query={**QUERY, keys.MEM_ADAPTER: "vera", "lang": "te"})
    assert not at.exception, at.exception
    assert at.title[0].value == "మెమరీ" and at.metric


def test_mixtral_full_fine_tuning_is_estimated_though_lora_on_its_experts_is_refused(app_test):
    """The page's all-linear default reaches Mixtral's fused expert tensors, which the memory estimator does
    not model for LoRA: that method is refused by name, while full fine-tuning (no adapter) is estimated and
    its charts leave the refused methods out."""
    at = app_test(page="memory", query={keys.MEM_PRESET: "mixtral-8x7b", keys.MEM_METHOD: "full"})
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.metric, "no estimate shown"
    at.radio(key=keys.MEM_METHOD).set_value("lora").run()
    assert not at.exception, at.exception
    assert any("fused MoE expert" in e.value for e in at.error), [e.value for e in at.error]
