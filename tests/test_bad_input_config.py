"""Bad input, config.json: whatever a student uploads, the parser (and the counting after it) either computes
or raises LoraLabError with a one-line message. Never another exception, never a hang on a huge file."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_core import config, params, spec
from lora_core.config import parse_config
from lora_core.errors import LoraLabError
from lora_core.validate import MAX_LAYERS

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(SETTINGS, max_examples=25)

TINY_LLAMA = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "num_hidden_layers": 1,
    "vocab_size": 32,
    "max_position_embeddings": 16,
    "tie_word_embeddings": False,
}


def clean(call, *args):
    """Run call; return its result, or None after checking the LoraLabError is one informative line."""
    try:
        return call(*args)
    except LoraLabError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message and len(message) < 400, repr(message)
        return None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
field_values = st.one_of(
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, -1, 1, 2, 3, 10**4, 10**4 + 1, 10**6, 10**6 + 1, 2**63]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
    st.lists(st.integers(0, 4), max_size=3),
    st.sampled_from(["llama", "gpt2", "bert", "nope", "", "LLAMA"]),
)


@given(json_values)
@SETTINGS
def test_any_json_value(value):
    result = clean(parse_config, json.dumps(value).encode())
    assert result is None or isinstance(result, dict)


@given(st.binary(max_size=300))
@SETTINGS
def test_any_bytes(data):
    clean(parse_config, data)


@given(st.text(max_size=200))
@SETTINGS
def test_any_text_including_lone_surrogates(text):
    clean(parse_config, text)


@given(st.dictionaries(st.sampled_from([*sorted(TINY_LLAMA), "n_layer", "head_dim", "n_embd"]), field_values))
@FEW
def test_mutated_config_parses_and_counts_or_fails_cleanly(changes):
    """Wrong types and sizes in the fields that matter, all the way through the parameter count."""
    cfg = dict(TINY_LLAMA, **changes)
    if isinstance(cfg.get("num_hidden_layers"), int) and cfg["num_hidden_layers"] > 4:
        cfg["num_hidden_layers"] = 4  # the depth cap has its own test; a deep meta model is slow to build
    parsed = clean(parse_config, json.dumps(cfg).encode())
    if parsed is None:
        return
    clean(params.count_params, parsed, spec.LoraSpec(r=4, target_modules="all-linear"))


@pytest.mark.parametrize(
    "text",
    [
        '{"model_type": "llama", "hidden_size": NaN}',
        '{"model_type": "llama", "hidden_size": Infinity}',
        '{"model_type": "llama", "hidden_size": -Infinity}',
        '{"model_type": "llama", "hidden_size": 1e400}',
        '{"model_type": "llama", "hidden_size": '
        + "9" * 5000
        + "}",  # json.loads: ValueError past 4300 digits
        '{"model_type": "llama", "hidden_size": 4096.0}',
        '{"model_type": "llama", "hidden_size": true}',
        '{"model_type": "llama", "hidden_size": "4096"}',
        '{"model_type": "llama", "hidden_size": 1000001, "num_hidden_layers": 1, "vocab_size": 8}',
        f'{{"model_type": "llama", "hidden_size": 8, "num_hidden_layers": {MAX_LAYERS + 1}, "vocab_size": 8}}',
        '{"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 2, "vocab_size": 8, "rope_theta": 1e400}',
        '{"model_type": "llama", "model_type": "gpt2"}',
        '{"model_type": ["llama"]}',
        '{"model_type": "__class__"}',
        '{"model_type": "llama", "architectures": "LlamaForCausalLM"}',
        '{"model_type": "llama", "architectures": ["os.system"]}',
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "",
        "null",
        "{}",
        '"just a string"',
        "{'model_type': 'llama'}",
    ],
)
def test_known_bad_texts(text):
    assert clean(parse_config, text.encode()) is None


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"])
def test_wrong_encodings(encoding):
    data = json.dumps(dict(TINY_LLAMA, model_type="llama", note="é ä ñ"), ensure_ascii=False).encode(encoding)
    result = clean(parse_config, data)
    assert result is None  # not UTF-8: refused with a message, not misread


def test_utf8_with_bom_is_accepted():
    data = b"\xef\xbb\xbf" + json.dumps(TINY_LLAMA).encode()
    assert clean(parse_config, data) == TINY_LLAMA


def test_over_the_cap_is_refused_before_parsing():
    cap = config.MAX_CONFIG_BYTES
    data = b'{"model_type": "llama", "pad": "' + b"x" * cap + b'"}'
    with pytest.raises(LoraLabError, match="limit"):
        parse_config(data)
    with pytest.raises(LoraLabError, match="limit"):
        parse_config(data.decode())


def test_at_the_cap_is_read():
    cap = config.MAX_CONFIG_BYTES
    head = json.dumps(TINY_LLAMA)[:-1] + ', "pad": "'
    data = (head + "x" * (cap - len(head) - 2) + '"}').encode()
    assert len(data) == cap
    assert clean(parse_config, data) == json.loads(data)
