"""Model page through AppTest: PEFT's published Llama-2-7B figure, and widgets that move the numbers."""


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_default_is_peft_famous_llama_2_7b_figure(app_test):
    at = app_test(page="model")
    assert not at.exception, at.exception
    # PEFT's print_trainable_parameters for Llama-2-7B, r=8, q_proj+v_proj: 4,194,304 of 6,742,609,920.
    assert _metric(at, "Trainable") == "4,194,304"
    assert _metric(at, "All params (PEFT)") == "6,742,609,920"
    assert "LoraConfig(" in at.code[0].value


def test_rank_and_preset_change_the_numbers(app_test):
    at = app_test(page="model")
    at.number_input(key="rank").set_value(16).run()
    assert _metric(at, "Trainable") == f"{2 * 4_194_304:,}"  # linear in r
    at.selectbox(key="preset").set_value("gpt2").run()
    assert not at.exception, at.exception
    # GPT-2 small, c_attn (768 -> 2304) in 12 layers at r=16: 12 * 16 * (768 + 2304).
    assert at.multiselect(key="targets").value == ["c_attn"]
    assert _metric(at, "Trainable") == f"{12 * 16 * (768 + 2304):,}"


def test_query_params_restore_the_view(app_test):
    from lora_core.spec import MAX_OFFERED_RANK
    from lora_core.validate import MAX_ALPHA

    at = app_test(page="model", query={"preset": "roberta-base", "rank": "8"})
    assert not at.exception, at.exception
    # each limit defined once, in the core: the rank the Memory page and the solver offer, LoraSpec's alpha
    assert (at.number_input(key="rank").max, at.number_input(key="alpha").max) == (MAX_OFFERED_RANK, MAX_ALPHA)
    # RoBERTa-base q,v r=8: 294,912 (LoRA paper Table 2: 0.3M).
    assert _metric(at, "Trainable") == "294,912"


# --- the LoRA family side by side ----------------------------------------------------------------------------

LAYERS, HIDDEN = 32, 4096  # Llama-2-7B: 32 layers, q_proj and v_proj 4096 -> 4096


def family_table(at):
    """The family table (the page's second dataframe) as {type: row}."""
    df = at.dataframe[1].value
    return {row.iloc[0].rstrip(" ◀"): row for _, row in df.iterrows()}


def test_the_family_side_by_side_on_llama_2_7b(app_test):
    """PEFT's counts (equal to ours: tests/test_params_family.py) at r=8 on q_proj and v_proj, as formulas."""
    at = app_test(page="model")
    assert not at.exception, at.exception
    table = family_table(at)
    lora = LAYERS * 2 * 8 * (HIDDEN + HIDDEN)  # 4,194,304
    # LoKr: 4096 = 64 x 64 on both sides; w2 is factored below r = 32: w1 64x64 + w2_a 64x8 + w2_b 8x64
    want = {
        "LoRA": lora,
        "rsLoRA": lora,  # the same tensors, another scaling
        "DoRA": lora + LAYERS * 2 * HIDDEN,  # + one magnitude per output
        "VeRA": LAYERS * 2 * (HIDDEN + 8),  # lambda_b (out) + lambda_d (r)
        "LoHa": 2 * lora,  # two rank-r pairs
        "LoKr": LAYERS * 2 * (64 * 64 + 64 * 8 + 8 * 64),
        "IA3": LAYERS * 2 * HIDDEN,  # one vector per module, on its output
        "AdaLoRA": lora + LAYERS * 2 * 8,  # + lora_E (r, 1)
    }
    assert {k: int(v.iloc[1].replace(",", "")) for k, v in table.items()} == want
    assert table["LoKr"].iloc[4] == "Kronecker-structured, can be full rank"
    assert table["VeRA"].iloc[4] == "rank ≤ r, with only the two scaling vectors trained"
    # fp32 adapters (Llama-2's config.json names float16 for the model: no bias or copy trained here)
    assert table["LoRA"].iloc[3] == f"{4 * lora / 2**20:,.2f} MiB"
    assert "LoRA ◀" in at.dataframe[1].value.iloc[:, 0].tolist()


def test_the_table_and_numbers_follow_the_chosen_type(app_test):
    at = app_test(page="model", query={"adapter": "vera", "rank": "256"})
    assert not at.exception, at.exception
    assert _metric(at, "Trainable") == f"{LAYERS * 2 * (HIDDEN + 256):,}"
    assert "VeraConfig(" in at.code[0].value and "r=256" in at.code[0].value
    assert "VeRA ◀" in at.dataframe[1].value.iloc[:, 0].tolist()
    at.selectbox(key="adapter").set_value("ia3").run()
    at.multiselect(key="feedforward").set_value(["v_proj"]).run()
    assert not at.exception, at.exception
    assert "IA3Config(" in at.code[0].value and "feedforward_modules=['v_proj']" in at.code[0].value
    assert at.number_input(key="rank").disabled


def test_types_that_cannot_wrap_gpt2s_conv1d_say_so(app_test):
    at = app_test(page="model", query={"preset": "gpt2"})
    assert not at.exception, at.exception
    table = family_table(at)
    for name in ("LoHa", "LoKr"):  # lycoris_utils.py: nn.Linear only, not transformers' Conv1D
        assert table[name].iloc[1] == "–" and "cannot adapt" in table[name].iloc[4]
    assert table["VeRA"].iloc[1] != "–"


def test_family_table_in_telugu(app_test):
    at = app_test(page="model", query={"lang": "te"})
    assert not at.exception, at.exception
    assert at.dataframe[1].value.columns[0] == "రకం"
