"""Classroom scenarios: named views a teacher opens in one click, each a page plus its URL parameters.

The text (title, what to look at, where our numbers differ from a paper's) lives in
lora_ui/strings/learn.py under "scenario.<id>.*". The parameters use the page's widget keys
(lora_ui/keys.py); a multiselect takes repeated parameters (?targets=q_proj&targets=v_proj), which is how
Streamlit 1.67 binds list widgets (runtime/state/query_params.py, parse_url_param "string_array_value").
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from lora_ui import keys

# Keys of pages still being built on other branches; keys.py gets them when those pages merge.
MEM_PRESET = getattr(keys, "MEM_PRESET", "mem_preset")
MEM_TARGETS = getattr(keys, "MEM_TARGETS", "mem_targets")
MEM_RANK = getattr(keys, "MEM_RANK", "mem_rank")
MEM_METHOD = getattr(keys, "MEM_METHOD", "mem_method")
MEM_CKPT = getattr(keys, "MEM_CKPT", "mem_ckpt")
FIT_MODE = getattr(keys, "FIT_MODE", "fit_mode")

ParamValue = str | tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    id: str  # string keys learn.scenario.<id>.title / .body / .note
    page: str  # url_path of the page (pages/<page>.py)
    params: tuple[tuple[str, ParamValue], ...]  # (widget key, value or repeated values)

    @property
    def page_file(self) -> str:
        return f"pages/{self.page}.py"

    def query(self, lang: str | None = None) -> dict[str, str | list[str]]:
        """For st.page_link(query_params=...): repeated values as lists; the language kept if given."""
        out: dict[str, str | list[str]] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}
        if lang:
            out[keys.LANG] = lang
        return out

    def url(self, lang: str | None = None) -> str:
        """The relative link, e.g. /matrix?d=10000&k=10000&r=8 (for docs, tests and the projector)."""
        return f"/{self.page}?" + urlencode(list(self.query(lang).items()), doseq=True, quote_via=quote)


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
    # LoRA paper (Hu et al. 2021, arXiv 2106.09685, section 4.2): GPT-3 175B with r=4 on W_q and W_v:
    # training VRAM 1.2 TB -> 350 GB, checkpoint 350 GB -> 35 MB. Our GPT-3 preset is GPT-2 shaped with a
    # fused c_attn (q,k,v in one 12288 -> 36864 projection): r=4 on c_attn trains (12288 + 36864) * 4
    # = 196,608 values per layer, exactly the paper's 2 * (12288 + 12288) * 4 for W_q and W_v.
    Scenario(
        "gpt3_175b",
        "memory",
        ((MEM_PRESET, "gpt3-175b"), (MEM_TARGETS, "c_attn"), (MEM_RANK, "4"), (MEM_METHOD, "lora")),
    ),
    # QLoRA paper (Dettmers et al. 2023, arXiv 2305.14314, abstract and section 4): a 65B model fine-tuned on
    # one 48 GB GPU with 4-bit NF4, double quantization, paged optimizers, r=64 on all linear layers.
    # No 65B preset: Llama-2-70B stands in (about 8 % more weights than LLaMA-65B).
    Scenario(
        "qlora_65b",
        "memory",
        (
            (MEM_PRESET, "llama-2-70b"),
            (MEM_METHOD, "qlora"),
            (MEM_TARGETS, "all-linear"),
            (MEM_RANK, "64"),
            (MEM_CKPT, "true"),
        ),
    ),
    # Rank barely changes memory: the frozen weights dominate, the adapter is a rounding error.
    Scenario("rank_r8", "memory", ((MEM_PRESET, "llama-3.2-3b"), (MEM_RANK, "8"), (MEM_METHOD, "lora"))),
    Scenario("rank_r64", "memory", ((MEM_PRESET, "llama-3.2-3b"), (MEM_RANK, "64"), (MEM_METHOD, "lora"))),
    # Seed 002: y = X theta, theta + 1 as the new task (a rank-1 shift), a rank-1 LoRA recovers it.
    Scenario("seed_fit", "fit", ((FIT_MODE, "regression"),)),
)

BY_ID = {s.id: s for s in SCENARIOS}
