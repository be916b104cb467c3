"""The caching allocator's configuration: its constants, PYTORCH_CUDA_ALLOC_CONF, and how a request is rounded.

What allocator.py (the pools) and allocator_replay.py (event sequences through them) share: the block and
segment sizes of c10/cuda/CUDACachingAllocator.cpp, the settings a user can change (`AllocatorConfig`, parsed
from a PYTORCH_CUDA_ALLOC_CONF string by `AllocatorConfig.from_env`), and the sizes a request turns into
(`round_size`, `allocation_size`).

Line numbers "cpp:N", "hdr:N" and "cfg.cpp" are those allocator.py's docstring defines.
"""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1 << 10
MiB = 1 << 20
MIN_BLOCK_SIZE = 512  # kMinBlockSize, hdr:19: all sizes are rounded to at least 512 bytes
SMALL_SIZE = 1 * MiB  # kSmallSize, hdr:21: largest "small" allocation
SMALL_BUFFER = 2 * MiB  # kSmallBuffer, hdr:17: small allocations are packed in 2 MiB segments
MIN_LARGE_ALLOC = 10 * MiB  # kMinLargeAlloc, hdr:23: allocations between 1 and 10 MiB may use a large segment
ROUND_LARGE = 2 * MiB  # kRoundLarge, hdr:25: round up large allocations to 2 MiB
LARGE_SEGMENT = 20 * MiB  # large_segment_size_ default, hdr:340 (kLargeBuffer)
ROUNDUP_INTERVALS = 16  # kRoundUpPowerOfTwoIntervals (cfg.cpp): 1 MiB .. 64 GiB, one interval per power of 2
_INTERVAL_START = 20  # log2(kRoundUpPowerOfTwoStart = 1 MiB), cfg.cpp


@dataclass(frozen=True)
class AllocatorConfig:
    """PYTORCH_CUDA_ALLOC_CONF settings the model follows, plus the memory CUDA can give (`capacity`)."""

    max_split_size: int | None = None  # bytes; None = unlimited (hdr:342). max_split_size_mb
    max_non_split_rounding_size: int = 20 * MiB  # default kLargeBuffer (cfg.cpp); max_non_split_rounding_mb
    roundup_power2_divisions: int | tuple[int, ...] = 0  # one value, or one per interval 1 MiB..64 GiB
    expandable_segments: bool = False
    large_segment_size: int = LARGE_SEGMENT
    capacity: int | None = None  # bytes segments may total (set_per_process_memory_fraction); None = no OOM

    def __post_init__(self):
        if self.max_split_size is not None and self.max_split_size < LARGE_SEGMENT:
            # cfg.cpp parseMaxSplitSize: "max_split_size_mb too small, must be >= 20"
            raise ValueError(f"max_split_size must be at least 20 MiB, got {self.max_split_size} bytes")
        divs = self.roundup_power2_divisions
        values = (divs,) if isinstance(divs, int) else tuple(divs)
        if not isinstance(divs, int) and len(values) != ROUNDUP_INTERVALS:
            raise ValueError(
                f"roundup_power2_divisions needs 1 or {ROUNDUP_INTERVALS} values, got {len(values)}"
            )
        if any(v < 0 or (v & (v - 1)) for v in values):
            # cfg.cpp parseRoundUpPower2Divisions: "the divisons has to be power of 2 or 0"
            raise ValueError(f"roundup_power2_divisions must be powers of 2 or 0, got {divs}")
        if self.large_segment_size % ROUND_LARGE or self.large_segment_size <= 0:
            raise ValueError("large_segment_size must be a positive multiple of 2 MiB")
        if self.capacity is not None and self.capacity < 0:
            raise ValueError("capacity must be >= 0")

    def divisions(self, size: int) -> int:
        """roundup_power2_divisions for `size` (cfg.cpp AllocatorConfig::roundup_power2_divisions)."""
        divs = self.roundup_power2_divisions
        if isinstance(divs, int):
            return divs
        index = min(max(size.bit_length() - 1 - _INTERVAL_START, 0), ROUNDUP_INTERVALS - 1)
        return divs[index]

    @classmethod
    def from_env(cls, text: str, capacity: int | None = None) -> AllocatorConfig:
        """Parse a PYTORCH_CUDA_ALLOC_CONF string such as "expandable_segments:True,max_split_size_mb:128"."""
        kw: dict = {"capacity": capacity}
        for item in filter(None, (s.strip() for s in text.split(","))):
            key, sep, value = item.partition(":")
            key, value = key.strip(), value.strip()
            if not sep or not value:
                raise ValueError(f"expected key:value in PYTORCH_CUDA_ALLOC_CONF, got {item!r}")
            if key == "max_split_size_mb":
                kw["max_split_size"] = int(value) * MiB
            elif key == "max_non_split_rounding_mb":
                kw["max_non_split_rounding_size"] = int(value) * MiB
            elif key == "large_segment_size_mb":
                kw["large_segment_size"] = int(value) * MiB
            elif key == "expandable_segments":
                if value not in ("True", "False"):
                    raise ValueError("expandable_segments takes True or False")
                kw["expandable_segments"] = value == "True"
            elif key == "roundup_power2_divisions":
                if not value.isdigit():
                    raise ValueError("roundup_power2_divisions: give one integer here, or a 16-tuple in code")
                kw["roundup_power2_divisions"] = int(value)
            elif key == "backend" and value == "native":
                continue
            elif key in (
                "release_lock_on_cudamalloc",
                "pinned_use_cuda_host_register",
                "pinned_num_register_threads",
                "pinned_use_background_threads",
            ):
                continue  # no effect on device block sizes
            else:
                raise ValueError(f"allocator option not modelled: {key}")
        return cls(**kw)


def round_size(nbytes: int, config: AllocatorConfig | None = None) -> int:
    """The block size a request of `nbytes` asks for (DeviceCachingAllocator::round_size, cpp:2585-2597)."""
    if nbytes < MIN_BLOCK_SIZE:
        return MIN_BLOCK_SIZE
    divisions = config.divisions(nbytes) if config is not None else 0
    if divisions > 1 and nbytes > MIN_BLOCK_SIZE * divisions:
        return _roundup_power2_next_division(nbytes, divisions)
    return -(-nbytes // MIN_BLOCK_SIZE) * MIN_BLOCK_SIZE


def _roundup_power2_next_division(size: int, divisions: int) -> int:
    """cpp:2565-2583: e.g. 1200 with 4 divisions lies in 1024..2048, split at 1280, 1536, 1792 -> 1280."""
    if size & (size - 1) == 0:
        return size
    floor = 1 << (size.bit_length() - 1)  # llvm::PowerOf2Floor
    division = floor >> (divisions.bit_length() - 1)  # >> (63 - countLeadingZeros(divisions))
    if division == 0:
        return floor << 1
    rounded = size & ~(division - 1)
    return size if rounded == size else rounded + division


def allocation_size(size: int, config: AllocatorConfig | None = None) -> int:
    """Segment size CUDA is asked for when no cached block fits (get_allocation_size, cpp:3115-3123)."""
    if size <= SMALL_SIZE:
        return SMALL_BUFFER
    if size < MIN_LARGE_ALLOC:
        return config.large_segment_size if config is not None else LARGE_SEGMENT
    return -(-size // ROUND_LARGE) * ROUND_LARGE
