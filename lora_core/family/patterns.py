"""PEFT's `rank_pattern` / `alpha_pattern`: per-module ranks and alphas, keyed the way PEFT keys them.

A key is a regular expression. A module (full name, e.g. `model.layers.0.self_attn.q_proj`) takes the
value of the first key, in the order given, for which `re.match(rf"(.*\\.)?({key})$", name)` matches
(peft/utils/other.py:1524-1532 `get_pattern_key`); with no matching key it keeps the spec's `r` / `alpha`
(peft/tuners/lora/model.py:309-312, loha/model.py:106-111, lokr/model.py:107-112). So `q_proj` matches
every q_proj, `layers.0.self_attn.q_proj` only layer 0's, and `^model.layers.0.` nothing (the key must run
to the end of the name).

Keys come from users (CLI flags, pages), so they are checked before any regex runs: at most 200
characters of `A-Z a-z 0-9 _ . * + ? ^ $ | \\ [ ] -`, at most 3 of the repetition marks `* + ?`, and no
groups or `{n}` counts. Nested repetition (`(a+)+`) is what makes a regex take exponential time; without
groups it cannot be written, and 3 marks keep the matching polynomial on names of a few dozen characters.
"""

from __future__ import annotations

import re

from lora_core.errors import LoraLabError
from lora_core.validate import MAX_ALPHA, MAX_DIM, positive_float, positive_int

_KEY = re.compile(r"^[A-Za-z0-9_.*+?^$|\\\[\]-]+$")
_MAX_KEY_CHARS = 200  # longer than any module name in a shipped config (the longest is ~60)
_MAX_REPEATS = 3  # * + ? marks per key: `.*\.0\..*` needs two
_MAX_KEYS = 64  # as many as target_modules may name (lora_core/spec.py _MAX_NAMES)

Pattern = tuple[tuple[str, float], ...]  # (key, value) in the order given: the first match wins


def _key(field: str, key: str) -> str:
    key = key.strip()
    if not key or len(key) > _MAX_KEY_CHARS or not _KEY.match(key):
        raise LoraLabError("pattern.bad_key", field=field, key=key[:60], limit=_MAX_KEY_CHARS)
    if sum(key.count(c) for c in "*+?") > _MAX_REPEATS:
        raise LoraLabError("pattern.too_many_repeats", field=field, key=key[:60], limit=_MAX_REPEATS)
    try:
        re.compile(key)
    except re.error as exc:
        raise LoraLabError("pattern.invalid", field=field, key=key[:60], detail=str(exc)) from None
    return key


def parse_pattern(field: str, value, *, integer: bool) -> Pattern:
    """`{"q_proj": 16}`, `[("q_proj", 16)]` or `"q_proj=16,v_proj=4"` as ((key, value), ...), checked.

    `integer`: ranks (positive integers up to MAX_DIM); otherwise alphas (positive numbers).
    """
    if value is None:
        return ()
    if isinstance(value, str):
        items = []
        for part in value.split(","):
            if not part.strip():
                continue
            key, eq, val = part.partition("=")
            if not eq:
                raise LoraLabError("pattern.not_pair", field=field, part=part.strip()[:60])
            items.append((key, val))
    elif isinstance(value, dict):
        items = list(value.items())
    else:
        try:
            items = [(k, v) for k, v in value]
        except (TypeError, ValueError):
            raise LoraLabError("pattern.not_mapping", field=field) from None
    if len(items) > _MAX_KEYS:
        raise LoraLabError("pattern.too_many", field=field, limit=_MAX_KEYS, count=len(items))
    out: dict[str, float] = {}
    for k, v in items:
        if not isinstance(k, str):
            raise LoraLabError("pattern.key_type", field=field, key=k)
        key = _key(field, k)
        if key in out:
            raise LoraLabError("pattern.duplicate", field=field, key=key)
        if integer:
            out[key] = positive_int(f"{field}[{key}]", v, maximum=MAX_DIM)
        else:
            out[key] = positive_float(f"{field}[{key}]", v, maximum=MAX_ALPHA)
    return tuple(out.items())


def pattern_key(pattern: Pattern, name: str) -> str | None:
    """The key that decides `name`'s value, or None (peft/utils/other.py:1524-1532 get_pattern_key)."""
    for key, _ in pattern:
        if re.match(rf"(.*\.)?({key})$", name):
            return key
    return None


def pattern_value(pattern: Pattern, name: str, default: float) -> float:
    """`pattern.get(get_pattern_key(pattern, name), default)`, as PEFT's `_create_and_replace` reads it."""
    key = pattern_key(pattern, name)
    return default if key is None else dict(pattern)[key]


def unmatched_keys(pattern: Pattern, names: list[str]) -> list[str]:
    """Keys matching none of `names` (PEFT warns about them, tuners_utils.py:1110-1127; we refuse them)."""
    return [k for k, _ in pattern if not any(re.match(rf"(.*\.)?({k})$", n) for n in names)]


def pattern_text(pattern: Pattern) -> str:
    """`q_proj=16,v_proj=4`: the CLI's form."""
    return ",".join(f"{k}={v:g}" for k, v in pattern)
