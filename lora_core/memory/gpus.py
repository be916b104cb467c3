"""Common GPUs and their memory as the vendor labels it.

Vendors quote memory in GB; we take the label at face value as decimal bytes (80 GB = 80e9 bytes = 74.5 GiB),
which is conservative: an "80GB" A100 reports 80 GiB to nvidia-smi, and the driver keeps a little of it.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 10**9  # decimal gigabyte: vendors' unit for card memory


@dataclass(frozen=True)
class Gpu:
    name: str
    vendor_gb: int  # memory as on the vendor's spec sheet, in GB

    @property
    def bytes(self) -> int:
        return self.vendor_gb * GB


GPUS: tuple[Gpu, ...] = (
    Gpu("NVIDIA T4", 16),
    Gpu("NVIDIA V100 16GB", 16),
    Gpu("NVIDIA RTX 3090", 24),
    Gpu("NVIDIA RTX 4090", 24),
    Gpu("NVIDIA L4", 24),
    Gpu("NVIDIA A10G", 24),
    Gpu("NVIDIA A100 40GB", 40),
    Gpu("NVIDIA L40S", 48),
    Gpu("NVIDIA RTX 6000 Ada", 48),
    Gpu("NVIDIA A100 80GB", 80),
    Gpu("NVIDIA H100 80GB", 80),
    Gpu("NVIDIA H200", 141),
)
CARD_SIZES_GB: tuple[int, ...] = (16, 24, 40, 48, 80, 141)  # lines on the Memory page's chart


def gpu(name: str) -> Gpu:
    from lora_core.errors import LoraLabError

    for g in GPUS:
        if g.name == name:
            return g
    raise LoraLabError(f"unknown GPU {name!r}; known: {', '.join(g.name for g in GPUS)}")
