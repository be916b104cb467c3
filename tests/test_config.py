"""The config.json parser refuses bad input with one-line LoraLabErrors; the inventory stays on meta."""

from __future__ import annotations

import json

import pytest

from lora_core import LoraLabError
from lora_core.arch import build_meta_model, inventory
from lora_core.config import MAX_CONFIG_BYTES, parse_config
from lora_core.presets import PRESETS, load_preset

GOOD = json.dumps(load_preset("gpt2"))


def with_(**changes) -> str:
    cfg = load_preset("gpt2")
    for k, v in changes.items():
        if v is ...:
            cfg.pop(k)
        else:
            cfg[k] = v
    return json.dumps(cfg)


def test_good_config_bytes_and_text():
    assert parse_config(GOOD.encode()) == parse_config(GOOD) == load_preset("gpt2")


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "not valid JSON"),
        (b"\x80\x81 not utf8", "UTF-8"),
        (b"{'model_type': 'gpt2'}", "not valid JSON"),
        (b"[1, 2, 3]", "JSON object"),
        (b'"gpt2"', "JSON object"),
        (b"\x80" * (MAX_CONFIG_BYTES + 1), "limit"),
        ("[" * 100_000 + "]" * 100_000, "nested|JSON object"),
        (GOOD.replace('"n_embd": 768', '"n_embd": NaN'), "finite"),
        (GOOD.replace('"n_embd": 768', '"n_embd": Infinity'), "finite"),
        (with_(model_type=...), "model_type"),
        (with_(model_type=7), "model_type"),
        (with_(model_type="not-a-real-arch"), "unknown model_type"),
        (with_(n_embd="768"), "n_embd must be an integer"),
        (with_(n_embd=768.5), "n_embd must be an integer"),
        (with_(n_embd=True), "n_embd must be an integer"),
        (with_(n_embd=0), "n_embd"),
        (with_(n_embd=-5), "n_embd"),
        (with_(n_embd=10**9), "n_embd"),
        (with_(n_layer=10**6), "n_layer"),
        (with_(vocab_size=...), "vocab_size"),
        (with_(n_embd=...), "width"),
        (with_(n_layer=...), "layers"),
        (with_(architectures="GPT2LMHeadModel"), "architectures"),
        (with_(architectures=[]), "architectures"),
        (with_(tie_word_embeddings="yes"), "tie_word_embeddings"),
    ],
)
def test_bad_configs(data, match):
    with pytest.raises(LoraLabError, match=match) as exc:
        parse_config(data)
    assert "\n" not in str(exc.value)


def test_build_errors_are_lora_lab_errors():
    # n_head must divide n_embd: GPT-2's attention refuses at construction; we say so in one line.
    cfg = parse_config(with_(n_embd=770, n_head=12))
    with pytest.raises(LoraLabError, match="cannot build"):
        inventory(cfg)


def test_unknown_architecture_falls_back_to_auto_by_model_type():
    # t5-base's real config names the retired class T5WithLMHeadModel.
    assert load_preset("t5-base")["architectures"] == ["T5WithLMHeadModel"]
    assert inventory(load_preset("t5-base")).architecture == "T5ForConditionalGeneration"


def test_presets_all_load_and_unknown_preset_lists_names():
    assert len(PRESETS) >= 22
    for name in PRESETS:
        assert parse_config(json.dumps(load_preset(name))) == load_preset(name)
    with pytest.raises(LoraLabError, match="llama-3-8b"):
        load_preset("llama-9")


def test_70b_stays_on_meta():
    # 69B parameters would be 276 GB in fp32; on the meta device they are shapes only.
    model = build_meta_model(load_preset("llama-2-70b"))
    assert all(p.is_meta for p in model.parameters())
    assert all(b.is_meta for b in model.buffers())
    assert inventory(load_preset("llama-2-70b")).total_params == sum(p.numel() for p in model.parameters())


def test_callers_get_copies():
    cfg = load_preset("gpt2")
    a = build_meta_model(cfg)
    a.transformer.h[0].attn.c_attn = None
    assert build_meta_model(cfg).transformer.h[0].attn.c_attn is not None
