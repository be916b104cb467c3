"""Learn page: the worked example comes from lora_core, its exports exist, and the scenarios point at real pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from lora_core.matrix import matrix_cost
from lora_ui import keys
from lora_ui.scenarios import BY_ID, SCENARIOS
from lora_ui.strings import learn as learn_strings

ROOT = Path(__file__).resolve().parents[1]


def metrics(at) -> list[str]:
    return [m.value for m in at.metric]


def test_worked_example_is_the_seed_example(app_test):
    at = app_test(page="learn", timeout=300)
    assert not at.exception, at.exception
    # seeds/000: 10,000 x 10,000 at r = 8 -> 100,000,000 full, 160,000 LoRA, 0.16 %.
    assert metrics(at)[:3] == [
        f"{10_000 * 10_000:,}",
        f"{(10_000 + 10_000) * 8:,}",
        "0.16 %",
    ]  # then the gallery
    assert at.slider(key=keys.LEARN_R).value == 8
    assert len(at.latex) >= 3  # W' = W + (alpha/r) B A, the shapes, d*k against (d+k)*r


def test_worked_example_follows_the_rank(app_test):
    at = app_test(page="learn", timeout=300)
    at.slider(key=keys.LEARN_R).set_value(64).run()
    cost = matrix_cost(10_000, 10_000, 64)
    assert metrics(at)[1] == f"{(10_000 + 10_000) * 64:,}" == f"{cost.lora_params:,}"
    assert metrics(at)[2] == f"{cost.percent:.2f} %"


def test_worked_example_table_has_a_csv_download(app_test):
    at = app_test(page="learn", timeout=300)
    assert len(at.dataframe) == 1
    df = at.dataframe[0].value
    assert list(df.iloc[:, 2]) == [10_000 * 10_000, 10_000 * 8, 8 * 10_000]
    assert len(at.get("download_button")) == 1


def test_page_links_onward_and_to_every_scenario(app_test):
    at = app_test(page="learn", timeout=300)
    links = at.get("page_link")
    assert len(links) == 4 + 1 + len(SCENARIOS)  # onward, the family on the Model page, the scenarios


def test_the_family_section_names_every_type_and_its_paper(app_test):
    """Section 9: one paragraph per PEFT type (and LoRA+), each citing its paper, in both languages."""
    for lang in ("en", "te"):
        at = app_test(page="learn", query={"lang": lang}, timeout=300)
        assert not at.exception, at.exception
        text = " ".join(m.value for m in at.markdown)
        for name, author in (("rsLoRA", "Kalajdzievski"), ("DoRA", "Liu"), ("VeRA", "Kopiczko"),
                             ("LoHa", "Hyeon-Woo"), ("LoKr", "Yeh"), ("IA3", "Liu"), ("AdaLoRA", "Zhang"),
                             ("LoRA+", "Hayou")):  # fmt: skip
            assert f"**{name}** ({author}" in text or f"**{name}** (FedPara, {author}" in text or (
                f"**{name}** (LyCORIS, {author}" in text
            ), (lang, name)
        captions = " ".join(c.value for c in at.caption)
        for arxiv in ("2312.03732", "2402.09353", "2310.11454", "2108.06098", "2309.14859", "2205.05638",
                      "2303.10512", "2402.12354"):  # fmt: skip
            assert arxiv in captions, (lang, arxiv)


def test_learn_page_in_telugu(app_test):
    at = app_test(page="learn", timeout=300)
    at.sidebar.radio(key="lang").set_value("te").run()
    assert not at.exception
    assert metrics(at)[0] == "100,000,000"
    assert "నేర్చుకోండి" in at.title[0].value


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_scenario_points_at_a_page_and_has_text(scenario):
    assert (ROOT / scenario.page_file).exists()
    for part in ("title", "body", "note"):
        assert f"scenario.{scenario.id}.{part}" in learn_strings.EN
    assert scenario.url().startswith(f"/{scenario.page}?")


def test_scenario_urls():
    assert BY_ID["seed_matrix"].url() == "/matrix?d=10000&k=10000&r=8"
    assert (
        BY_ID["llama2_qv"].url("te")
        == "/model?preset=llama-2-7b&targets=q_proj&targets=v_proj&rank=8&lang=te"
    )
    assert BY_ID["llama2_qv"].query()[keys.MODEL_TARGETS] == ["q_proj", "v_proj"]


def test_llama2_qv_is_peft_famous_count():
    # PEFT's print_trainable_parameters for Llama-2-7B with q_proj, v_proj at r = 8: 4,194,304
    # = 32 layers * 2 modules * (4096 in + 4096 out) * 8.
    assert 32 * 2 * (4096 + 4096) * 8 == 4_194_304
    assert "4,194,304" in learn_strings.EN["scenario.llama2_qv.body"]


def test_gpt3_fused_c_attn_matches_the_papers_q_v_count():
    # LoRA paper, GPT-3 175B: r = 4 on W_q and W_v (d_model 12,288). Our preset's c_attn is 12288 -> 3*12288.
    d_model, r = 12_288, 4
    assert (d_model + 3 * d_model) * r == 2 * (d_model + d_model) * r
