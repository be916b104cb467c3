"""What `save_pretrained` writes for an adapter, in bytes: PEFT's adapter state dict, from the counts alone.

`model.save_pretrained(dir)` stores `get_peft_model_state_dict(model)` (peft/utils/save_and_load.py 148-350)
as safetensors, each tensor as it is in memory:

- every tensor on the adapted layers except their base layer (tuners_utils.py 1510-1539): the adapter tensors
  of lora_core/family/shapes.py, in fp32 (get_peft_model's `autocast_adapter_dtype=True` upcasts 16-bit
  adapters: tuners_utils.py 2705-2745), except AdaLoRA's ranknum (adalora/model.py 305-309);
- VeRA's shared vera_A (r, largest in) and vera_B (largest out, r), once, in fp32, when save_projection
  (vera/model.py 270-287);
- the biases `bias` trains (tuners_utils.py 1541-1565) and the modules_to_save copies, in the model's dtype;
- with a target_modules list naming embed_tokens or lm_head (EMBEDDING_LAYER_NAMES, utils/constants.py 402),
  the base weights of the input and output embeddings an adapter wraps (save_and_load.py 265-342).

safetensors adds a JSON header of a few KB, not counted. tests/test_family_checkpoint.py compares this with the
state dict PEFT itself builds.
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.arch import inventory
from lora_core.params import count_params

ADAPTER_BYTES = 4  # fp32 (see above)
# Bytes per value of the dtypes a config.json names (IEEE 754 binary32/16, bfloat16).
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float": 4, "half": 2}
_EMBEDDING_NAMES = ("embed_tokens", "lm_head")  # peft/utils/constants.py 402 EMBEDDING_LAYER_NAMES


@dataclass(frozen=True)
class CheckpointSize:
    adapter_values: int  # fp32 values: adapter tensors (+ VeRA's projections when saved)
    base_values: int  # values in the model's dtype: trained biases, modules_to_save copies, embedding weights
    base_dtype_bytes: int  # bytes per base value (the config's torch_dtype; 4 when it names none)

    @property
    def nbytes(self) -> int:
        return ADAPTER_BYTES * self.adapter_values + self.base_dtype_bytes * self.base_values


def config_dtype_bytes(config: dict) -> int:
    """Bytes per value of the dtype the checkpoint's config names (`torch_dtype`, transformers 5: `dtype`);
    from_pretrained loads the weights in it. fp32 where it names none (or "auto")."""
    name = config.get("dtype") or config.get("torch_dtype") or "float32"
    return _DTYPE_BYTES.get(str(name).removeprefix("torch."), 4)


def checkpoint_size(config: dict, spec, count=None) -> CheckpointSize:
    """The adapter checkpoint of `spec` on `config` (count: count_params(config, spec), if already at hand)."""
    c = count if count is not None else count_params(config, spec)
    inv = inventory(config)
    adapter = sum(t.numel for m in c.targets for t in m.tensors if t.name != "ranknum")
    if spec.adapter == "vera" and spec.save_projection:
        max_in = max(t.in_features for t in c.targets)
        max_out = max(t.out_features for t in c.targets)
        adapter += spec.r * max_in + max_out * spec.r
    base = c.trained_base_params  # trained biases + modules_to_save copies
    if isinstance(spec.target_modules, tuple) and any(e in spec.target_modules for e in _EMBEDDING_NAMES):
        wrapped = {t.name for t in c.targets}
        by_name = {m.name: m for m in inv.modules}
        for name in dict.fromkeys((inv.input_embedding, inv.output_embedding)):
            if name in wrapped:  # has_valid_embedding_base_layer: an adapter wraps it (save_and_load.py 97-99)
                base += _numel(by_name[name].param_shapes[by_name[name].param_names.index("weight")])
    return CheckpointSize(adapter, base, config_dtype_bytes(config))


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
