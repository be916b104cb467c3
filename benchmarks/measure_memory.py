"""Measured peak memory of real training steps next to the prediction: the validation table.

    python benchmarks/measure_memory.py                  # CPU rows -> docs/validation.md (a few minutes)
    python benchmarks/measure_memory.py --device cuda --json /tmp/gpu.json   # GPU rows (~8 min on an H200)
    python benchmarks/gpu_rows.py --measured /tmp/gpu.json --write            # ... into docs/validation.md
    python benchmarks/measure_memory.py --device cuda --dry-run               # the GPU rows' predictions only

GPU rows (`gpu_rows()`): real-size Qwen2.5-0.5B, GPT-2, Llama-3.2-1B and 3B from lora_core/presets with random
weights built on the GPU (nothing downloaded); LoRA and DoRA (PEFT, r=16 on all linear layers), full
fine-tuning, QLoRA when bitsandbytes imports (NF4 with double quantization, as transformers' bitsandbytes
integration builds it); with and without gradient checkpointing; two sequence lengths; batch 4; bf16; torch's
default AdamW (foreach on CUDA). Per row: max_memory_allocated() and max_memory_reserved() of a steady step
(after one warm-up step; the peaks are reset before it, the cache is not) beside the predicted ones. The model
is set up, then torch.cuda.empty_cache() releases what setting it up left cached (the replay starts from an
empty device with the parameters allocated one by one). A row the estimate says cannot fit the card is
skipped; rows stop starting once --budget-s seconds have passed (the rest are listed as not run).

Each row builds a model from a config with random weights (nothing downloaded) through the estimator's own
recipe (lora_core/memory/recipe.py), adapted by PEFT itself (tests/peft_oracle.py; the estimator traces our
own injection, lora_core/memory/adapters.py), runs WARMUP steps, then measures one steady-state step
(forward, backward, optimizer step, zero_grad):
- CUDA: torch.cuda.max_memory_allocated() / max_memory_reserved() over that step;
- CPU: the peak of the bytes of live tensor storages, op by op (`StorageTracker` below, written for this
  script and sharing no code with the estimator): parameters, buffers and optimizer states alive when the
  step starts, plus every storage an op creates until Python frees it. That is the CPU analogue of
  max_memory_allocated: tensor storages at op granularity, no allocator caching, no kernel-internal scratch
  buffers. torch.distributed._tools.mem_tracker.MemTracker measures the same thing, but in torch 2.13 it
  registers a grad hook on every parameter and so fails on frozen ones (LoRA); on full fine-tuning rows it
  runs, and the table shows its peak too, as a check of our tracker.
  The prediction is made for the same device (device="cpu": CPU's flash attention kernel, the single-tensor
  AdamW loop, CPU autocast lists).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WARMUP = 1  # steps before the measured one: optimizer states exist from step 1 on, so step 2 is steady

LLAMA = {  # GQA Llama, ~30M parameters
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 512,
    "intermediate_size": 1376,
    "num_hidden_layers": 6,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "vocab_size": 8000,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": False,
}
GPT2 = {  # GPT-2 form, ~24M parameters, dropout off (see below)
    "model_type": "gpt2",
    "architectures": ["GPT2LMHeadModel"],
    "n_embd": 384,
    "n_layer": 6,
    "n_head": 6,
    "vocab_size": 16000,
    "n_positions": 1024,
    "attn_pdrop": 0.0,
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
}
GPT2_DROPOUT = dict(GPT2, attn_pdrop=0.1, resid_pdrop=0.1, embd_pdrop=0.1)  # GPT-2's published dropout
QWEN = {  # Qwen2 with q/k/v biases and tied embeddings, ~20M parameters
    "model_type": "qwen2",
    "architectures": ["Qwen2ForCausalLM"],
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 6,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "vocab_size": 12000,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": True,
}
ARCHS = {"llama-gqa": LLAMA, "gpt2": GPT2, "gpt2-dropout": GPT2_DROPOUT, "qwen2": QWEN}
TARGETS = {
    "llama-gqa": ("q_proj", "v_proj"),
    "gpt2": ("c_attn",),
    "gpt2-dropout": ("c_attn",),
    "qwen2": ("q_proj", "k_proj", "v_proj"),
}


@dataclass(frozen=True)
class Row:
    arch: str  # a key of ARCHS, or a preset name (lora_core/presets)
    method: str  # full | lora | dora | qlora
    precision: str
    batch: int
    seq: int
    checkpointing: bool = False
    attention: str = "sdpa"
    optimizer: str = "adamw"
    targets: str = ""  # "" = TARGETS[arch]; or "all-linear"
    rank: int = 8


ROWS = [  # bf16 rows are short: bf16 matmuls are slow on CPUs without AVX512-BF16/AMX
    Row("llama-gqa", "full", "fp32", 2, 128),
    Row("llama-gqa", "lora", "fp32", 4, 128),
    Row("llama-gqa", "lora", "bf16", 2, 64),
    Row("llama-gqa", "lora", "amp-bf16", 2, 64, checkpointing=True),
    Row("llama-gqa", "dora", "bf16", 1, 64),
    Row("llama-gqa", "full", "bf16", 1, 64, checkpointing=True),
    Row("llama-gqa", "lora", "fp32", 2, 128, attention="eager"),
    Row("llama-gqa", "lora", "fp32", 2, 256, checkpointing=True),
    Row("gpt2", "full", "fp32", 2, 128),
    Row("gpt2", "lora", "fp32", 4, 256, checkpointing=True),
    Row("gpt2", "lora", "amp-bf16", 2, 64),
    Row("gpt2", "dora", "fp32", 2, 64),
    Row("gpt2-dropout", "lora", "fp32", 2, 128),
    Row("qwen2", "lora", "bf16", 2, 64),
    Row("qwen2", "full", "amp-bf16", 1, 64),
    Row("qwen2", "dora", "amp-bf16", 1, 64, checkpointing=True),
    Row("qwen2", "lora", "fp32", 1, 256, checkpointing=True, targets="all-linear"),
    Row("qwen2", "full", "fp32", 2, 64, optimizer="sgd-momentum"),
    Row("llama-gqa", "qlora", "bf16", 4, 256),  # CUDA + bitsandbytes only
]


# GPU rows: real-size presets, two sequence lengths each (GPT-2's positions stop at 1024).
GPU_MODELS = ("qwen2.5-0.5b", "gpt2", "llama-3.2-1b", "llama-3.2-3b")
GPU_SEQS = {"gpt2": (256, 1024)}
GPU_DEFAULT_SEQS = (512, 2048)
GPU_BATCH = 4


def gpu_rows() -> list[Row]:
    """Per model: LoRA at both lengths with and without checkpointing; DoRA; full fine-tuning and QLoRA short
    without and long with checkpointing (9 rows per model)."""
    rows = []
    for preset in GPU_MODELS:
        short, long = GPU_SEQS.get(preset, GPU_DEFAULT_SEQS)
        kw = dict(targets="all-linear", rank=16)
        for seq in (short, long):
            for ckpt in (False, True):
                rows.append(Row(preset, "lora", "bf16", GPU_BATCH, seq, ckpt, **kw))
        rows.append(Row(preset, "dora", "bf16", GPU_BATCH, short, **kw))
        rows.append(Row(preset, "full", "bf16", GPU_BATCH, short))
        rows.append(Row(preset, "full", "bf16", GPU_BATCH, long, checkpointing=True))
        rows.append(Row(preset, "qlora", "bf16", GPU_BATCH, short, **kw))
        rows.append(Row(preset, "qlora", "bf16", GPU_BATCH, long, checkpointing=True, **kw))
    return rows


def config_of(row: Row) -> dict:
    if row.arch in ARCHS:
        return ARCHS[row.arch]
    from lora_core.presets import load_preset

    return load_preset(row.arch)


def spec_and_setup(row: Row, device: str):
    from lora_core.memory import TrainingSetup
    from lora_core.spec import LoraSpec

    method = {"dora": "lora"}.get(row.method, row.method)
    targets = row.targets or TARGETS.get(row.arch, "all-linear")
    spec = LoraSpec(r=row.rank, alpha=2 * row.rank, target_modules=targets, use_dora=row.method == "dora")
    setup = TrainingSetup(
        method=method,
        precision=row.precision,
        optimizer=row.optimizer,
        batch=row.batch,
        seq=row.seq,
        grad_checkpointing=row.checkpointing,
        attention=row.attention,
        device=device,
    )
    return spec, setup


class StorageTracker:
    """Peak bytes of live tensor storages while active (a TorchDispatchMode + weakrefs on storages)."""

    def __init__(self, baseline_tensors):
        import weakref

        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten

        self.alive: dict[int, tuple[object, int]] = {}
        self.live = 0
        tracker = self

        def add(t):
            storage = t.untyped_storage()
            key = storage.data_ptr() if storage.nbytes() else id(storage)
            if key in tracker.alive or storage.nbytes() == 0:
                return
            nbytes = storage.nbytes()
            tracker.live += nbytes

            def gone(_ref, key=key, nbytes=nbytes):
                if tracker.alive.pop(key, None) is not None:
                    tracker.live -= nbytes

            tracker.alive[key] = (weakref.ref(storage, gone), nbytes)

        for t in baseline_tensors:
            add(t)
        self.peak = self.live

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in tree_flatten(out)[0]:
                    if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                        add(t)
                tracker.peak = max(tracker.peak, tracker.live)
                return out

        self.mode = Mode()


def live_tensors(model, opt):
    import torch

    out = list(model.parameters()) + list(model.buffers())
    for state in opt.state.values():
        out += [t for t in state.values() if isinstance(t, torch.Tensor)]
    return out


def quantize_nf4(model):
    """The frozen Linear (and GPT-2 Conv1D) weights transformers' bitsandbytes integration would load in 4 bits
    (the estimator's rule, lora_core/memory/states.py), replaced by bitsandbytes Linear4bit: NF4, double
    quantization, bf16 compute (BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
    bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16))."""
    import bitsandbytes as bnb
    import torch
    from transformers.pytorch_utils import Conv1D

    from lora_core.memory.parameters import quantizable_weights

    quant = quantizable_weights(model)
    for name, module in list(model.named_modules()):
        if getattr(module, "weight", None) is None or id(module.weight) not in quant:
            continue
        weight = module.weight.data
        if isinstance(module, Conv1D):
            weight = weight.t()  # (nx, nf) -> (out, in), as transformers transposes Conv1D for bnb
        out_f, in_f = weight.shape
        q = bnb.nn.Linear4bit(
            in_f, out_f, bias=module.bias is not None, compute_dtype=torch.bfloat16, compress_statistics=True,
            quant_type="nf4", device="cpu",
        )  # fmt: skip
        q.weight = bnb.nn.Params4bit(
            weight.to("cpu").contiguous(), requires_grad=False, compress_statistics=True, quant_type="nf4"
        )
        if module.bias is not None:
            q.bias = torch.nn.Parameter(module.bias.data.to("cpu"), requires_grad=False)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, q)
        del module, weight
        q.to("cuda")  # quantizes on the way
    torch.cuda.empty_cache()
    return model


def measure(row: Row, device: str) -> dict:
    import torch

    from lora_core.memory.recipe import build_training_model, forward_loss, make_optimizer

    config = config_of(row)
    spec, setup = spec_and_setup(row, device)
    from tests.peft_oracle import peft_adapt  # the measured model is PEFT's own (the estimator traces ours)

    adapt = peft_adapt
    if setup.method == "qlora":

        def adapt(model, spec, config=None):
            return peft_adapt(quantize_nf4(model), spec, config)

    model = build_training_model(
        config, setup.adapter_spec(spec), setup, device=device, adapt=adapt
    )
    if device == "cuda":
        model.to("cuda")
        torch.cuda.synchronize()
        torch.cuda.empty_cache()  # what building and casting the model left cached (the replay starts empty)
    opt = make_optimizer(model.parameters(), setup)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config["vocab_size"], (row.batch, row.seq), generator=gen).to(device)

    def step():
        loss = forward_loss(model, ids, setup)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    losses = [step() for _ in range(WARMUP)]
    t0 = time.perf_counter()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        losses.append(step())
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        reserved = torch.cuda.max_memory_reserved()
    else:
        tracker = StorageTracker(live_tensors(model, opt))
        with tracker.mode:
            losses.append(step())
        peak, reserved = tracker.peak, None
    result = {"peak": int(peak), "reserved": reserved, "seconds": time.perf_counter() - t0, "losses": losses}
    if device == "cpu" and setup.method == "full":
        result["memtracker"] = memtracker_peak(step, model, opt)
    return result


def memtracker_peak(step, model, opt) -> int | None:
    """torch's own MemTracker on one more step (it cannot hook frozen parameters, so full rows only)."""
    from torch.distributed._tools.mem_tracker import MemTracker

    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        step()
    return int(max(dev["Total"] for dev in tracker.get_tracker_snapshot("peak").values()))


def predict(row: Row, device: str):
    from lora_core.memory import estimate_memory

    spec, setup = spec_and_setup(row, device)
    return estimate_memory(config_of(row), spec, setup)


def describe(row: Row) -> str:
    bits = [row.arch, row.method, row.precision, f"b={row.batch}", f"s={row.seq}"]
    bits.append("ckpt" if row.checkpointing else "no ckpt")
    if row.attention != "sdpa":
        bits.append(row.attention)
    if row.optimizer != "adamw":
        bits.append(row.optimizer)
    if row.targets:
        bits.append(row.targets)
    if row.rank != 8 and row.method != "full":
        bits.append(f"r={row.rank}")
    return ", ".join(bits)


def bitsandbytes_available() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except Exception:  # ImportError, or a build without CUDA support
        return False
    return True


def run_cuda(rows: list[Row], budget_s: float, dry_run: bool = False) -> list[dict]:
    """The GPU rows, measured (or, with dry_run, predicted only: this works without a GPU)."""
    import torch

    have_bnb = bitsandbytes_available()
    device_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    capacity = torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else None
    start = time.perf_counter()
    out = []
    for row in rows:
        entry = {"row": describe(row), "device": device_name}
        est = predict(row, "cuda")
        entry.update(params=est.total_params, predicted=est.peak_bytes, predicted_reserved=est.reserved_bytes,
                     reserved_source=est.reserved_source, phase=est.phase)  # fmt: skip
        if row.method == "qlora" and not have_bnb:
            entry["note"] = "not measured: bitsandbytes does not import"
        elif dry_run:
            entry["note"] = "prediction only (--dry-run)"
        elif capacity is not None and est.device_total_bytes > capacity:
            entry["note"] = f"skipped: predicted {est.device_total_bytes / 2**30:.1f} GiB exceeds the card"
        elif time.perf_counter() - start > budget_s:
            entry["note"] = f"not run: the {budget_s:.0f} s budget was spent"
        else:
            try:
                m = measure(row, "cuda")
            except torch.cuda.OutOfMemoryError:
                entry["note"] = "out of memory"
            else:
                entry.update(measured=m["peak"], reserved=m["reserved"], seconds=m["seconds"], losses=m["losses"])
                entry["error_pct"] = 100.0 * (est.peak_bytes - m["peak"]) / m["peak"]
                entry["reserved_error_pct"] = 100.0 * (est.reserved_bytes - m["reserved"]) / m["reserved"]
            finally:
                import gc

                gc.collect()
                torch.cuda.empty_cache()
        out.append(entry)
        status = entry.get("note") or f"reserved {entry['reserved_error_pct']:+.2f} %"
        print(f"{entry['row']}: {status}", file=sys.stderr, flush=True)
    return out


def markdown_cuda(results: list[dict]) -> str:
    mib = 1 << 20
    lines = [
        "| # | configuration | GPU | predicted allocated (MiB) | measured allocated (MiB) | error | "
        "predicted reserved (MiB) | measured reserved (MiB) | error |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i, e in enumerate(results, 1):
        if "measured" not in e:
            lines.append(f"| {i} | {e['row']} | {e['device']} | {e['predicted'] / mib:,.0f} | | "
                         f"| {e['predicted_reserved'] / mib:,.0f} | | {e['note']} |")  # fmt: skip
            continue
        lines.append(
            f"| {i} | {e['row']} | {e['device']} | {e['predicted'] / mib:,.0f} | {e['measured'] / mib:,.0f} "
            f"| {e['error_pct']:+.2f} % | {e['predicted_reserved'] / mib:,.0f} | {e['reserved'] / mib:,.0f} "
            f"| {e['reserved_error_pct']:+.2f} % |"
        )
    return "\n".join(lines) + "\n"


def run(device: str, rows: list[Row]) -> list[dict]:
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = []
    for row in rows:
        entry = {"row": describe(row), "params": None}
        if row.method == "qlora" and device != "cuda":
            entry["note"] = "not measured: QLoRA needs bitsandbytes and a CUDA GPU"
            out.append(entry)
            continue
        est = predict(row, device)
        entry.update(params=est.total_params, predicted=est.peak_bytes, phase=est.phase)
        m = measure(row, device)
        entry.update(measured=m["peak"], reserved=m["reserved"], seconds=m["seconds"], losses=m["losses"])
        entry["memtracker"] = m.get("memtracker")
        entry["error_pct"] = 100.0 * (est.peak_bytes - m["peak"]) / m["peak"]
        if device == "cuda":
            entry["predicted_reserved"] = est.reserved_bytes
        out.append(entry)
        print(f"{entry['row']}: predicted {est.peak_bytes:,} measured {m['peak']:,} "
              f"({entry['error_pct']:+.2f} %)", file=sys.stderr)  # fmt: skip
    return out


def markdown(results: list[dict], device: str) -> str:
    import torch

    mib = 1 << 20
    lines = [
        "| # | configuration | params | predicted peak (MiB) | measured peak (MiB) | predicted - measured (bytes) "
        "| error | MemTracker (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    errors = []
    for i, e in enumerate(results, 1):
        if "measured" not in e:
            lines.append(f"| {i} | {e['row']} | | | | | {e['note']} | |")
            continue
        errors.append(abs(e["error_pct"]))
        mt = f"{e['memtracker'] / mib:,.2f}" if e.get("memtracker") else "n/a"
        lines.append(
            f"| {i} | {e['row']} | {e['params'] / 1e6:.1f} M | {e['predicted'] / mib:,.2f} | "
            f"{e['measured'] / mib:,.2f} | {e['predicted'] - e['measured']:+,} | {e['error_pct']:+.4f} % | {mt} |"
        )
    summary = (
        f"{len(errors)} measured rows on {device} ({platform.machine()}, torch {torch.__version__}): "
        f"max |error| {max(errors):.4f} %, mean |error| {sum(errors) / len(errors):.4f} %."
    )
    return summary + "\n\n" + "\n".join(lines) + "\n"


def main(argv=None) -> int:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--rows", default="", help="comma-separated row numbers (1-based); default all")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--table", type=Path, help="write the markdown table here")
    p.add_argument(
        "--write-docs",
        action="store_true",
        help="replace the table in docs/validation.md (between its markers)",
    )
    p.add_argument("--from-json", type=Path, help="re-render a table from an earlier --json file (no runs)")
    p.add_argument("--budget-s", type=float, default=420.0, help="cuda: start no row after this many seconds")
    p.add_argument("--dry-run", action="store_true", help="cuda: list the GPU rows with their predictions only")
    args = p.parse_args(argv)
    pool = gpu_rows() if args.device == "cuda" else ROWS
    rows = pool if not args.rows else [pool[int(i) - 1] for i in args.rows.split(",")]
    if args.device == "cuda":
        results = json.loads(args.from_json.read_text()) if args.from_json else run_cuda(rows, args.budget_s, args.dry_run)
        table = markdown_cuda(results)
        print(table)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        if args.table:
            args.table.write_text(table)
        return 0
    results = json.loads(args.from_json.read_text()) if args.from_json else run(args.device, rows)
    table = markdown(results, args.device)
    if args.write_docs:
        doc = ROOT / "docs" / "validation.md"
        text = doc.read_text()
        start, end = "<!-- table:start -->", "<!-- table:end -->"
        head, rest = text.split(start, 1)
        doc.write_text(head + start + "\n" + table + rest[rest.index(end) :])
    print(table)
    if args.table:
        args.table.write_text(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
