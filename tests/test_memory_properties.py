"""Invariants (Hypothesis): memory never decreases as batch, sequence or rank grows; QLoRA weights < bf16.

What never decreases is what the step allocates (peak_bytes, activations) and, on the fast path, what it
reserves (the peak rounded up to segments). The caching-allocator replay's reserved bytes (and so the device
total) can fall as a step grows, as PyTorch's can: the same allocation rules (allocator.py) pack a different
set of sizes into segments differently (found by this test: LLAMA_GQA, full fine-tuning, batch 1, 66 MiB
reserved at 3,121 tokens, 64 MiB at 4,567, while the allocated peak grew from 38 to 48 MiB).
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from lora_core.memory import TrainingSetup, estimate_memory
from lora_core.memory.states import nf4_bytes, state_bytes
from lora_core.spec import LoraSpec
from tests.memory_configs import LLAMA_GQA, QWEN2

SPEC = LoraSpec(r=4, target_modules=("q_proj", "v_proj"))
FIELDS = ("peak_bytes", "activations_bytes", "device_total_bytes")  # on the fast path (replay=False)
REPLAYED = ("peak_bytes", "activations_bytes")  # with the allocator replay (module docstring)


def _grows(before, after, fields=FIELDS):
    for e in (before, after):  # the reserve is held to what it must be at least: the peak it serves
        assert e.reserved_bytes >= e.peak_bytes and e.device_total_bytes >= e.reserved_bytes
    return all(getattr(after, f) >= getattr(before, f) for f in fields)


@settings(max_examples=25, deadline=None)
@given(
    method=st.sampled_from(["full", "lora", "qlora"]),
    ckpt=st.booleans(),
    attention=st.sampled_from(["sdpa", "eager"]),
    b=st.integers(1, 64),
    s=st.integers(1, 4096),
    db=st.integers(0, 64),
    ds=st.integers(0, 4096),
)
def test_monotone_in_batch_and_seq(method, ckpt, attention, b, s, db, ds):
    setup = TrainingSetup(method=method, batch=b, seq=s, grad_checkpointing=ckpt, attention=attention)
    for replay, fields in ((False, FIELDS), (True, REPLAYED)):
        base = estimate_memory(LLAMA_GQA, SPEC, setup, replay=replay)
        bigger_batch = estimate_memory(LLAMA_GQA, SPEC, setup.replace(batch=b + db), replay=replay)
        longer = estimate_memory(LLAMA_GQA, SPEC, setup.replace(seq=s + ds), replay=replay)
        assert _grows(base, bigger_batch, fields) and _grows(base, longer, fields), replay


@settings(max_examples=25, deadline=None)
@given(r=st.integers(1, 512), dr=st.integers(0, 512), dora=st.booleans(), b=st.integers(1, 8))
def test_monotone_in_rank(r, dr, dora, b):
    setup = TrainingSetup(method="lora", batch=b, seq=64)
    spec = LoraSpec(r=r, target_modules=("q_proj", "v_proj"), use_dora=dora)
    bigger = LoraSpec(r=r + dr, target_modules=("q_proj", "v_proj"), use_dora=dora)
    for replay, fields in ((False, FIELDS), (True, REPLAYED)):
        before = estimate_memory(QWEN2, spec, setup, replay=replay)
        after = estimate_memory(QWEN2, bigger, setup, replay=replay)
        assert _grows(before, after, fields) and after.weights_bytes >= before.weights_bytes, replay


@settings(max_examples=20, deadline=None)
@given(hidden=st.sampled_from([64, 128, 256]), layers=st.integers(1, 4), dq=st.booleans())
def test_qlora_weights_smaller_than_bf16(hidden, layers, dq):
    config = dict(LLAMA_GQA, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers)
    q = state_bytes(config, SPEC, TrainingSetup(method="qlora", precision="bf16", double_quant=dq))
    b16 = state_bytes(config, SPEC, TrainingSetup(method="lora", precision="bf16"))
    assert q.weights_bytes < b16.weights_bytes


def test_nf4_bits_per_parameter():
    """QLoRA paper, section 3: 4 bits + 0.5 bit (fp32 absmax / 64), or + 0.127 bit with double quantization."""
    n = 64 * 256 * 1000
    assert nf4_bytes(n, double_quant=False) * 8 / n == 4.5
    assert round(nf4_bytes(n, double_quant=True) * 8 / n - 4, 3) == 0.127


def test_full_fine_tuning_ignores_the_adapter_spec():
    """Full fine-tuning trains the base weights and has no adapter (TrainingSetup.adapter_spec): its estimate
    is the same for any spec, or none."""
    setup = TrainingSetup(method="full", batch=2, seq=64)
    other = LoraSpec(r=64, target_modules="all-linear", use_dora=True, modules_to_save=("lm_head",))
    base = estimate_memory(LLAMA_GQA, None, setup)
    assert estimate_memory(LLAMA_GQA, SPEC, setup) == base
    assert estimate_memory(LLAMA_GQA, other, setup) == base
    assert setup.adapter_spec(other) is None and setup.replace(method="lora").adapter_spec(other) is other
