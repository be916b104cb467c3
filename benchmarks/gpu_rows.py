"""Predicted against measured GPU peaks: the public development set (shared/measurements/public_gpu_peaks.md).

    python benchmarks/gpu_rows.py                 # print the table
    python benchmarks/gpu_rows.py --write         # lora_core/memory/data/validation_gpu.json + docs/validation.md
    python benchmarks/gpu_rows.py --measured /tmp/gpu.json --write   # also this machine's GPU rows
                                                  # (benchmarks/measure_memory.py --device cuda --json)

Every row of the development set is listed. A row is compared when its code path is one we model: Hugging
Face transformers + PEFT (the Answer.AI fsdp_qlora rows, S5). LitGPT (its own model code and a chunked LM
head) and torchtune (its own modules, FlexAttention, torchao NF4) are out of scope, and so are the appendix
rows whose settings are not stated or whose model is remote code. For a compared row the estimator gets the
row's settings as written in the development set, nothing else; the measured value never reaches it. The
"what explains the difference" column names the code-path differences between the row's script and our
recipe (lora_core/memory/recipe.py) and sizes them from the row's own shapes where that is arithmetic.

The committed JSON is what lora_core/memory/uncertainty.py derives the Memory page's band and margin from;
tests/test_gpu_rows.py checks that it, and the table in docs/validation.md, are what this script computes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GiB = 1 << 30
GB = 10**9
DATA = ROOT / "lora_core" / "memory" / "data" / "validation_gpu.json"
DOC = ROOT / "docs" / "validation.md"
START, END = "<!-- gpu-table:start -->", "<!-- gpu-table:end -->"
SOURCE = "shared/measurements/public_gpu_peaks.md"


@dataclass(frozen=True)
class PublicRow:
    id: str  # the development set's row number (or appendix id)
    set: str  # S1..S5, C
    summary: str  # model, method, batch, sequence, as the development set states them
    measured: float | None  # in `unit`; None: not a number (OOM, or no single value)
    unit: str  # "GiB" | "GB"
    metric: str  # max_memory_reserved | max_memory_allocated | active | unknown
    scope: str  # "compared" | the reason it is not
    preset: str = ""  # compared rows: the model and the settings the estimator gets
    spec: dict = field(default_factory=dict)
    setup: dict = field(default_factory=dict)
    differences: tuple[str, ...] = ()  # keys of DIFFERENCES that apply


LITGPT = "out of scope: LitGPT's own model code (fused QKV LoRA, 128-token chunked LM head and loss)"
TORCHTUNE = "out of scope: torchtune's own modules (and FlexAttention / torchao NF4 where packed or QLoRA)"
S5_SPEC = {"r": 64, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"]}
S5_DIFFS = ("peft_bf16_adapters", "loop_keeps_outputs", "shifted_logits_copy", "lora_dropout", "fsdp")

ROWS: tuple[PublicRow, ...] = (
    *(
        PublicRow(str(i), "S1", f"LitGPT resource table row {i}", None, "GB", "max_memory_allocated", LITGPT)
        for i in range(1, 14)
    ),
    *(
        PublicRow(str(i), "S2", f"torchtune Llama-3.2-3B optimization-flags row {i}", None, "GiB", "active", TORCHTUNE)
        for i in range(14, 24)
    ),
    *(
        PublicRow(str(i), "S3", f"LitGPT config_hub row {i}", None, "GB", "max_memory_allocated", LITGPT)
        for i in range(24, 34)
    ),
    *(
        PublicRow(str(i), "S4", f"torchtune Llama-2-7B tutorial row {i}", None, "GB", "max_memory_reserved", TORCHTUNE)
        for i in range(34, 39)
    ),
    PublicRow(
        "39", "S5", "Llama-2-7b-hf, PEFT LoRA r64/α16 q,k,v,gate,up,down, bf16, AdamW, batch 4, seq 2048 fixed, "
        "reentrant checkpointing, sdpa; FSDP NO_SHARD on 2 GPUs", 22.04, "GiB", "max_memory_reserved", "compared",
        "llama-2-7b", S5_SPEC,
        {"method": "lora", "precision": "bf16", "optimizer": "adamw", "batch": 4, "seq": 2048,
         "grad_checkpointing": True, "attention": "sdpa", "optimizer_impl": "foreach"},
        S5_DIFFS,
    ),
    PublicRow(
        "40", "S5", "Llama-2-7b-hf, QLoRA (bnb NF4, double quant, bf16 storage) r64/α16 same targets, bf16, "
        "AdamW, batch 8, seq 2048 fixed, reentrant checkpointing, sdpa; FSDP NO_SHARD on 2 GPUs", 20.94, "GiB",
        "max_memory_reserved", "compared", "llama-2-7b", S5_SPEC,
        {"method": "qlora", "precision": "bf16", "optimizer": "adamw", "batch": 8, "seq": 2048,
         "grad_checkpointing": True, "attention": "sdpa", "optimizer_impl": "foreach", "double_quant": True},
        S5_DIFFS,
    ),
    PublicRow("C1-C2", "C", "LitGPT lora-insights (Llama-2-7B)", None, "GB", "unknown", LITGPT),
    PublicRow("C3-C4", "C", "Qwen-7B (v1) README profiling", None, "GB", "unknown",
              "out of scope: Qwen-7B v1 is remote code (its own modules, flash-attn's fused rotary/RMSNorm); "
              "C4 is GPTQ, not NF4"),
    PublicRow("C5-C9", "C", "ms-swift qwen-7b-chat benchmark", None, "GiB", "unknown",
              "out of scope: qwen-7b-chat is remote code; dataset lengths vary and the metric is not stated"),
    PublicRow("C10", "C", "fms-acceleration Mistral-7B LoRA/QLoRA, bs 4", None, "GiB", "max_memory_reserved",
              "not comparable: the sequence length is not stated (and the attention is flash_attention_2)"),
    PublicRow("C11", "C", "LLaMA-Factory wiki LLaMA2-7B", None, "GB", "unknown",
              "not comparable: whole-GB figures, checkpointing default not confirmed, FlashAttention-2"),
)


def _estimate(row: PublicRow):
    from lora_core.memory import TrainingSetup, estimate_memory
    from lora_core.presets import load_preset
    from lora_core.spec import LoraSpec

    spec = LoraSpec(**{**row.spec, "target_modules": tuple(row.spec["target_modules"])})
    return estimate_memory(load_preset(row.preset), spec, TrainingSetup(**row.setup))


def _differences(row: PublicRow, est) -> list[str]:
    """The row script's code paths that our recipe does not have, sized from the row's shapes."""
    from lora_core.presets import load_preset

    config = load_preset(row.preset)
    b, s, v = row.setup["batch"], row.setup["seq"], config["vocab_size"]
    logits = b * s * v * 4  # (B, S, V) fp32
    notes = {
        "peft_bf16_adapters": (
            "adapters in bf16 (PEFT before 0.12 cast them to the base dtype; get_peft_model's "
            f"autocast_adapter_dtype=True keeps fp32): our fp32 adapters, gradients and AdamW states hold "
            f"{2 * est.adapter_bytes / GiB:.2f} GiB more"
        ),
        "loop_keeps_outputs": (
            "train.py keeps `output` until after backward and optimizer.step(): its fp32 logits (transformers "
            f"before 4.46, which the script's pin allows, upcast them in forward), {logits / GiB:.2f} GiB, stay "
            "allocated through backward; our loop keeps only the loss"
        ),
        "shifted_logits_copy": (
            "transformers before 4.46 computed the loss on logits[..., :-1, :].contiguous(), a second fp32 "
            f"(B, S, V) copy of {logits / GiB:.2f} GiB during the loss (transformers 5.23, traced here, pads the "
            "labels instead)"
        ),
        "lora_dropout": (
            "lora_dropout=0.1: each adapter's input goes through nn.Dropout (a (B, S, in) copy and its mask) "
            "during each layer's recompute; our LoRA spec has no dropout (PEFT's default 0 is an Identity)"
        ),
        "fsdp": (
            "FSDP NO_SHARD wrapping (flat parameters, the cache left by loading and flattening the model, "
            "which the metric counts: peaks were reset after model setup, not the cache) is not replayed"
        ),
    }
    return [notes[k] for k in row.differences]


def compute(measured_here: list[dict] | None = None) -> list[dict]:
    out = []
    for row in ROWS:
        entry = {
            "id": row.id, "set": row.set, "summary": row.summary, "metric": row.metric, "status": row.scope,
            "source": SOURCE,
        }  # fmt: skip
        if row.scope == "compared":
            est = _estimate(row)
            unit = GiB if row.unit == "GiB" else GB
            measured = round(row.measured * unit)
            entry.update(
                preset=row.preset, spec=row.spec, setup=row.setup, measured=row.measured, unit=row.unit,
                measured_bytes=measured, predicted_bytes=est.reserved_bytes,
                predicted_allocated_bytes=est.peak_bytes, reserved_source=est.reserved_source,
                error=(est.reserved_bytes - measured) / measured, differences=_differences(row, est),
            )  # fmt: skip
        out.append(entry)
    for m in measured_here or []:  # benchmarks/measure_memory.py --device cuda --json
        if m.get("reserved") and m.get("predicted_reserved"):
            out.append({
                "id": f"here: {m['row']}", "set": "here", "summary": m["row"], "metric": "max_memory_reserved",
                "status": "compared", "source": m.get("device", "measure_memory.py --device cuda"),
                "measured_bytes": m["reserved"], "predicted_bytes": m["predicted_reserved"],
                "error": (m["predicted_reserved"] - m["reserved"]) / m["reserved"], "differences": [],
            })  # fmt: skip
    return out


def markdown(rows: list[dict]) -> str:
    from lora_core.memory.uncertainty import band_of, compared

    band = band_of(compared(rows))
    lo, hi, margin = band.percent()
    lines = [
        f"{band.rows} compared rows: error of max_memory_reserved {lo:+.1f} % .. {hi:+.1f} %; margin needed to "
        f"cover every measurement {margin:.1f} % (lora_core/memory/uncertainty.py reads these rows).",
        "",
        "| # | settings | measured | predicted reserved | error | predicted allocated | what explains the difference |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["status"] != "compared":
            continue
        lines.append(
            f"| {r['id']} | {r['summary']} | {r['measured_bytes'] / GiB:.2f} GiB | {r['predicted_bytes'] / GiB:.2f} GiB "
            f"| {100 * r['error']:+.1f} % | {r.get('predicted_allocated_bytes', 0) / GiB:.2f} GiB "
            f"| {'; '.join(r['differences']) or '-'} |"
        )
    lines += ["", "Rows not compared:", ""]
    reasons: dict[str, list[str]] = {}
    for r in rows:
        if r["status"] != "compared":
            reasons.setdefault(r["status"], []).append(r["id"])
    for reason, ids in reasons.items():
        lines.append(f"- {', '.join(ids)}: {reason}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import warnings

    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--write", action="store_true", help="write the JSON and the table in docs/validation.md")
    p.add_argument("--measured", type=Path, help="measure_memory.py --device cuda --json output to add")
    args = p.parse_args(argv)
    here = json.loads(args.measured.read_text()) if args.measured else _committed_here()
    rows = compute(here)
    table = markdown(rows)
    print(table)
    if args.write:
        DATA.write_text(json.dumps({"source": SOURCE, "rows": rows}, indent=1, default=list) + "\n")
        text = DOC.read_text()
        head, rest = text.split(START, 1)
        DOC.write_text(head + START + "\n" + table + rest[rest.index(END) :])
    return 0


def _committed_here() -> list[dict]:
    """This machine's GPU rows already in the committed JSON (kept when the public rows are recomputed)."""
    if not DATA.exists():
        return []
    kept = []
    for r in json.loads(DATA.read_text())["rows"]:
        if r.get("set") == "here":
            kept.append({"row": r["summary"], "device": r["source"], "reserved": r["measured_bytes"],
                         "predicted_reserved": r["predicted_bytes"]})  # fmt: skip
    return kept


if __name__ == "__main__":
    raise SystemExit(main())
