"""Classroom scenarios: named views a teacher opens in one click, each a page plus its URL parameters,
with headline numbers computed live by lora_core from those same parameters.

The text (title, what to look at, where our numbers differ from a paper's) lives in
lora_ui/strings/learn.py under "scenario.<id>.*", and each headline's label under "headline.<name>". The
parameters use the page's widget keys (lora_ui/keys.py); a multiselect takes repeated parameters
(?targets=q_proj&targets=v_proj), which is how Streamlit 1.67 binds list widgets
(runtime/state/query_params.py, parse_url_param "string_array_value").

A link names every input its headlines depend on (not only the ones that differ from the page's default),
so the page it opens shows the same numbers as the card even if a page's defaults change later.
`headlines()` is pure (no Streamlit): pages/learn.py caches it per scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlencode

from lora_ui import keys

ParamValue = str | tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    id: str  # string keys learn.scenario.<id>.title / .body / .note
    page: str  # url_path of the page (pages/<page>.py)
    params: tuple[tuple[str, ParamValue], ...]  # (widget key, value or repeated values)

    @property
    def page_file(self) -> str:
        return f"pages/{self.page}.py"

    def value(self, key: str) -> ParamValue:
        return dict(self.params)[key]

    def query(self, lang: str | None = None) -> dict[str, str | list[str]]:
        """For st.page_link(query_params=...): repeated values as lists; the language kept if given."""
        out: dict[str, str | list[str]] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}
        if lang:
            out[keys.LANG] = lang
        return out

    def url(self, lang: str | None = None) -> str:
        """The relative link, e.g. /matrix?d=10000&k=10000&r=8 (for docs, tests and the projector)."""
        return f"/{self.page}?" + urlencode(list(self.query(lang).items()), doseq=True, quote_via=quote)


@dataclass(frozen=True)
class Headline:
    """One of a scenario card's numbers (a metric), with how to write it."""

    name: str  # label key learn.headline.<name>
    value: int | float
    unit: str  # "count" (1,234), "percent" (0.16 %), "bytes" (shown in decimal GB/MB, as the papers write)


def _memory_inputs(preset: str, method: str, targets: str, r: int, **setup):
    """The Memory page's (config, spec, setup) for these inputs: its spec (fixed alpha, lora_ui/memory_inputs.py),
    so a card's trace is the one the page needs when the card's link opens it."""
    from lora_core.memory import TrainingSetup
    from lora_core.presets import load_preset
    from lora_ui.memory_inputs import memory_spec

    return load_preset(preset), memory_spec(targets, r, False), TrainingSetup(method=method, **setup)


# The Memory page's inputs each memory scenario sets (all of those its headlines depend on).
def _mem_params(preset, method, targets, rank, ckpt="false", optimizer="adamw", batch="1", seq="512"):
    return (
        (keys.MEM_PRESET, preset),
        (keys.MEM_METHOD, method),
        (keys.MEM_TARGETS, targets),
        (keys.MEM_RANK, rank),
        (keys.MEM_DORA, "false"),
        (keys.MEM_PRECISION, "bf16"),
        (keys.MEM_OPTIMIZER, optimizer),
        (keys.MEM_BATCH, batch),
        (keys.MEM_SEQ, seq),
        (keys.MEM_CKPT, ckpt),
        (keys.MEM_ATTENTION, "sdpa"),
        (keys.MEM_GPUS, "1"),
        (keys.MEM_SHARDING, "none"),
    )


@lru_cache(maxsize=8)  # rank_r64 compares with rank_r8: trace each model once per process
def _mem_estimate_by_id(scenario_id: str):
    return _mem_estimate(BY_ID[scenario_id])


def _mem_estimate(s: Scenario):
    from lora_core.memory import estimate_memory

    # GPT-3's card shows parameter and checkpoint sizes only: no allocator replay needed (96 layers)
    return estimate_memory(*_mem_scenario_inputs(s), replay=s.id != "gpt3_175b")


def _mem_scenario_inputs(s: Scenario):
    v = s.value
    return _memory_inputs(
        v(keys.MEM_PRESET),
        v(keys.MEM_METHOD),
        v(keys.MEM_TARGETS),
        int(v(keys.MEM_RANK)),
        precision=v(keys.MEM_PRECISION),
        optimizer=v(keys.MEM_OPTIMIZER),
        batch=int(v(keys.MEM_BATCH)),
        seq=int(v(keys.MEM_SEQ)),
        grad_checkpointing=v(keys.MEM_CKPT) == "true",
        attention=v(keys.MEM_ATTENTION),
    )


SCENARIOS: tuple[Scenario, ...] = (
    # Seed 000: one 10,000 x 10,000 matrix at rank 8: 100,000,000 against 160,000 trainable (0.16 %).
    Scenario(
        "seed_matrix", "matrix", ((keys.MATRIX_D, "10000"), (keys.MATRIX_K, "10000"), (keys.MATRIX_R, "8"))
    ),
    # PEFT's print_trainable_parameters for Llama-2-7B, q_proj+v_proj, r=8: 4,194,304 trainable
    # = 32 layers * 2 modules * (4096 + 4096) * 8.
    Scenario(
        "llama2_qv",
        "model",
        (
            (keys.MODEL_PRESET, "llama-2-7b"),
            (keys.MODEL_TARGETS, ("q_proj", "v_proj")),
            (keys.MODEL_RANK, "8"),
        ),
    ),
    # LoRA paper (Hu et al. 2021, arXiv 2106.09685): Table 4 lists GPT-3 175B LoRA with 37.7M trainable
    # parameters, which is r=8 on W_q and W_v: 96 layers * 2 * (12288 + 12288) * 8 = 37,748,736. Our GPT-3
    # preset is GPT-2 shaped with a fused c_attn (q,k,v in one 12288 -> 36864 projection): r=8 on c_attn
    # trains 96 * (12288 + 36864) * 8 values, the same number. Section 4.2: training VRAM 1.2 TB -> 350 GB,
    # checkpoint 350 GB -> 35 MB (r=4, 16-bit).
    Scenario("gpt3_175b", "memory", _mem_params("gpt3-175b", "lora", "c_attn", "8")),
    # QLoRA paper (Dettmers et al. 2023, arXiv 2305.14314, abstract and section 4): a 65B model fine-tuned on
    # one 48 GB GPU with 4-bit NF4, double quantization, paged optimizers, r=64 on all linear layers.
    # No 65B preset: Llama-2-70B stands in (about 8 % more weights than LLaMA-65B). Paged AdamW is our
    # paged-adamw-8bit (the only paged optimizer the Memory page models).
    Scenario(
        "qlora_65b",
        "memory",
        _mem_params("llama-2-70b", "qlora", "all-linear", "64", ckpt="true", optimizer="paged-adamw-8bit"),
    ),
    # Rank barely changes memory: the frozen weights dominate, the adapter is a rounding error.
    Scenario("rank_r8", "memory", _mem_params("llama-3.2-3b", "lora", "all-linear", "8")),
    Scenario("rank_r64", "memory", _mem_params("llama-3.2-3b", "lora", "all-linear", "64")),
    # Seed 002: y = X theta, theta + 1 as the new task (a rank-1 shift), a rank-1 LoRA recovers it. The Fit
    # page runs it at its regression defaults (lora_core.fit: 2,000 samples, 101 inputs, 100 outputs).
    Scenario(
        "seed_fit",
        "fit",
        (
            (keys.FIT_MODE, "regression"),
            (keys.FIT_SAMPLES, "2000"),
            (keys.FIT_ROWS, "101"),
            (keys.FIT_COLS, "100"),
            (keys.FIT_SHIFT, "ones"),
            (keys.FIT_R, "1"),
        ),
    ),
)

BY_ID = {s.id: s for s in SCENARIOS}


def headlines(scenario_id: str) -> tuple[Headline, ...]:
    """The scenario's headline numbers, computed by lora_core from the scenario's own link parameters.

    Memory scenarios trace the model once per recipe (a fraction of a second; lora_core/memory/trace.py)."""
    s = BY_ID[scenario_id]
    v = s.value
    if s.id == "seed_matrix":
        from lora_core.matrix import matrix_cost

        c = matrix_cost(int(v(keys.MATRIX_D)), int(v(keys.MATRIX_K)), int(v(keys.MATRIX_R)))
        return (
            Headline("full_params", c.full_params, "count"),
            Headline("lora_params", c.lora_params, "count"),
            Headline("percent", c.percent, "percent"),
        )
    if s.id == "llama2_qv":
        from lora_core.params import count_params
        from lora_core.presets import load_preset
        from lora_core.spec import LoraSpec

        spec = LoraSpec(r=int(v(keys.MODEL_RANK)), target_modules=v(keys.MODEL_TARGETS))
        c = count_params(load_preset(v(keys.MODEL_PRESET)), spec)
        return (
            Headline("trainable", c.trainable_params, "count"),
            Headline("percent", c.trainable_percent, "percent"),
        )
    if s.id == "gpt3_175b":
        e = _mem_estimate_by_id(s.id)
        return (
            Headline("trainable", e.trainable_params, "count"),
            Headline("full_checkpoint", e.full_checkpoint_bytes, "bytes"),
            Headline("lora_checkpoint", e.checkpoint_bytes, "bytes"),
        )
    if s.id in ("qlora_65b", "rank_r8"):
        e = _mem_estimate_by_id(s.id)
        return (
            Headline("gpu_total", e.device_total_bytes, "bytes"),
            Headline("trainable", e.trainable_params, "count"),
        )
    if s.id == "rank_r64":
        e, base = _mem_estimate_by_id(s.id), _mem_estimate_by_id("rank_r8")
        return (
            Headline("gpu_total", e.device_total_bytes, "bytes"),
            Headline("more_than_r8", e.device_total_bytes - base.device_total_bytes, "bytes"),
        )
    if s.id == "seed_fit":
        from lora_core.matrix import matrix_cost

        # The change to learn is a d_in x d_out matrix (here a vector per output); LoRA trains B and A.
        c = matrix_cost(int(v(keys.FIT_ROWS)), int(v(keys.FIT_COLS)), int(v(keys.FIT_R)))
        return (Headline("full_params", c.full_params, "count"), Headline("lora_params", c.lora_params, "count"))
    raise KeyError(scenario_id)


def format_headline(h: Headline) -> str:
    """Numbers as the papers write them: counts with separators, sizes in decimal GB / MB."""
    if h.unit == "percent":
        return f"{h.value:.2f} %"
    if h.unit == "bytes":
        return f"{h.value / 1e9:,.1f} GB" if abs(h.value) >= 1e9 else f"{h.value / 1e6:,.1f} MB"
    return f"{h.value:,}"
