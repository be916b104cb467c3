"""The LoRA family: PEFT's other adapter types (VeRA, LoHa, LoKr, IA3, AdaLoRA), counted exactly.

- `specs`: one frozen dataclass per type, in the terms of its PEFT config, and `make_spec(adapter, ...)`;
- `shapes`: the tensors each type adds to one targeted module, with the PEFT source line for each;
- `patterns`: PEFT's `rank_pattern` / `alpha_pattern` keys and how a module finds its own;
- `checkpoint`: the adapter file `save_pretrained` writes, in bytes;
- `compare`: every type side by side on the same model and settings (the Model page's family table).

`lora_core.params.count_params(config, spec)` takes any of these specs (and `lora_core.spec.LoraSpec`).
This file imports nothing, so `lora_core.spec` can use `patterns` without a cycle.
"""

# The adapter types `count_params` knows, in the order the CLI and the pages list them.
ADAPTERS = ("lora", "vera", "loha", "lokr", "ia3", "adalora")
