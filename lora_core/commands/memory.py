"""`memory`: predicted GPU memory of one training step (full, LoRA, DoRA, QLoRA), per component and peak.

The adapter flags are `params`' (--adapter lora|vera|loha|lokr|ia3|adalora, --rank-pattern, --alpha-pattern,
--rslora, --feedforward-modules ...); with --method qlora the adapter sits on a 4-bit base.
"""

from __future__ import annotations

from lora_core.commands import (
    CommandResult,
    add_family_flags,
    add_json_flag,
    format_pairs,
    load_model_config,
    spec_from_args,
)

_GiB = 1 << 30
_MiB = 1 << 20
_MAX_SEQ_LENS = 64  # --seq-lens replays one step per length: a guard on a shared server's time


def register(subparsers) -> None:
    from lora_core.memory.setup import ATTENTIONS, METHODS, OPTIMIZER_IMPLS, OPTIMIZERS, PRECISIONS, SHARDINGS

    p = subparsers.add_parser(
        "memory", help="GPU memory of a training step: weights, states, activations, peak"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", metavar="NAME", help="a shipped config, e.g. llama-3-8b")
    src.add_argument("--config", metavar="FILE", help="a Hugging Face config.json (JSON only, at most 1 MB)")
    p.add_argument("--method", required=True, metavar="|".join(METHODS))
    add_family_flags(
        p,
        rank_help="rank r (default 8; AdaLoRA: init_r; IA3 has none)",
        targets_default="q_proj,v_proj",
        bias_default="none",
    )
    p.add_argument("--precision", default="bf16", metavar="|".join(PRECISIONS))
    p.add_argument("--optimizer", default="adamw", metavar="|".join(OPTIMIZERS))
    p.add_argument("--batch", default="1", metavar="B", help="micro-batch per GPU")
    p.add_argument("--seq", default="512", metavar="S", help="sequence length in tokens")
    p.add_argument("--grad-checkpointing", action="store_true")
    p.add_argument("--attention", default="sdpa", metavar="|".join(ATTENTIONS))
    p.add_argument("--gpus", default="1", metavar="N")
    p.add_argument("--sharding", default="none", metavar="|".join(SHARDINGS))
    p.add_argument("--no-double-quant", action="store_true", help="QLoRA without double quantization")
    p.add_argument(
        "--optimizer-impl",
        default="auto",
        metavar="|".join(OPTIMIZER_IMPLS),
        help="torch's optimizer code path: auto (torch's own: foreach on CUDA), foreach, fused "
        "(Hugging Face Trainer's default, adamw_torch_fused), single",
    )
    p.add_argument(
        "--seq-lens",
        metavar="S1,S2,...",
        help="replay steps padded to these lengths in turn (varying batches): reserved memory after each",
    )
    p.add_argument(
        "--device", default="cuda", metavar="cuda|cpu", help="whose kernels to model (default cuda)"
    )
    add_json_flag(p)
    p.set_defaults(run=run)


def run(args) -> CommandResult:
    from lora_core.memory import TrainingSetup, estimate_memory

    setup = TrainingSetup(
        method=args.method,
        precision=args.precision,
        optimizer=args.optimizer,
        batch=args.batch,
        seq=args.seq,
        grad_checkpointing=args.grad_checkpointing,
        attention=args.attention,
        gpus=args.gpus,
        sharding=args.sharding,
        double_quant=not args.no_double_quant,
        device=args.device,
        optimizer_impl=args.optimizer_impl,
    )
    spec = spec_from_args(args)  # validates every field
    seq_lens = _seq_lens(args.seq_lens)
    source, config = load_model_config(args)
    e = estimate_memory(config, spec, setup)
    keys = (
        "weights_bytes",
        "adapter_bytes",
        "gradients_bytes",
        "optimizer_bytes",
        "optimizer_temp_bytes",
        "activations_bytes",
        "forward_peak_bytes",
        "backward_peak_bytes",
        "optimizer_peak_bytes",
        "peak_bytes",
        "reserved_bytes",
        "cuda_context_bytes",
        "paged_bytes",
        "device_total_bytes",
        "checkpoint_bytes",
        "full_checkpoint_bytes",
    )
    payload = {k: getattr(e, k) for k in keys}
    payload.update(
        trainable_params=e.trainable_params,
        total_params=e.total_params,
        peak_phase=e.phase,
        per_gpu=setup.gpus > 1,
    )
    payload.update(_uncertainty(e))
    if seq_lens:
        payload["reserved_growth"] = _growth(config, spec, setup, seq_lens)
    rows = [("model", source), ("setup", _describe(setup, spec))]
    rows += [
        (k.removesuffix("_bytes").replace("_", " ") + " (GiB)", f"{getattr(e, k) / _GiB:,.3f}") for k in keys
    ]
    rows.append(("peak happens during", e.phase))
    rows.append(("reserved from", payload["reserved_source"]))
    if payload["band_rows"]:
        rows.append((
            "band (GPU validation)",
            f"{payload['band_low_pct']:+.1f} % .. {payload['band_high_pct']:+.1f} % over {payload['band_rows']} rows; "
            f"margin {payload['margin_pct']:.1f} %",
        ))  # fmt: skip
        rows += [(f"fits {f['gpu']} ({f['capacity_bytes'] / _MiB:,.0f} MiB)", f["verdict"]) for f in payload["fits"]]
    if seq_lens:
        growth = payload["reserved_growth"]
        steps = ", ".join(f"{s}: {r / _GiB:,.2f}" for s, r in zip(growth["seqs"], growth["reserved_bytes"], strict=True))
        rows.append(("reserved after each step (GiB)", steps))
    table = format_pairs(rows)
    if setup.gpus > 1:
        table += f"\nper GPU, {setup.sharding} over {setup.gpus} GPUs"
    return CommandResult(payload=payload, table=table)


def _seq_lens(text: str | None) -> list[int]:
    from lora_core.errors import LoraLabError
    from lora_core.memory.setup import MAX_SEQ
    from lora_core.validate import positive_int

    if not text:
        return []
    values = [v.strip() for v in text.split(",")]
    if len(values) > _MAX_SEQ_LENS:
        raise LoraLabError("cli.seq_lens_count", limit=_MAX_SEQ_LENS, count=len(values))
    return [positive_int("--seq-lens", v, maximum=MAX_SEQ) for v in values]


def _uncertainty(e) -> dict:
    """The GPU validation's band and margin, and each card's verdict with that margin (GPU estimates only)."""
    from lora_core.memory.series import fits_on
    from lora_core.memory.uncertainty import gpu_band

    keys = {"live_peak_bytes": e.live_peak_bytes, "reserved_source": e.reserved_source}
    if e.setup.device != "cuda":
        return {**keys, "band_low_pct": None, "band_high_pct": None, "band_rows": 0, "margin_pct": None, "fits": []}
    band = gpu_band()
    low, high, margin = band.percent()
    fits = [
        {
            "gpu": f.gpu.name,
            "capacity_bytes": f.gpu.bytes,
            "total_bytes": f.total_bytes,
            "headroom_bytes": f.headroom_bytes,
            "verdict": f.verdict,
        }
        for f in fits_on(e)
    ]
    return {
        **keys,
        "band_low_pct": round(low, 2),
        "band_high_pct": round(high, 2),
        "band_rows": band.rows,
        "margin_pct": round(margin, 2),
        "fits": fits,
    }


def _growth(config, spec, setup, seq_lens: list[int]) -> dict:
    from lora_core.errors import LoraLabError
    from lora_core.memory import reserve

    if not reserve.replayable(setup):
        raise LoraLabError("cli.seq_lens_setup")
    g = reserve.growth(config, spec, setup, seq_lens)
    return {"seqs": list(g.seqs), "peak_allocated_bytes": list(g.peak_allocated), "reserved_bytes": list(g.reserved)}


def _describe(setup, spec) -> str:
    from lora_core.commands.params import describe_spec

    bits = [setup.method, setup.precision, setup.optimizer, f"batch {setup.batch}", f"seq {setup.seq}"]
    if setup.adapter_spec(spec) is not None:
        bits.insert(1, describe_spec(spec))
    if setup.grad_checkpointing:
        bits.append("checkpointing")
    return ", ".join(bits)
