"""Common GPUs and the memory their driver reports.

A card's capacity is the total nvidia-smi prints in its "Memory-Usage" column ("0MiB / 81920MiB"), in MiB
(2^20 bytes): what the driver gives the CUDA context and torch's allocator together. It is less than the
vendor's label (an "80GB" H100 reports 81,559 MiB = 79.6 GiB) and more than the label read as decimal
gigabytes (80 GB = 74.5 GiB, the figure this list used before, which hid under-prediction behind a 7 %
accidental margin). Sources, each the total printed by nvidia-smi (or torch.cuda.get_device_properties) on
that card, as quoted in public logs and READMEs (found with the project's code search; one quote named per
card below).
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.memory.allocator_config import MiB


@dataclass(frozen=True)
class Gpu:
    name: str
    vendor_gb: int  # memory as on the vendor's spec sheet, in GB (the card's label)
    total_mib: int  # what the driver reports (nvidia-smi's total), in MiB
    compute_major: int  # CUDA compute capability major version (9: Hopper, its cuBLAS workspace is 32 MiB)

    @property
    def bytes(self) -> int:
        """The card's capacity in bytes: the driver's total."""
        return self.total_mib * MiB


GPUS: tuple[Gpu, ...] = (
    Gpu("NVIDIA T4", 16, 15_360, 7),  # "15360MiB" (the figure)
    Gpu("NVIDIA V100 16GB", 16, 16_160, 7),  # Tesla V100-SXM2-16GB: total_memory=16160MB (torch, yolov5 README)
    Gpu("NVIDIA RTX 3090", 24, 24_576, 8),  # GeForce RTX 3090: "1MiB / 24576MiB"
    Gpu("NVIDIA RTX 4090", 24, 24_564, 8),  # "24564MiB" (the figure)
    Gpu("NVIDIA L4", 24, 23_034, 8),  # "0MiB / 23034MiB"
    Gpu("NVIDIA A10G", 24, 23_028, 8),  # AWS g5: "0MiB / 23028MiB"
    Gpu("NVIDIA A100 40GB", 40, 40_960, 8),  # A100-SXM4-40GB: "19478MiB / 40960MiB"
    Gpu("NVIDIA L40S", 48, 46_068, 8),  # "0MiB / 46068MiB"
    Gpu("NVIDIA RTX 6000 Ada", 48, 49_140, 8),  # RTX 6000 Ada Generation: "8192MiB / 49140MiB"
    Gpu("NVIDIA A100 80GB", 80, 81_920, 8),  # "81920MiB" (the figure)
    Gpu("NVIDIA H100 80GB", 80, 81_559, 9),  # H100 80GB HBM3: "4MiB / 81559MiB"
    Gpu("NVIDIA H200", 141, 143_771, 9),  # "1MiB / 143771MiB"
)
CARD_SIZES_GB: tuple[int, ...] = (16, 24, 40, 48, 80, 141)  # lines on the Memory page's chart


def gpu(name: str) -> Gpu:
    from lora_core.errors import LoraLabError

    for g in GPUS:
        if g.name == name:
            return g
    raise LoraLabError("memory.unknown_gpu", name=name, known=tuple(g.name for g in GPUS))
