"""The tensors each PEFT adapter type adds to one targeted module, shape by shape (peft 0.21.2).

Notation: a Linear maps in -> out (weight (out, in)); GPT-2's transformers Conv1D stores (in, out) but
PEFT reads the same in and out from it (tuners_utils.py:193-196); an Embedding(V, H) has in = V, out = H.
File:line references are to the installed peft package, peft/tuners/.

| type    | tensors per targeted module                                       | values          |
|---------|-------------------------------------------------------------------|-----------------|
| LoRA    | lora_A (r, in), lora_B (out, r) [+ DoRA magnitude (out,)]         | r(in+out) [+out]|
| VeRA    | vera_lambda_b (out,), vera_lambda_d (r,)                          | out + r         |
| LoHa    | hada_w1_a, hada_w2_a (out, r); hada_w1_b, hada_w2_b (r, in)       | 2r(in+out)      |
| LoKr    | lokr_w1 (a, c) or w1_a/w1_b; lokr_w2 (b, d) or w2_a/w2_b (r)      | see lokr_tensors|
| IA3     | ia3_l (1, in) on a feedforward module, else (out, 1)              | in or out       |
| AdaLoRA | lora_A (r, in), lora_E (r, 1), lora_B (out, r); ranknum (1,) frozen| r(in+out+1) + 1 |
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# Module kinds (lora_core.arch.KINDS) each type can wrap, from each tuner's module dispatch:
SUPPORTED_KINDS: dict[str, tuple[str, ...]] = {
    # lora/layer.py:2724 dispatch_default: Embedding, Linear, transformers Conv1D (MoE tensors: targeting.py)
    "lora": ("linear", "conv1d", "embedding"),
    # vera/model.py:39-46 _get_tuner_layer_class: nn.Linear and Conv1D; anything else raises (model.py:239-242)
    "vera": ("linear", "conv1d"),
    # lycoris_utils.py:223-258 _create_new_module: nn.Conv2d, nn.Conv1d, nn.Linear only (not transformers' Conv1D)
    "loha": ("linear",),
    "lokr": ("linear",),
    # ia3/model.py:77-151 _create_new_module: nn.Linear, nn.Conv2d/3d, Conv1D; Embedding raises (model.py:147)
    "ia3": ("linear", "conv1d"),
    # adalora/model.py:160-225 _create_new_module: nn.Linear, Conv1D, nn.Conv2d; Embedding raises (model.py:218)
    "adalora": ("linear", "conv1d"),
}


@dataclass(frozen=True)
class AdapterTensor:
    """One tensor PEFT registers on an adapted module."""

    name: str  # PEFT's attribute name, e.g. "lora_A", "hada_w1_a", "vera_lambda_b"
    shape: tuple[int, ...]
    trainable: bool = True  # False: a parameter PEFT creates with requires_grad=False (AdaLoRA's ranknum)

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


T = AdapterTensor


def lora_tensors(kind: str, in_f: int, out_f: int, r: int, num_experts: int, use_dora: bool) -> tuple[T, ...]:
    if kind == "embedding":
        # lora/layer.py:1241-1244 Embedding.update_layer: lora_embedding_A (r, V), lora_embedding_B (H, r)
        out: tuple[T, ...] = (T("lora_embedding_A", (r, in_f)), T("lora_embedding_B", (out_f, r)))
    else:
        # lora/layer.py:263-264 nn.Linear(in, r), nn.Linear(r, out): weights (r, in), (out, r); a fused MoE
        # tensor (E, in, out) holds r per expert: (r*E, in), (out, r*E) (layer.py:2455-2456 ParamWrapper)
        out = (T("lora_A", (r * num_experts, in_f)), T("lora_B", (out_f, r * num_experts)))
    if (
        use_dora
    ):  # lora/dora.py:130 DoraLinearLayer (and DoraEmbeddingLayer, :173): one magnitude per output feature
        out += (T("lora_magnitude_vector", (out_f,)),)
    return out


def vera_tensors(out_f: int, r: int) -> tuple[T, ...]:
    # vera/layer.py:89-90: lambda_b (out,) and lambda_d (r,) train. The projections vera_A (r, max in) and
    # vera_B (max out, r) are shared BufferDicts (vera/model.py:151-160): buffers, so no parameter count sees them.
    return (T("vera_lambda_b", (out_f,)), T("vera_lambda_d", (r,)))


def loha_tensors(in_f: int, out_f: int, r: int) -> tuple[T, ...]:
    # loha/layer.py:67-71 create_adapter_parameters, Linear branch: two rank-r pairs, Hadamard-multiplied
    return (
        T("hada_w1_a", (out_f, r)),
        T("hada_w1_b", (r, in_f)),
        T("hada_w2_a", (out_f, r)),
        T("hada_w2_b", (r, in_f)),
    )


@lru_cache(maxsize=1024)
def factorization(dimension: int, factor: int = -1) -> tuple[int, int]:
    """lokr/layer.py:440-489, line for line: (m, n) with m * n = dimension, m <= n, m as near sqrt as divides.

    factorization(4096) = (64, 64); factorization(11008) = (86, 128); a prime p gives (1, p).
    """
    if factor > 0 and (dimension % factor) == 0:
        return factor, dimension // factor  # lokr/layer.py:470-473: returned as given, not sorted
    if factor == -1:
        factor = dimension
    m, n = 1, dimension
    length = m + n
    while m < n:
        new_m = m + 1
        while dimension % new_m != 0:
            new_m += 1
        new_n = dimension // new_m
        if new_m + new_n > length or new_m > factor:
            break
        m, n = new_m, new_n
    if m > n:
        n, m = m, n
    return m, n


def lokr_tensors(in_f: int, out_f: int, r: int, decompose_both: bool, decompose_factor: int) -> tuple[T, ...]:
    """W = kron(w1, w2): out = a*b, in = c*d with (a, b) = factorization(out), (c, d) = factorization(in).

    lokr/layer.py:196-205 (Linear): w1 is (a, c) in full unless decompose_both and r < max(a, c) / 2, then
    w1_a (a, r) @ w1_b (r, c); w2 is (b, d) in full unless r < max(b, d) / 2, then w2_a (b, r) @ w2_b (r, d)
    (create_adapter_parameters, layer.py:65-109). With the default factor each factor is near sqrt(dim), so
    at r=8 a 4096 x 4096 layer has a full 64 x 64 w1 and a rank-8 w2: 64*64 + 8*(64+64) values.
    """
    in_m, in_n = factorization(in_f, decompose_factor)  # (c, d)
    out_l, out_k = factorization(out_f, decompose_factor)  # (a, b)
    use_w1 = not (decompose_both and r < max(out_l, in_m) / 2)
    use_w2 = not (r < max(out_k, in_n) / 2)
    w1 = (T("lokr_w1", (out_l, in_m)),) if use_w1 else (T("lokr_w1_a", (out_l, r)), T("lokr_w1_b", (r, in_m)))
    w2 = (T("lokr_w2", (out_k, in_n)),) if use_w2 else (T("lokr_w2_a", (out_k, r)), T("lokr_w2_b", (r, in_n)))
    return w1 + w2


def ia3_tensors(in_f: int, out_f: int, feedforward: bool) -> tuple[T, ...]:
    # ia3/layer.py:62-65 update_layer: scales the input of a feedforward module, else the output
    return (T("ia3_l", (1, in_f) if feedforward else (out_f, 1)),)


def adalora_tensors(in_f: int, out_f: int, r: int) -> tuple[T, ...]:
    # adalora/layer.py:69-73 update_layer: P (lora_B), Lambda (lora_E), Q (lora_A) of the SVD form P Lambda Q;
    # ranknum holds float(r) with requires_grad=False (layer.py:81-84), so it counts in "all" only.
    return (
        T("lora_A", (r, in_f)),
        T("lora_E", (r, 1)),
        T("lora_B", (out_f, r)),
        T("ranknum", (1,), trainable=False),
    )


def module_tensors(
    spec, kind: str, in_f: int, out_f: int, r: int, num_experts: int, feedforward: bool
) -> tuple[T, ...]:
    """The tensors `spec`'s adapter type adds to one module of `kind` (r: this module's rank)."""
    adapter = spec.adapter
    if adapter == "lora":
        return lora_tensors(kind, in_f, out_f, r, num_experts, spec.use_dora)
    if adapter == "vera":
        return vera_tensors(out_f, r)
    if adapter == "loha":
        return loha_tensors(in_f, out_f, r)
    if adapter == "lokr":
        return lokr_tensors(in_f, out_f, r, spec.decompose_both, spec.decompose_factor)
    if adapter == "ia3":
        return ia3_tensors(in_f, out_f, feedforward)
    if adapter == "adalora":
        return adalora_tensors(in_f, out_f, r)
    raise ValueError(
        f"unknown adapter type {adapter!r}"
    )  # a bug: specs only come from lora_core.family.specs
