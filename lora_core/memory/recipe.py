"""The training recipe, as code: how a model is built, cast, adapted and stepped.

The estimator traces this recipe on the meta device; the exactness tests and `benchmarks/measure_memory.py`
run the very same recipe on real CPU tensors. One recipe, so prediction and measurement cannot drift apart.

The order matters and follows PEFT's documented use: cast the base model first (`model.to(torch.bfloat16)`),
then adapt it as `get_peft_model(..., autocast_adapter_dtype=True)` does, which keeps LoRA/DoRA adapters in
fp32 (peft/tuners/tuners_utils.py `cast_adapter_dtype`: bf16/fp16 adapter weights are upcast to fp32).
The adapting is our own (adapters.py: PEFT's modules rebuilt op for op), so the app needs no PEFT at run
time; the exactness tests and the benchmark pass `adapt=` the real PEFT (tests/peft_oracle.py) instead.
"""

from __future__ import annotations

import contextlib

from lora_core.memory.setup import TrainingSetup

# Keys transformers configs use for the number of layers (Llama/Qwen: num_hidden_layers, GPT-2: n_layer,
# T5: num_layers + num_decoder_layers).
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "num_decoder_layers")


def layer_count(config: dict) -> int:
    for key in _LAYER_KEYS:
        if isinstance(config.get(key), int):
            return config[key]
    return 1


def with_layers(config: dict, layers: int) -> dict:
    """The same architecture with `layers` layers (per-layer lists such as `layer_types` cut to match)."""
    old = layer_count(config)
    out = dict(config)
    for key in _LAYER_KEYS:
        if isinstance(config.get(key), int):
            out[key] = layers
    for key, value in config.items():
        if isinstance(value, list) and len(value) == old and key != "architectures" and old != layers:
            out[key] = [value[i % len(value)] for i in range(layers)]
    return out


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def build_training_model(
    config: dict, spec, setup: TrainingSetup, *, device: str = "meta", seed: int = 0, adapt=None
):
    """The model exactly as one training step sees it: cast, adapted (lora/qlora), checkpointing, train mode.

    adapt(model, spec, config) -> model applies the adapter spec (any type of lora_core.family); by default our
    own injection (adapters.inject_adapters); the tests pass PEFT's get_peft_model as the reference.

    device="meta" (shapes only) or "cpu" (random weights, nothing downloaded). QLoRA's NF4 base cannot be
    built without bitsandbytes + CUDA; here its base stays in the compute dtype (the estimator accounts the
    4-bit storage separately, in states.py).
    """
    import torch

    from lora_core.arch import build_meta_model

    meta = build_meta_model(config)
    if device == "meta":
        model = meta
    else:
        torch.manual_seed(seed)
        with torch.device(device):
            model = type(meta)(meta.config)
    model.config.use_cache = False  # training: no KV cache (HF Trainer does the same with checkpointing)
    base_dtype = setup.compute_dtype if setup.method == "qlora" else setup.param_dtype
    model.to(torch_dtype(base_dtype))
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(setup.attention)
    else:  # pragma: no cover - older transformers
        model.config._attn_implementation = setup.attention
    if setup.grad_checkpointing and getattr(model, "supports_gradient_checkpointing", False):
        kwargs = {"use_reentrant": False}  # PyTorch's recommended mode; transformers 5's default too
        with _quiet():
            if hasattr(model, "activation_checkpointing_enable"):
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:  # pragma: no cover - older transformers
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if setup.method == "full":
        model.requires_grad_(True)
    else:
        from lora_core.memory.adapters import inject_adapters

        with _quiet():  # transformers' deprecation warnings (is_gradient_checkpointing)
            if adapt is None:
                model = inject_adapters(model, spec, config, device=setup.device)
            else:
                model = adapt(model, spec, config)
    model.train()
    return model


def with_rank(spec, r: int):
    """The spec at rank r (AdaLoRA's init_r; IA3, which has no rank, unchanged)."""
    return spec.with_rank(r)


@contextlib.contextmanager
def _quiet():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def make_optimizer(params, setup: TrainingSetup, *, foreach: bool | None = None):
    """torch's optimizer for the setup (8-bit ones need bitsandbytes; only the estimator models those)."""
    import torch

    params = [p for p in params if p.requires_grad]
    if setup.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=1e-4, foreach=foreach)
    if setup.optimizer == "sgd":
        return torch.optim.SGD(params, lr=1e-3, foreach=foreach)
    if setup.optimizer == "sgd-momentum":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9, foreach=foreach)
    import bitsandbytes as bnb  # pragma: no cover - CUDA only

    cls = bnb.optim.PagedAdamW8bit if setup.optimizer.startswith("paged") else bnb.optim.AdamW8bit
    return cls(params, lr=1e-4)  # pragma: no cover


def forward_loss(model, input_ids, setup: TrainingSetup):
    """One forward pass to a scalar loss: labels = inputs (causal LM / masked LM / seq2seq heads shift them)."""
    import torch

    ctx = (
        torch.autocast(input_ids.device.type, dtype=torch_dtype(setup.compute_dtype))
        if setup.autocast and input_ids.device.type != "meta"
        else contextlib.nullcontext()
    )
    with ctx:
        out = model(input_ids=input_ids, labels=input_ids)
    loss = getattr(out, "loss", None)
    if loss is None:  # a bare encoder without a head: any scalar of its output
        loss = out[0].float().mean()
    return loss
