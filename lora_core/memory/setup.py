"""What one training step looks like: method, precision, optimizer, batch and the rest, validated at the boundary."""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.errors import LoraLabError
from lora_core.validate import choice, positive_int

METHODS = ("full", "lora", "qlora")
PRECISIONS = ("fp32", "bf16", "fp16", "amp-bf16", "amp-fp16")
OPTIMIZERS = ("adamw", "adamw-8bit", "paged-adamw-8bit", "sgd", "sgd-momentum")
ATTENTIONS = ("sdpa", "eager")
SHARDINGS = ("none", "zero1", "zero2", "zero3", "fsdp")
DEVICES = ("cuda", "cpu")  # which kernels and optimizer code path to model (cpu: for validating on CPU)
# How torch's optimizer runs its step (optimizer_step.py): "auto" is torch 2.13's own choice when neither
# foreach nor fused is given: foreach on CUDA, the single-tensor loop on CPU (torch/optim/optimizer.py
# _default_to_fused_or_foreach). Hugging Face's Trainer (transformers 5.23 training_args.py:806-813) asks for
# "fused" (optim="adamw_torch_fused" with torch >= 2.8); a plain torch.optim.AdamW(...) loop gets "auto".
OPTIMIZER_IMPLS = ("auto", "foreach", "fused", "single")

# Bounds of a training step, for a shared server (issue 6). The estimate is closed-form in batch, sequence and
# GPUs (trace.py's polynomials, sharding.py's divisions), so these bound typos, not cost; the CLI, the Memory
# page's inputs and the solver use these same ones.
# Sequences per GPU: more than GPT-3's whole batch, 3.2M tokens = 1,562 x 2,048 (Brown et al. 2020, Table 2.1).
MAX_BATCH = 4096
# Tokens: 2^20, 8 x the longest context of the shipped presets (Llama-3.2's and Qwen2.5-7B's 131,072).
MAX_SEQ = 1_048_576
# GPUs: more than OPT-175B's pre-training used (992 A100s; Zhang et al. 2022); fine-tunes use far fewer.
MAX_GPUS = 4096

# precision -> (dtype the parameters are stored in, dtype activations are computed in).
# "bf16"/"fp16": the model is cast (`model.to(torch.bfloat16)`); "amp-*": fp32 parameters, autocast compute.
PARAM_DTYPE = {
    "fp32": "float32",
    "bf16": "bfloat16",
    "fp16": "float16",
    "amp-bf16": "float32",
    "amp-fp16": "float32",
}
COMPUTE_DTYPE = {
    "fp32": "float32",
    "bf16": "bfloat16",
    "fp16": "float16",
    "amp-bf16": "bfloat16",
    "amp-fp16": "float16",
}
# Bytes per element of each dtype (IEEE 754 binary32/16 and bfloat16; PyTorch `Tensor.element_size()`).
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class TrainingSetup:
    """One training step on each of `gpus` GPUs. Defaults: a common LoRA run."""

    method: str = "lora"  # full | lora | qlora (qlora = LoRA on a 4-bit NF4 base)
    precision: str = "bf16"  # fp32 | bf16 | fp16 (model cast) | amp-bf16 | amp-fp16 (fp32 master + autocast)
    optimizer: str = "adamw"  # adamw | adamw-8bit | paged-adamw-8bit | sgd | sgd-momentum
    batch: int = 1  # micro-batch per GPU
    seq: int = 512  # tokens per sequence
    grad_checkpointing: bool = False  # recompute each layer in backward (transformers, use_reentrant=False)
    attention: str = "sdpa"  # sdpa (flash / memory-efficient kernels) | eager (keeps the s x s probabilities)
    gpus: int = 1
    sharding: str = "none"  # none | zero1 | zero2 | zero3 | fsdp (= zero3 for memory)
    double_quant: bool = True  # QLoRA double quantization of the absmax constants (Dettmers et al. 2023)
    device: str = "cuda"  # cuda | cpu: whose attention kernel and AdamW code path to model
    optimizer_impl: str = "auto"  # auto | foreach | fused | single: torch's optimizer code path (AdamW, SGD)

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", choice("method", self.method, METHODS))
        object.__setattr__(self, "precision", choice("precision", self.precision, PRECISIONS))
        object.__setattr__(self, "optimizer", choice("optimizer", self.optimizer, OPTIMIZERS))
        object.__setattr__(self, "batch", positive_int("batch", self.batch, maximum=MAX_BATCH))
        object.__setattr__(self, "seq", positive_int("seq", self.seq, maximum=MAX_SEQ))
        object.__setattr__(self, "attention", choice("attention", self.attention, ATTENTIONS))
        object.__setattr__(self, "gpus", positive_int("gpus", self.gpus, maximum=MAX_GPUS))
        object.__setattr__(self, "sharding", choice("sharding", self.sharding, SHARDINGS))
        object.__setattr__(self, "device", choice("device", self.device, DEVICES))
        object.__setattr__(
            self, "optimizer_impl", choice("optimizer_impl", self.optimizer_impl, OPTIMIZER_IMPLS)
        )
        for name in ("grad_checkpointing", "double_quant"):
            if not isinstance(getattr(self, name), bool):
                raise LoraLabError("value.not_bool", name=name, value=getattr(self, name))
        if self.sharding != "none" and self.gpus == 1:
            raise LoraLabError("memory.sharding_gpus", sharding=self.sharding)
        if self.method == "qlora" and self.device == "cpu":
            raise LoraLabError("memory.qlora_cpu")
        if self.optimizer.endswith("8bit") and self.device == "cpu":
            raise LoraLabError("memory.optimizer_8bit_cpu", optimizer=self.optimizer)

    @property
    def param_dtype(self) -> str:
        return PARAM_DTYPE[self.precision]

    @property
    def compute_dtype(self) -> str:
        return COMPUTE_DTYPE[self.precision]

    @property
    def impl(self) -> str:
        """The optimizer code path that runs: foreach | fused | single (auto resolved as torch 2.13 does)."""
        if self.optimizer_impl != "auto":
            return self.optimizer_impl
        return "foreach" if self.device == "cuda" else "single"

    @property
    def autocast(self) -> bool:
        return self.precision.startswith("amp-")

    def adapter_spec(self, spec):
        """The adapter this step trains: `spec` under lora and qlora; None under full fine-tuning, which trains
        the base model's own weights and has no adapter, whatever spec the caller holds (the one place that
        says so)."""
        return None if self.method == "full" else spec

    def replace(self, **changes) -> TrainingSetup:
        from dataclasses import replace

        return replace(self, **changes)
