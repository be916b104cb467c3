"""PEFT parity for the LoRA family: VeRA, LoHa, LoKr, IA3, AdaLoRA, and LoRA with rank/alpha patterns and rsLoRA.

Our `count_params(config, spec)` equals `get_peft_model(meta_model, XConfig(...)).get_nb_trainable_parameters()`
on every preset with several specs per type (the big presets are @slow, as in tests/test_params_peft.py).
Where PEFT refuses a module kind, we refuse too, with a LoraLabError. Where we refuse what PEFT only warns
about or ignores (a pattern or a feedforward name that matches nothing), the difference is tested as such.
The oracle leaves AdaLoRA's meta-only trainable ranknum out (tests/peft_oracle.py);
`test_real_weights_equal_peft` checks every type on real CPU weights with no correction at all.
"""

from __future__ import annotations

import warnings

import peft
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_core import LoraLabError
from lora_core.arch import build_meta_model
from lora_core.family.shapes import factorization
from lora_core.family.specs import AdaLoraSpec, IA3Spec, LoHaSpec, LoKrSpec, VeraSpec, make_spec
from lora_core.params import count_params
from lora_core.presets import load_preset
from lora_core.spec import LoraSpec
from tests.peft_oracle import peft_config, peft_counts, peft_model, preset_cases

FAST = {"gpt2", "bert-base", "roberta-base", "t5-base", "qwen2.5-0.5b", "llama-3.2-1b"}

# Per model type: (attention targets; IA3 targets and feedforward names; a module for modules_to_save).
# IA3's are PEFT's own defaults (utils/constants.py TRANSFORMERS_MODELS_TO_IA3_*_MAPPING) where they exist
# for transformers 5 (Mixtral's "w2" is a fused tensor there, so o_proj stands in; phi3 has no default).
NAMES = {
    "gpt2": (("c_attn",), (("c_attn", "mlp.c_proj"), ("mlp.c_proj",)), "lm_head"),
    "bert": (("query", "value"), (("key", "value", "output.dense"), ("output.dense",)), "cls"),
    "roberta": (("query", "value"), (("key", "value", "output.dense"), ("output.dense",)), "lm_head"),
    "t5": (("q", "v"), (("k", "v", "wo"), ("wo",)), "lm_head"),
    "phi3": (("qkv_proj",), (("qkv_proj", "down_proj"), ("down_proj",)), "lm_head"),
    "mixtral": (("q_proj", "v_proj"), (("k_proj", "v_proj", "o_proj"), ("o_proj",)), "lm_head"),
}
DEFAULT_NAMES = (("q_proj", "v_proj"), (("k_proj", "v_proj", "down_proj"), ("down_proj",)), "lm_head")
LAYER0 = r"[^.]*\.0\..*"  # a rank_pattern key for every module of layer (block) 0


def specs_for(preset: str) -> list:
    model_type = load_preset(preset)["model_type"]
    qv, (ia3_targets, ff), save = NAMES.get(model_type, DEFAULT_NAMES)
    return [
        # LoRA: per-module rank and alpha, first key wins (q of layer 0 gets 16, the rest of layer 0 gets 2)
        LoraSpec(
            r=8,
            target_modules="all-linear",
            rank_pattern={qv[0]: 16, LAYER0: 2},
            alpha_pattern={qv[-1]: 32},
            use_rslora=True,
        ),
        LoraSpec(
            r=4, target_modules=qv, rank_pattern={qv[-1]: 12}, bias="lora_only", modules_to_save=(save,)
        ),
        VeraSpec(r=16, target_modules=qv),
        VeraSpec(r=64, target_modules="all-linear", bias="vera_only", modules_to_save=(save,)),
        VeraSpec(r=32, target_modules=qv, bias="all", save_projection=False),
        LoHaSpec(r=4, alpha=16, target_modules=qv, rank_pattern={LAYER0: 8}),
        LoHaSpec(r=8, target_modules="all-linear", modules_to_save=(save,)),
        LoKrSpec(r=8, target_modules="all-linear"),
        LoKrSpec(r=2, target_modules=qv, decompose_both=True, rank_pattern={qv[0]: 64}),
        LoKrSpec(r=16, target_modules="all-linear", decompose_factor=8),
        IA3Spec(target_modules=ia3_targets, feedforward_modules=ff),
        IA3Spec(target_modules="all-linear", feedforward_modules=ff, modules_to_save=(save,)),
        IA3Spec(target_modules=qv, feedforward_modules=()),
        AdaLoraSpec(init_r=12, target_modules=qv),
        AdaLoraSpec(init_r=4, alpha=32, target_modules="all-linear", bias="lora_only"),
        AdaLoraSpec(init_r=6, target_modules=qv, bias="all", modules_to_save=(save,)),
    ]


def _peft_refuses(config: dict, spec) -> bool:
    try:
        peft_model(build_meta_model(config), spec)
    except (TypeError, ValueError):  # NoMatchingPeftModuleError is a ValueError
        return True
    return False


CASES = preset_cases(specs_for, FAST)


@pytest.mark.parametrize("preset,i", CASES)
def test_equals_peft(preset, i):
    config = load_preset(preset)
    spec = specs_for(preset)[i]
    try:
        ours = count_params(config, spec)
    except LoraLabError:
        # We refuse only what PEFT refuses: LoHa/LoKr on GPT-2's Conv1D layers, for one.
        assert _peft_refuses(config, spec), spec
        return
    assert (ours.trainable_params, ours.total_params) == peft_counts(config, spec), spec
    assert ours.total_params == (
        ours.base_params + ours.adapter_params + ours.frozen_adapter_params + ours.saved_copy_params
    )
    assert ours.trainable_params == ours.adapter_params + ours.trained_base_params
    assert sum(m.lora_params for m in ours.modules) == ours.adapter_params
    assert sum(m.count for m in ours.modules) == len(ours.targets)


def test_every_type_counted_somewhere():
    """The sweep is not all refusals: each type is counted (not refused) on the fast presets."""
    counted = set()
    for preset in FAST:
        for spec in specs_for(preset):
            try:
                count_params(load_preset(preset), spec)
                counted.add(spec.adapter)
            except LoraLabError:
                pass
    assert counted == {"lora", "vera", "loha", "lokr", "ia3", "adalora"}


# Tiny configs built with real CPU weights: no meta device anywhere, so PEFT's count needs no correction.
TINY = {
    "llama": dict(
        model_type="llama",
        architectures=["LlamaForCausalLM"],
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=100,
    ),
    "gpt2": dict(
        model_type="gpt2", architectures=["GPT2LMHeadModel"], n_embd=48, n_layer=2, n_head=4, vocab_size=100
    ),
    "bert": dict(
        model_type="bert",
        architectures=["BertForMaskedLM"],
        hidden_size=48,
        intermediate_size=80,
        num_hidden_layers=2,
        num_attention_heads=4,
        vocab_size=100,
    ),
}
TINY_SPECS = {
    "llama": (("q_proj", "v_proj"), "down_proj"),
    "gpt2": (("c_attn",), "mlp.c_proj"),
    "bert": (("query", "value"), "output.dense"),
}


def _tiny_specs(arch: str) -> list:
    qv, ff = TINY_SPECS[arch]
    specs = [
        LoraSpec(r=4, target_modules="all-linear", rank_pattern={qv[0]: 8}, use_rslora=True, bias="all"),
        VeraSpec(r=8, target_modules="all-linear", bias="vera_only"),
        IA3Spec(target_modules=(*qv, ff), feedforward_modules=(ff,)),
        AdaLoraSpec(init_r=5, target_modules="all-linear", bias="lora_only"),
    ]
    if arch != "gpt2":  # LoHa and LoKr take nn.Linear only
        specs += [LoHaSpec(r=3, target_modules="all-linear"), LoKrSpec(r=2, target_modules="all-linear")]
    return specs


def _real(config: dict):
    """The model with real (uninitialised) CPU storage; to_empty unties shared weights, tie_weights re-ties them."""
    model = build_meta_model(config).to_empty(device="cpu")
    model.tie_weights()
    return model


@pytest.mark.parametrize(
    "arch,i", [(a, i) for a in TINY for i in range(len(_tiny_specs(a)))], ids=lambda v: str(v)
)
def test_real_weights_equal_peft(arch, i):
    config, spec = TINY[arch], _tiny_specs(arch)[i]
    model = _real(config)
    assert peft_model(model, spec).get_nb_trainable_parameters() == (
        count_params(config, spec).trainable_params,
        count_params(config, spec).total_params,
    )


def test_meta_ranknum_artefact_is_what_the_oracle_removes():
    # On meta, PEFT's trainable count exceeds the real one by exactly one ranknum value per AdaLoRA module.
    config, spec = TINY["llama"], AdaLoraSpec(init_r=5, target_modules=("q_proj", "v_proj"))
    meta = peft_model(build_meta_model(config), spec).get_nb_trainable_parameters()
    real = peft_model(_real(config), spec).get_nb_trainable_parameters()
    n_modules = len(count_params(config, spec).targets)
    assert meta[0] - real[0] == n_modules == 2 * 2 and meta[1] == real[1]


# PEFT refuses these; so do we (LoraLabError with a message naming the problem).
REFUSED = [
    ("gpt2", LoHaSpec(target_modules=("c_attn",)), "Conv1D"),  # lycoris_utils.py:256
    ("gpt2", LoKrSpec(target_modules="all-linear"), "Conv1D"),
    ("llama-3.2-1b", VeraSpec(target_modules=("embed_tokens",)), "Embedding"),  # vera/model.py:239
    ("llama-3.2-1b", IA3Spec(target_modules=("embed_tokens",), feedforward_modules=()), "Embedding"),
    ("bert-base", AdaLoraSpec(target_modules=("word_embeddings",)), "Embedding"),  # adalora/model.py:218
    ("llama-3.2-1b", LoHaSpec(target_modules=("input_layernorm",)), "norm"),
    ("mixtral-8x7b", VeraSpec(target_modules=("gate",)), "LoRA only"),  # the router: not a Linear
    ("mixtral-8x7b", LoHaSpec(target_modules=("w1",)), "LoRA only"),  # fused in transformers 5
    ("mixtral-8x7b", AdaLoraSpec(target_modules=("w2",)), "LoRA only"),
]


@pytest.mark.parametrize("preset,spec,match", REFUSED, ids=[f"{p}-{s.adapter}" for p, s, _ in REFUSED])
def test_refuses_what_peft_refuses(preset, spec, match):
    config = load_preset(preset)
    with pytest.raises(LoraLabError, match=match):
        count_params(config, spec)
    assert _peft_refuses(config, spec)


def test_ia3_feedforward_must_be_a_target():
    # ia3/config.py:109-112: PEFT's config refuses it; so does our spec
    with pytest.raises(ValueError, match="subset"):
        peft.IA3Config(target_modules=["q_proj"], feedforward_modules=["down_proj"])
    with pytest.raises(LoraLabError, match="down_proj"):
        IA3Spec(target_modules=("q_proj",), feedforward_modules=("down_proj",))


# Stricter than PEFT: PEFT counts these (warning at most); a name that matches nothing is a mistake.
STRICTER = [
    (
        "llama-3.2-1b",
        LoraSpec(target_modules=("q_proj",), rank_pattern={"v_proj": 4}),
        "rank_pattern key 'v_proj'",
    ),
    (
        "llama-3.2-1b",
        LoHaSpec(target_modules=("q_proj",), alpha_pattern={"nope": 4}),
        "alpha_pattern key 'nope'",
    ),
    (
        "llama-3.2-1b",
        IA3Spec(target_modules="all-linear", feedforward_modules=("fc2",)),
        "'fc2' is not a target",
    ),
    (
        "mixtral-8x7b",
        IA3Spec(target_modules=("k_proj", "v_proj", "w2"), feedforward_modules=("w2",)),
        "LoRA only",
    ),
]


@pytest.mark.parametrize("preset,spec,match", STRICTER, ids=[f"{p}-{s.adapter}" for p, s, _ in STRICTER])
def test_stricter_than_peft(preset, spec, match):
    config = load_preset(preset)
    with pytest.raises(LoraLabError, match=match):
        count_params(config, spec)
    assert not _peft_refuses(config, spec)  # PEFT 0.21.2 adapts the rest and says nothing (or warns)


# Formulas, per targeted module (family/shapes.py), on Llama-2-7B's 32 layers of 4096 x 4096 q and v.
def test_formulas_llama2_7b():
    config = load_preset("llama-2-7b")
    n, d = 32 * 2, 4096

    def trainable(spec):
        return count_params(config, spec).trainable_params

    assert trainable(VeraSpec(r=256)) == n * (d + 256)  # lambda_b (out,) + lambda_d (r,)
    assert trainable(LoHaSpec(r=8)) == n * 2 * 8 * (d + d)  # two rank-8 pairs
    # LoKr: 4096 = 64 * 64 on both sides; w1 64 x 64 full, w2 at rank 8 since 8 < 64 / 2
    assert factorization(4096) == (64, 64)
    assert trainable(LoKrSpec(r=8)) == n * (64 * 64 + 8 * (64 + 64))
    assert trainable(LoKrSpec(r=32)) == n * (64 * 64 + 64 * 64)  # r >= 64/2: w2 in full too
    assert trainable(LoKrSpec(r=8, decompose_both=True)) == n * (8 * (64 + 64) + 8 * (64 + 64))
    # The w2 threshold where it shows: down_proj 11008 -> 4096, in = 86 * 128, out = 64 * 64, so w1 is
    # (64, 86) and w2 (64, 128); r = 64 = 128 / 2 keeps w2 full, r = 63 factors it (lokr/layer.py:204).
    assert factorization(11008) == (86, 128)
    down = ("down_proj",)
    assert trainable(LoKrSpec(r=64, target_modules=down)) == 32 * (64 * 86 + 64 * 128)
    assert trainable(LoKrSpec(r=63, target_modules=down)) == 32 * (64 * 86 + 63 * (64 + 128))
    # decompose_both: w1 (64, 86) stays full at r = 43 = 86 / 2 (lokr/layer.py:203); w2 factors (43 < 64)
    both = LoKrSpec(r=43, target_modules=down, decompose_both=True)
    assert trainable(both) == 32 * (64 * 86 + 43 * (64 + 128))
    assert trainable(LoKrSpec(r=42, target_modules=down, decompose_both=True)) == 32 * 42 * (
        64 + 86 + 64 + 128
    )
    assert (
        count_params(config, LoKrSpec(r=64, target_modules=down)).trainable_params
        == peft_counts(config, LoKrSpec(r=64, target_modules=down))[0]
    )
    assert trainable(IA3Spec(target_modules=("q_proj", "v_proj"), feedforward_modules=())) == n * d
    ada = count_params(config, AdaLoraSpec(init_r=12))
    assert ada.trainable_params == n * 12 * (d + d + 1)  # lora_A, lora_E, lora_B
    assert ada.total_params == ada.base_params + ada.trainable_params + n  # + one frozen ranknum each
    # rsLoRA changes the scaling, not the count
    plain, rs = LoraSpec(r=16, alpha=32), LoraSpec(r=16, alpha=32, use_rslora=True)
    assert trainable(plain) == trainable(rs)
    assert rs.scaling == 32 / 4 and plain.scaling == 32 / 16
    assert count_params(config, rs).targets[0].scaling == 8.0


@pytest.mark.parametrize(
    "preset,r,expected", [("roberta-base", 1024, 43_008), ("roberta-large", 256, 61_440)]
)
def test_vera_paper_roberta(preset, r, expected):
    # VeRA paper (Kopiczko et al. 2024) Table 2: 0.043M (base, r=1024) and 0.061M (large, r=256) trainable
    # on W_q, W_v, classifier head excluded: layers * 2 * (d + r).
    c = count_params(load_preset(preset), VeraSpec(r=r, target_modules=("query", "value")))
    assert c.trainable_params == expected


def test_factorization_follows_peft():
    from peft.tuners.lokr.layer import factorization as peft_factorization

    for dim in (1, 7, 127, 768, 896, 1024, 2048, 2304, 3072, 11008, 14336, 28672, 32000, 50257):
        for factor in (-1, 4, 8, 16, 100):
            assert factorization(dim, factor) == peft_factorization(dim, factor), (dim, factor)


def test_rank_pattern_rows_split_and_first_key_wins():
    config = load_preset("llama-3.2-1b")
    spec = LoraSpec(
        r=8, target_modules=("q_proj",), rank_pattern={"layers.0.self_attn.q_proj": 2, "q_proj": 16}
    )
    c = count_params(config, spec)
    assert [t.r for t in c.targets] == [2] + [16] * 15
    rows = {m.name: (m.count, m.r) for m in c.modules}
    assert rows == {
        "model.layers.*.self_attn.q_proj (r=2)": (1, 2),
        "model.layers.*.self_attn.q_proj (r=16)": (15, 16),
    }
    # the other order: "q_proj" matches layer 0 first, so every q_proj gets 16
    flipped = LoraSpec(
        r=8, target_modules=("q_proj",), rank_pattern={"q_proj": 16, "layers.0.self_attn.q_proj": 2}
    )
    assert {t.r for t in count_params(config, flipped).targets} == {16}


def test_mixtral_fused_rank_pattern_precedence():
    # PEFT appends `.*\.gate_up_proj`: 2r after the user's keys (transformers_weight_conversion.py:474), so a
    # user key matching gate_up_proj wins; w2's down_proj keeps r.
    config = load_preset("mixtral-8x7b")
    base = LoraSpec(r=8, target_modules=("w1", "w3", "w2"))
    keyed = LoraSpec(r=8, target_modules=("w1", "w3", "w2"), rank_pattern={"experts.gate_up_proj": 4})
    ranks = {t.name.rsplit(".", 1)[-1]: t.r for t in count_params(config, base).targets}
    assert ranks == {"gate_up_proj": 16, "down_proj": 8}
    ranks = {t.name.rsplit(".", 1)[-1]: t.r for t in count_params(config, keyed).targets}
    assert ranks == {"gate_up_proj": 4, "down_proj": 8}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preset=st.sampled_from(["bert-base", "qwen2.5-0.5b", "t5-base"]),
    r=st.integers(min_value=1, max_value=4096),
)
def test_vera_and_adalora_affine_in_rank(preset, r):
    # VeRA: each module adds out + r; AdaLoRA: r (in + out + 1). One more rank adds one value per module
    # (VeRA) or in + out + 1 per module (AdaLoRA).
    config = load_preset(preset)
    qv = NAMES.get(config["model_type"], DEFAULT_NAMES)[0]
    v1, vr = (count_params(config, VeraSpec(r=k, target_modules=qv)) for k in (1, r))
    assert vr.trainable_params - v1.trainable_params == (r - 1) * len(v1.targets)
    a1, ar = (count_params(config, AdaLoraSpec(init_r=k, target_modules=qv)) for k in (1, r))
    assert ar.trainable_params == r * a1.trainable_params


def test_make_spec_refuses_settings_a_type_lacks():
    assert make_spec("vera", r=64).r == 64
    with pytest.raises(LoraLabError, match="VeRA takes no alpha"):
        make_spec("vera", alpha=8)
    with pytest.raises(LoraLabError, match="init_r"):
        make_spec("adalora", r=8)
    with pytest.raises(LoraLabError, match="adapter must be one of"):
        make_spec("prefix")
    with pytest.raises(LoraLabError, match="DoRA"):
        make_spec("adalora", use_dora=True)


def test_snippets_build_the_same_peft_config():
    # The snippet each spec shows, run as code, gives the config our oracle builds from the spec.
    for spec in specs_for("llama-3.2-1b"):
        scope: dict = {}
        code = (
            spec.peft_snippet()
            .replace("model = get_peft_model(model, config)", "")
            .replace("model.print_trainable_parameters()", "")
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(code, scope)  # our own generated snippet
            ours = peft_config(spec)
        theirs = scope["config"]
        for field in (
            "r",
            "init_r",
            "lora_alpha",
            "alpha",
            "target_modules",
            "feedforward_modules",
            "rank_pattern",
            "alpha_pattern",
            "use_rslora",
            "bias",
            "modules_to_save",
            "decompose_both",
            "decompose_factor",
        ):
            assert getattr(theirs, field, None) == getattr(ours, field, None), (spec, field)


def test_pattern_forms_are_one_spec():
    # dict, pairs and the CLI's "NAME=V,..." give the same (hashable) spec; order is kept (first key wins)
    forms = [{"q_proj": 16, "v_proj": 4}, [("q_proj", 16), ("v_proj", 4)], "q_proj=16, v_proj=4"]
    specs = {LoraSpec(rank_pattern=f) for f in forms}
    assert len(specs) == 1 and next(iter(specs)).rank_pattern == (("q_proj", 16), ("v_proj", 4))
    assert LoHaSpec(alpha_pattern="q_proj=2.5").alpha_pattern == (("q_proj", 2.5),)
    for bad, match in [
        (5, "must map"),
        ({"q_proj": -1}, "rank_pattern"),
        ({3: 4}, "keys must be"),
        ("a{2}=3", "pattern"),
    ]:
        with pytest.raises(LoraLabError, match=match):
            LoraSpec(rank_pattern=bad)
