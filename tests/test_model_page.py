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
    at = app_test(page="model", query={"preset": "roberta-base", "rank": "8"})
    assert not at.exception, at.exception
    # RoBERTa-base q,v r=8: 294,912 (LoRA paper Table 2: 0.3M).
    assert _metric(at, "Trainable") == "294,912"
