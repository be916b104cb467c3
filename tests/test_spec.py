"""LoraSpec validates at construction and renders the LoraConfig it stands for."""

from __future__ import annotations

import pytest

from lora_core import LoraLabError
from lora_core.spec import LoraSpec


def test_defaults_are_peft_defaults():
    s = LoraSpec()
    assert (s.r, s.alpha, s.target_modules, s.bias, s.use_dora, s.modules_to_save) == (
        8,
        8.0,
        ("q_proj", "v_proj"),
        "none",
        False,
        (),
    )
    assert s.scaling == 1.0


def test_normalises_inputs():
    s = LoraSpec(r="16", alpha="32", target_modules="q_proj, v_proj,q_proj", modules_to_save="lm_head")
    assert s.r == 16 and s.alpha == 32.0 and s.target_modules == ("q_proj", "v_proj")
    assert s.modules_to_save == ("lm_head",)
    assert LoraSpec(target_modules="ALL-LINEAR").all_linear


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(r=0), "rank"),
        (dict(r=-1), "rank"),
        (dict(r=2.5), "rank"),
        (dict(alpha=0), "alpha"),
        (dict(alpha=float("nan")), "alpha"),
        (dict(target_modules=()), "at least one"),
        (dict(target_modules=("q proj",)), "not a module name"),
        (dict(bias="some"), "bias"),
        (dict(use_dora="yes"), "use_dora"),
        (dict(target_modules=("lm_head",), modules_to_save=("lm_head",)), "both"),
    ],
)
def test_rejects(kwargs, match):
    with pytest.raises(LoraLabError, match=match):
        LoraSpec(**kwargs)


def test_snippet_builds_the_same_lora_config():
    import peft
    s = LoraSpec(
        r=16,
        alpha=32,
        target_modules="all-linear",
        bias="lora_only",
        use_dora=True,
        modules_to_save=("lm_head",),
    )
    code = s.peft_snippet()
    assert "get_peft_model(model, config)" in code
    ns: dict = {}
    exec(code.split("model = get_peft_model")[0], ns)  # the LoraConfig(...) part, run for real
    cfg = ns["config"]
    assert isinstance(cfg, peft.LoraConfig)
    assert (cfg.r, cfg.lora_alpha, cfg.target_modules, cfg.bias, cfg.use_dora) == (
        16,
        32,
        "all-linear",
        "lora_only",
        True,
    )
    assert list(cfg.modules_to_save) == ["lm_head"]


def test_the_offered_rank_reaches_the_hidden_size_of_every_preset_below_13b():
    """MAX_OFFERED_RANK's reason, as its comment gives it: only the presets of 13B parameters and more are
    wider (a rank past a layer's smaller side buys nothing)."""
    from lora_core.arch import inventory
    from lora_core.config import depth_and_width
    from lora_core.presets import PRESETS, load_preset
    from lora_core.spec import MAX_OFFERED_RANK

    wider = [p for p in PRESETS if depth_and_width(load_preset(p))[1] > MAX_OFFERED_RANK]
    assert wider and all(inventory(load_preset(p)).total_params >= 13e9 for p in wider), wider
