"""Parse a user's config.json: JSON only, bounded, checked before any model is built.

Nothing here unpickles or executes anything: the bytes go through `json.loads` and plain type checks.
Every refusal is a `LoraLabError` with a one-line message saying what was wrong and what is allowed.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from lora_core.errors import LoraLabError
from lora_core.validate import MAX_DIM, MAX_LAYERS, positive_int

MAX_CONFIG_BYTES = 1_000_000  # 1 MB: real config.json files are a few KB (Llama-3.2's is ~1 KB)

# Width-like fields, each capped at MAX_DIM when present.
DIM_FIELDS = (
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "n_embd",
    "n_head",
    "n_inner",
    "n_positions",
    "n_ctx",
    "d_model",
    "d_ff",
    "d_kv",
    "num_heads",
    "num_local_experts",
    "num_experts",
    "num_experts_per_tok",
    "moe_intermediate_size",
)
# Depth-like fields, each capped at MAX_LAYERS when present.
LAYER_FIELDS = ("num_hidden_layers", "n_layer", "num_layers", "num_decoder_layers")
# One of each group must be present: the width and the depth of the model.
_WIDTH = ("hidden_size", "n_embd", "d_model")
_DEPTH = ("num_hidden_layers", "n_layer", "num_layers")


def _reject_constant(name: str) -> Any:
    raise LoraLabError("config.not_finite", value=name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses to inf
        raise LoraLabError("config.not_finite", value=text[:40])
    return value


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        size = len(data.encode("utf-8", errors="surrogatepass"))
        text = data
    elif isinstance(data, bytes | bytearray):
        size = len(data)
        text = None
    else:
        raise LoraLabError("config.type", type=type(data).__name__)
    if size > MAX_CONFIG_BYTES:
        raise LoraLabError("file.too_large", name="config.json", size=size, limit=MAX_CONFIG_BYTES)
    if text is None:
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LoraLabError("config.not_utf8") from None
    return text


def _int_field(config: dict, key: str, maximum: int) -> None:
    value = config[key]
    if key == "n_inner" and value is None:  # GPT-2: None means 4 * n_embd
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise LoraLabError("config.field_not_integer", key=key, value=json.dumps(value)[:40])
    positive_int(key, value, maximum=maximum)


def parse_config(data: bytes | str) -> dict:
    """The checked config.json object, ready for `arch.inventory` / `params.count_params`."""
    text = _decode(data)
    try:
        config = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise LoraLabError("config.bad_json", detail=exc.msg, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise LoraLabError("config.too_deep") from None
    except LoraLabError:  # NaN / Infinity, from _reject_constant
        raise
    except ValueError:  # int() past sys.get_int_max_str_digits() (4,300 digits, CPython 3.11 default)
        limit = sys.get_int_max_str_digits()
        raise LoraLabError("config.number_too_long", limit=limit) from None
    if not isinstance(config, dict):
        raise LoraLabError("config.not_object", type=type(config).__name__)

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise LoraLabError("config.no_model_type")
    from transformers import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING:
        raise LoraLabError("config.unknown_model_type", model_type=model_type[:60])
    archs = config.get("architectures")
    if archs is not None and (
        not isinstance(archs, list) or not archs or not all(isinstance(a, str) and a for a in archs)
    ):
        raise LoraLabError("config.architectures")
    if "tie_word_embeddings" in config and not isinstance(config["tie_word_embeddings"], bool):
        raise LoraLabError("config.tie_word_embeddings")

    for key in DIM_FIELDS:
        if key in config:
            _int_field(config, key, MAX_DIM)
    for key in LAYER_FIELDS:
        if key in config:
            _int_field(config, key, MAX_LAYERS)
    if not any(k in config for k in _WIDTH):
        raise LoraLabError("config.no_width", fields=_WIDTH)
    if not any(k in config for k in _DEPTH):
        raise LoraLabError("config.no_depth", fields=_DEPTH)
    if "vocab_size" not in config:
        raise LoraLabError("config.no_vocab")
    return config


def depth_and_width(config: dict) -> tuple[int, int]:
    """(layers, model width) of a parsed config, under whichever field names its architecture uses."""
    depth = next(config[k] for k in _DEPTH if k in config)
    width = next(config[k] for k in _WIDTH if k in config)
    return int(depth), int(width)
