"""A model of PyTorch's CUDA caching allocator: replay alloc/free events, read allocated and reserved bytes.

torch.cuda.max_memory_reserved() is more than the live peak because the allocator (c10/cuda/
CUDACachingAllocator.cpp) rounds every request, takes memory from CUDA in whole segments, splits segments
into blocks that never merge across segments, and keeps freed blocks cached. This module replays a sequence
of `Alloc(id, nbytes, stream)` / `Free(id)` events through those rules and reports, after every event,
`allocated` (what torch.cuda.memory_allocated() counts: the rounded size of every live block) and `reserved`
(memory_reserved(): every segment, or every mapped page of an expandable segment), and their peaks.

Source. Line numbers "cpp:N" are of c10/cuda/CUDACachingAllocator.cpp in the revision of pytorch/pytorch
that uses the constants of c10/core/AllocatorConfig.h, as torch 2.13's own headers do (the stored copy read
for this module; its DeviceCachingAllocator methods are named below, so the rules can be found in any
revision). "hdr:N" are lines of torch 2.13.0's installed c10/core/AllocatorConfig.h. "cfg.cpp" is
c10/core/AllocatorConfig.cpp at pytorch/pytorch 065861fb (roundup_power2_divisions' size intervals).

Rules followed (DeviceCachingAllocator::malloc, cpp:1413-1619):
- round_size (cpp:2585-2597): < 512 B -> 512 B; else a multiple of 512 B (kMinBlockSize, hdr:19), or the
  next power-of-2 division when roundup_power2_divisions is set (cpp:2565-2583).
- get_pool (cpp:3060-3085): rounded size <= 1 MiB (kSmallSize, hdr:21) -> small pool, else large pool;
  one free list per pool and stream (BlockComparatorSize orders by stream, size, address: cpp:867-875).
- get_free_block (cpp:3125-3183): best fit, the smallest cached block >= size on the same stream; a request
  < max_split_size never takes a block >= max_split_size, and a request >= max_split_size takes a block only
  if it is < size + max_non_split_rounding_size (cpp:3171-3179).
- otherwise alloc_block (cpp:3258-3367) takes a new segment of get_allocation_size (cpp:3115-3123): 2 MiB
  (kSmallBuffer) for the small pool, large_segment_size (20 MiB, hdr:340) for requests < 10 MiB
  (kMinLargeAlloc), else the request rounded up to 2 MiB (kRoundLarge). If the segment would exceed
  `capacity` (the per-process limit, cpp:3278-3282), malloc frees cached oversize blocks
  (release_available_cached_blocks, cpp:3371-3417) and retries, then frees every cached unsplit segment
  (release_cached_blocks, cpp:3428-3471) and retries (cpp:1477-1489); then it is out of memory.
- should_split (cpp:3095-3113): the remainder becomes a free block if it is >= 512 B (small pool, or
  expandable segments) or > 1 MiB and the request < max_split_size (large pool); else the whole block is
  handed out and counted as allocated (alloc_found_block, cpp:1654-1751: allocated_bytes += block size, cpp:1727-1733).
- free (cpp:1980-2042) -> free_block (cpp:2949-3023): merge with the free neighbours of the same segment
  (try_merge_blocks, cpp:3027-3058: blocks are linked only inside a segment, so never across segments) and
  cache the block; memory returns to CUDA only on the release paths above or empty_cache().
- expandable_segments: one segment per pool and stream whose pages (2 MiB small, large_segment_size large:
  find_expandable_block, cpp:2799-2844) are mapped on demand (map_block, cpp:2846-2913;
  try_allocate_expandable_block, cpp:2915-2946); reserved counts mapped pages (cpp:2889-2892); release
  unmaps whole free pages (unmap_block, cpp:3536-3606).

Not modelled: cross-stream uses (record_stream events), CUDA graph private pools, garbage_collection_threshold,
the cudaMallocAsync backend, and where CUDA places segments (new segments get increasing addresses here,
which only decides ties between free blocks of equal size).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

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
_NO_VIRTUAL_LIMIT = (
    1 << 46
)  # expandable address space when no capacity is given (cpp:385 reserves 1.125 x GPU)


class Alloc(NamedTuple):
    """A tensor storage of `nbytes` allocated on `stream` (torch.empty(nbytes, dtype=uint8))."""

    id: Hashable
    nbytes: int
    stream: int = 0


class Free(NamedTuple):
    """The storage allocated as `id` is freed."""

    id: Hashable


class EmptyCache(NamedTuple):
    """torch.cuda.empty_cache(): every cached unsplit segment goes back to CUDA (cpp:2144-2148)."""


Event = Alloc | Free | EmptyCache


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


class _Segment:
    __slots__ = ("base", "expandable", "key", "page", "size")

    def __init__(self, base, size, key, expandable, page):
        self.base, self.size, self.key, self.expandable, self.page = base, size, key, expandable, page


class _Block:
    __slots__ = ("addr", "allocated", "mapped", "next", "prev", "requested", "seg", "size")

    def __init__(self, addr, size, seg, mapped=True):
        self.addr, self.size, self.seg, self.mapped = addr, size, seg, mapped
        self.prev = self.next = None
        self.allocated = False
        self.requested = 0


class OutOfMemory(Exception):
    """malloc found no block and CUDA could not give a new segment within `capacity` (cpp:1492-1613)."""


class CachingAllocator:
    """One device's DeviceCachingAllocator: malloc/free/empty_cache and the byte statistics it keeps."""

    def __init__(self, config: AllocatorConfig | None = None):
        self.config = config or AllocatorConfig()
        self.allocated = 0  # stats.allocated_bytes[AGGREGATE].current
        self.reserved = 0  # stats.reserved_bytes[AGGREGATE].current (total_allocated_memory)
        self.requested = 0  # stats.requested_bytes: the unrounded sizes of live blocks
        self.peak_allocated = self.peak_reserved = self.peak_requested = 0
        # stats.segment: live cudaMalloc segments (expandable segments are not counted: alloc_block returns
        # before stats.segment is increased, cpp:3283-3297)
        self.segments = 0
        self.device_allocs = 0  # stats.num_device_alloc: cudaMalloc calls and page mappings
        self.alloc_retries = 0  # stats.num_alloc_retries
        self._free: dict[tuple[bool, int], list] = {}  # (small, stream) -> sorted [(size, addr, block)]
        self._unmapped: dict[tuple[bool, int], list] = {}  # (small, stream) -> sorted [(addr, block)]
        self._next_addr = 0
        # round_size and get_allocation_size without roundup_power2_divisions, inlined in malloc (speed only)
        divs = self.config.roundup_power2_divisions
        self._plain_round = divs == 0 or divs == (0,) * ROUNDUP_INTERVALS

    # -- the public operations ---------------------------------------------------------------------------
    def malloc(self, nbytes: int, stream: int = 0) -> _Block | None:
        """A block for `nbytes`; None for 0 bytes (NativeCachingAllocator::allocate calls malloc only when
        size != 0)."""
        if nbytes == 0:
            return None
        cfg = self.config
        if self._plain_round:  # round_size (cpp:2585-2597) and get_allocation_size (cpp:3115-3123)
            size = MIN_BLOCK_SIZE if nbytes < MIN_BLOCK_SIZE else -(-nbytes // MIN_BLOCK_SIZE) * MIN_BLOCK_SIZE
            if size <= SMALL_SIZE:
                key, alloc_size = (True, stream), SMALL_BUFFER
            else:
                key = (False, stream)
                if size < MIN_LARGE_ALLOC:
                    alloc_size = cfg.large_segment_size
                else:
                    alloc_size = -(-size // ROUND_LARGE) * ROUND_LARGE
        else:
            size = round_size(nbytes, cfg)
            key = (size <= SMALL_SIZE, stream)
            alloc_size = allocation_size(size, cfg)
        block = self._get_free_block(key, size)
        if block is None:
            block = self._alloc_block(key, size, alloc_size)  # cpp:1477-1489
            if block is None and self._release_available_cached_blocks(key, size):
                block = self._alloc_block(key, size, alloc_size)
            if block is None:
                self._release_cached_blocks()
                self.alloc_retries += 1
                block = self._alloc_block(key, size, alloc_size)
            if block is None:
                raise OutOfMemory(f"cannot allocate {alloc_size} bytes: {self.reserved} reserved")
        return self._found_block(block, size, nbytes)

    def free(self, block: _Block | None) -> None:
        if block is None:
            return
        self.allocated -= block.size
        self.requested -= block.requested
        block.allocated = False
        self._free_block(block)

    def empty_cache(self) -> None:
        self._release_cached_blocks()

    def reset_peak(self) -> None:
        """torch.cuda.reset_peak_memory_stats(): each peak becomes the current value (cpp:2201-2218)."""
        self.peak_allocated, self.peak_reserved = self.allocated, self.reserved
        self.peak_requested = self.requested

    # -- blocks ------------------------------------------------------------------------------------------
    def _new_address(self, size: int) -> int:
        addr = self._next_addr
        self._next_addr += -(-size // ROUND_LARGE) * ROUND_LARGE + ROUND_LARGE
        return addr

    def _get_free_block(self, key, size):
        """Best fit (cpp:3125-3183)."""
        blocks = self._free.get(key)
        if not blocks:
            return None
        i = bisect_left(blocks, (size, -1))
        if i == len(blocks):
            return None
        block = blocks[i][2]
        if block.seg.expandable:
            if self.config.expandable_segments:
                # cpp:3139-3155: prefer the block that can grow least (not the free tail of a segment)
                while (
                    block.seg.expandable
                    and i + 1 < len(blocks)
                    and _expandable_size(blocks[i + 1][2]) < _expandable_size(block)
                ):
                    i += 1
                    block = blocks[i][2]
            else:
                while i < len(blocks) and blocks[i][2].seg.expandable:
                    i += 1
                if i == len(blocks):
                    return None
                block = blocks[i][2]
        split_max = self.config.max_split_size
        if split_max is not None:
            if size < split_max <= block.size:  # cpp:3171-3174: no oversize block for a smaller request
                return None
            if size >= split_max and block.size >= size + self.config.max_non_split_rounding_size:
                return None  # cpp:3175-3179
        del blocks[i]
        return block

    def _found_block(self, block, size, nbytes):
        """should_split (cpp:3095-3113) and alloc_found_block (cpp:1654-1751)."""
        remaining = block.size - size
        seg = block.seg
        cfg = self.config
        if seg.key[0] or cfg.expandable_segments:  # small pool
            split = remaining >= MIN_BLOCK_SIZE
        else:
            split = remaining > SMALL_SIZE and (cfg.max_split_size is None or size < cfg.max_split_size)
        if split:
            head = _Block(block.addr, size, seg)
            head.prev, head.next = block.prev, block
            if block.prev is not None:
                block.prev.next = head
            block.prev = head
            block.addr += size
            block.size = remaining
            insort(self._free.setdefault(seg.key, []), (block.size, block.addr, block))
            block = head
        block.allocated = True
        block.requested = nbytes
        self.allocated += block.size
        self.requested += nbytes
        if self.allocated > self.peak_allocated:
            self.peak_allocated = self.allocated
        if self.requested > self.peak_requested:
            self.peak_requested = self.requested
        return block

    def _free_block(self, block):
        """free_block (cpp:2949-3023): merge with free neighbours of the same segment, then cache."""
        self._try_merge(block, block.prev)
        self._try_merge(block, block.next)
        insort(self._free.setdefault(block.seg.key, []), (block.size, block.addr, block))

    def _try_merge(self, dst, src):
        """try_merge_blocks (cpp:3027-3058); dst absorbs src. Neither block is in a list when called for dst."""
        if src is None or src.allocated or src.mapped != dst.mapped:
            return
        if src.mapped:
            _remove(self._free[src.seg.key], (src.size, src.addr))
        else:
            _remove(self._unmapped[src.seg.key], (src.addr,))
        if dst.prev is src:
            dst.addr = src.addr
            dst.prev = src.prev
            if dst.prev is not None:
                dst.prev.next = dst
        else:
            dst.next = src.next
            if dst.next is not None:
                dst.next.prev = dst
        dst.size += src.size

    def _grow_reserved(self, nbytes):
        self.reserved += nbytes
        self.device_allocs += 1
        if self.reserved > self.peak_reserved:
            self.peak_reserved = self.reserved

    def _alloc_block(self, key, size, alloc_size):
        """alloc_block (cpp:3258-3367): a new segment, or pages of an expandable one."""
        cap = self.config.capacity
        if cap is not None and self.reserved + alloc_size > cap:  # cpp:3278-3282
            return None
        if self.config.expandable_segments:
            return self._try_allocate_expandable(key, size)
        seg = _Segment(self._new_address(alloc_size), alloc_size, key, False, alloc_size)
        self.segments += 1
        self._grow_reserved(alloc_size)
        return _Block(seg.base, alloc_size, seg)

    # -- expandable segments -----------------------------------------------------------------------------
    def _try_allocate_expandable(self, key, size):
        """try_allocate_expandable_block (cpp:2915-2946)."""
        block = self._find_expandable_block(key, size)
        if not block.mapped and not self._map_block(block, min(block.size, size)):
            return None
        while block.size < size:
            nxt = block.next
            if not self._map_block(nxt, min(size - block.size, nxt.size)):
                return None
            block = nxt  # map_block merged the free block before it into nxt
        _remove(self._free[key], (block.size, block.addr))
        return block

    def _find_expandable_block(self, key, size):
        """find_expandable_block (cpp:2799-2844): lowest address with room, else a new segment."""
        for _, block in self._unmapped.get(key, ()):
            if block.prev is not None and not block.prev.allocated:
                block = block.prev
            room, b = 0, block
            while room < size and b is not None and not b.allocated:
                room += b.size
                b = b.next
            if room >= size:
                return block
        page = SMALL_BUFFER if key[0] else self.config.large_segment_size
        cap = self.config.capacity
        virtual = _NO_VIRTUAL_LIMIT if cap is None else -(-(cap + cap // 8) // page) * page  # cpp:385
        seg = _Segment(self._new_address(virtual), virtual, key, True, page)
        block = _Block(seg.base, virtual, seg, mapped=False)
        insort(self._unmapped.setdefault(key, []), (block.addr, block))
        return block

    def _map_block(self, block, size):
        """map_block (cpp:2846-2913): map whole pages from the block's start, merge with free neighbours."""
        seg = block.seg
        mapped = -(-size // seg.page) * seg.page
        cap = self.config.capacity
        if cap is not None and self.reserved + mapped > cap:
            return False  # cuMemCreate out of memory: nothing mapped (ExpandableSegment::map)
        _remove(self._unmapped[seg.key], (block.addr,))
        block.mapped = True
        if mapped < block.size:
            rest = _Block(block.addr + mapped, block.size - mapped, seg, mapped=False)
            rest.prev, rest.next = block, block.next
            if block.next is not None:
                block.next.prev = rest
            block.next = rest
            block.size = mapped
            insort(self._unmapped[seg.key], (rest.addr, rest))
        self._try_merge(block, block.prev)
        self._try_merge(block, block.next)
        insort(self._free.setdefault(seg.key, []), (block.size, block.addr, block))
        self._grow_reserved(mapped)
        return True

    def _unmap_block(self, block):
        """unmap_block (cpp:3536-3606): unmap the whole pages inside a free block."""
        seg = block.seg
        offset = block.addr - seg.base
        begin = -(-offset // seg.page)  # segmentRight
        end = (offset + block.size) // seg.page  # segmentLeft
        if begin >= end:
            return
        _remove(self._free[seg.key], (block.size, block.addr))
        start, length = seg.base + begin * seg.page, (end - begin) * seg.page
        before, after = start - block.addr, block.addr + block.size - start - length
        if before > 0:
            head = _Block(block.addr, before, seg)
            head.prev, head.next = block.prev, block
            if block.prev is not None:
                block.prev.next = head
            block.prev = head
            insort(self._free[seg.key], (head.size, head.addr, head))
        if after > 0:
            tail = _Block(start + length, after, seg)
            tail.prev, tail.next = block, block.next
            if block.next is not None:
                block.next.prev = tail
            block.next = tail
            insort(self._free[seg.key], (tail.size, tail.addr, tail))
        block.addr, block.size, block.mapped = start, length, False
        self._try_merge(block, block.prev)
        self._try_merge(block, block.next)
        insort(self._unmapped.setdefault(seg.key, []), (block.addr, block))
        self.reserved -= length

    # -- giving memory back ------------------------------------------------------------------------------
    def _release_block(self, block):
        """release_block (cpp:3489-3534): cudaFree a whole cached segment."""
        _remove(self._free[block.seg.key], (block.size, block.addr))
        self.reserved -= block.size
        self.segments -= 1

    def _release_available_cached_blocks(self, key, size):
        """cpp:3371-3417: free cached oversize segments, the smallest one >= the request or the largest ones."""
        split_max = self.config.max_split_size
        if split_max is None:
            return False
        blocks = self._free.get(key, [])
        want = max(size, split_max)
        i = bisect_left(blocks, (want, -1))
        if i < len(blocks) and not blocks[i][2].seg.expandable:
            self._release_block(blocks[i][2])
            return True
        released, i = 0, i - 1
        while released < want and i >= 0 and blocks[i][0] >= split_max:
            block = blocks[i][2]
            if not block.seg.expandable and block.prev is None and block.next is None:
                released += block.size
                self._release_block(block)
            i -= 1
        return released >= want

    def _release_cached_blocks(self):
        """release_cached_blocks -> release_blocks (cpp:3428-3471, 3607-3631): every unsplit cached segment."""
        for key in sorted(self._free, key=lambda k: k[0]):  # large pool first, as cpp:3440-3441
            unmap = []
            for _, _, block in list(self._free[key]):
                if block.seg.expandable:
                    unmap.append(block)
                elif block.prev is None and block.next is None:
                    self._release_block(block)
            for block in unmap:
                self._unmap_block(block)
                if not block.mapped and block.prev is None and block.next is None:
                    _remove(self._unmapped[key], (block.addr,))  # release_expandable_segment (cpp:3473-3487)


def _expandable_size(block: _Block) -> int:
    """cpp:3145-3147 (expandable_size): the size a free block could grow to by mapping the unmapped block after it."""
    nxt = block.next
    return block.size + (nxt.size if nxt is not None and not nxt.mapped else 0)


def _remove(sorted_list: list, key: tuple) -> None:
    del sorted_list[bisect_left(sorted_list, key)]


@dataclass(frozen=True)
class Replay:
    """Statistics of one replay, as torch.cuda reports them."""

    allocated: tuple[int, ...]  # memory_allocated() after each event
    reserved: tuple[int, ...]  # memory_reserved() after each event
    peak_allocated: int  # max_memory_allocated()
    peak_reserved: int  # max_memory_reserved()
    peak_requested: int  # peak of the unrounded live bytes ("requested_bytes.all.peak")
    segments: int  # cudaMalloc segments alive at the end ("segment.all.current"; not expandable ones)
    device_allocs: int  # cudaMalloc calls and page mappings ("num_device_alloc")
    alloc_retries: int  # "num_alloc_retries": malloc freed the whole cache and retried
    oom_event: int | None  # index of the event that ran out of memory (the replay stops there)

    @property
    def final_allocated(self) -> int:
        return self.allocated[-1] if self.allocated else 0

    @property
    def final_reserved(self) -> int:
        return self.reserved[-1] if self.reserved else 0


def _run(
    alloc: CachingAllocator, events: Iterable, live: dict, allocated: list | None, reserved: list | None
) -> int | None:
    """Apply events; append the statistics after each (unless the lists are None). Returns the index of an
    out-of-memory event, or None."""
    if allocated is None or reserved is None:
        return _run_quiet(alloc, events, live)
    malloc, free = alloc.malloc, alloc.free
    add_a, add_r = allocated.append, reserved.append
    for index, ev in enumerate(events):
        n = len(ev)
        if n == 1:  # Free(id)
            try:
                free(live.pop(ev[0]))
            except KeyError:
                raise ValueError(f"event {index}: free of {ev[0]!r}, which is not allocated") from None
        elif n == 0:  # EmptyCache()
            alloc.empty_cache()
        else:  # Alloc(id, nbytes, stream)
            if ev[0] in live:
                raise ValueError(f"event {index}: {ev[0]!r} is allocated twice")
            if ev[1] < 0:
                raise ValueError(f"event {index}: negative size {ev[1]}")
            try:
                live[ev[0]] = malloc(ev[1], ev[2] if n > 2 else 0)
            except OutOfMemory:
                return index
        add_a(alloc.allocated)
        add_r(alloc.reserved)
    return None


def _plain(config: AllocatorConfig) -> bool:
    """The default configuration: no expandable segments, no max_split_size, no capacity, no power-2 rounding."""
    divs = config.roundup_power2_divisions
    return (
        not config.expandable_segments
        and config.max_split_size is None
        and config.capacity is None
        and (divs == 0 or divs == (0,) * ROUNDUP_INTERVALS)
    )


def _run_plain(alloc: CachingAllocator, events: Iterable, live: dict) -> None:
    """_run_quiet for the default configuration with malloc and free inlined: the same rules as
    CachingAllocator.malloc/free (round_size, get_pool, get_allocation_size, best fit, should_split,
    free_block's merges) without the branches the default configuration never takes. Speed only: the
    estimate replays ~10^4 events per step; tests/test_memory_allocator.py checks it against the general path."""
    free_lists = alloc._free
    large_segment = alloc.config.large_segment_size
    allocated, requested = alloc.allocated, alloc.requested
    peak_a, peak_q = alloc.peak_allocated, alloc.peak_requested
    reserved, peak_r = alloc.reserved, alloc.peak_reserved
    segments, device_allocs = alloc.segments, alloc.device_allocs
    new_address = alloc._new_address
    pop = live.pop
    for index, ev in enumerate(events):
        n = len(ev)
        if n == 1:  # Free(id): free -> free_block -> try_merge_blocks (prev, then next) -> cache
            try:
                block = pop(ev[0])
            except KeyError:
                raise ValueError(f"event {index}: free of {ev[0]!r}, which is not allocated") from None
            if block is None:
                continue
            allocated -= block.size
            requested -= block.requested
            block.allocated = False
            blocks = free_lists.setdefault(block.seg.key, [])
            prev = block.prev
            if prev is not None and not prev.allocated:
                del blocks[bisect_left(blocks, (prev.size, prev.addr))]
                block.addr = prev.addr
                block.prev = prev.prev
                if block.prev is not None:
                    block.prev.next = block
                block.size += prev.size
            nxt = block.next
            if nxt is not None and not nxt.allocated:
                del blocks[bisect_left(blocks, (nxt.size, nxt.addr))]
                block.next = nxt.next
                if block.next is not None:
                    block.next.prev = block
                block.size += nxt.size
            insort(blocks, (block.size, block.addr, block))
            continue
        if n == 0:  # EmptyCache(): through the general path
            (alloc.allocated, alloc.requested, alloc.peak_allocated, alloc.peak_requested) = (
                allocated, requested, peak_a, peak_q
            )
            alloc.reserved, alloc.peak_reserved, alloc.segments = reserved, peak_r, segments
            alloc.device_allocs = device_allocs
            alloc.empty_cache()
            reserved, segments = alloc.reserved, alloc.segments
            continue
        name, nbytes = ev[0], ev[1]
        if name in live:
            raise ValueError(f"event {index}: {name!r} is allocated twice")
        if nbytes < 0:
            raise ValueError(f"event {index}: negative size {nbytes}")
        if nbytes == 0:
            live[name] = None
            continue
        size = MIN_BLOCK_SIZE if nbytes < MIN_BLOCK_SIZE else -(-nbytes // MIN_BLOCK_SIZE) * MIN_BLOCK_SIZE
        small = size <= SMALL_SIZE
        key = (small, ev[2] if n > 2 else 0)
        blocks = free_lists.get(key)
        block = None
        if blocks:
            i = bisect_left(blocks, (size, -1))
            if i < len(blocks):
                block = blocks[i][2]
                del blocks[i]
        if block is None:  # alloc_block: a new segment of get_allocation_size
            if small:
                seg_size = SMALL_BUFFER
            elif size < MIN_LARGE_ALLOC:
                seg_size = large_segment
            else:
                seg_size = -(-size // ROUND_LARGE) * ROUND_LARGE
            seg = _Segment(new_address(seg_size), seg_size, key, False, seg_size)
            segments += 1
            device_allocs += 1
            reserved += seg_size
            if reserved > peak_r:
                peak_r = reserved
            block = _Block(seg.base, seg_size, seg)
        remaining = block.size - size
        if remaining >= MIN_BLOCK_SIZE if small else remaining > SMALL_SIZE:  # should_split
            seg = block.seg
            head = _Block(block.addr, size, seg)
            head.prev, head.next = block.prev, block
            if block.prev is not None:
                block.prev.next = head
            block.prev = head
            block.addr += size
            block.size = remaining
            insort(free_lists.setdefault(key, []), (remaining, block.addr, block))
            block = head
        block.allocated = True
        block.requested = nbytes
        allocated += block.size
        requested += nbytes
        if allocated > peak_a:
            peak_a = allocated
        if requested > peak_q:
            peak_q = requested
        live[name] = block
    alloc.allocated, alloc.requested, alloc.peak_allocated, alloc.peak_requested = allocated, requested, peak_a, peak_q
    alloc.reserved, alloc.peak_reserved, alloc.segments, alloc.device_allocs = reserved, peak_r, segments, device_allocs
    return None


def _run_quiet(alloc: CachingAllocator, events: Iterable, live: dict) -> int | None:
    """_run without the per-event statistics (the peaks are kept by the allocator itself)."""
    if _plain(alloc.config):
        return _run_plain(alloc, events, live)
    malloc, free, pop = alloc.malloc, alloc.free, live.pop
    for index, ev in enumerate(events):
        n = len(ev)
        if n == 1:
            try:
                free(pop(ev[0]))
            except KeyError:
                raise ValueError(f"event {index}: free of {ev[0]!r}, which is not allocated") from None
        elif n == 0:
            alloc.empty_cache()
        else:
            if ev[0] in live:
                raise ValueError(f"event {index}: {ev[0]!r} is allocated twice")
            if ev[1] < 0:
                raise ValueError(f"event {index}: negative size {ev[1]}")
            try:
                live[ev[0]] = malloc(ev[1], ev[2] if n > 2 else 0)
            except OutOfMemory:
                return index
    return None


def replay(events: Iterable[Event], config: AllocatorConfig | None = None) -> Replay:
    """Replay `events` on a fresh allocator (a process that has not touched CUDA memory yet)."""
    alloc = CachingAllocator(config)
    allocated: list[int] = []
    reserved: list[int] = []
    oom = _run(alloc, events, {}, allocated, reserved)
    return Replay(
        allocated=tuple(allocated),
        reserved=tuple(reserved),
        peak_allocated=alloc.peak_allocated,
        peak_reserved=alloc.peak_reserved,
        peak_requested=alloc.peak_requested,
        segments=alloc.segments,
        device_allocs=alloc.device_allocs,
        alloc_retries=alloc.alloc_retries,
        oom_event=oom,
    )


@dataclass(frozen=True)
class StepStats:
    """One step of a run, with the peaks reset at its start (torch.cuda.reset_peak_memory_stats())."""

    peak_allocated: int
    peak_reserved: int
    reserved_after: int  # memory_reserved() when the step ends
    new_device_allocs: int  # cudaMalloc calls / page mappings during the step: 0 once the cache has settled


@dataclass(frozen=True)
class Run:
    """A run of training steps on one allocator: what max_memory_reserved() would say over all of it."""

    steps: tuple[StepStats, ...]
    max_allocated: int  # max_memory_allocated() over the run
    max_reserved: int  # max_memory_reserved() over the run
    oom_step: int | None  # the step that ran out of memory (the run stops there)

    @property
    def settled(self) -> bool:
        """The last step took no new memory from CUDA: later identical steps reuse the cache."""
        return bool(self.steps) and self.oom_step is None and self.steps[-1].new_device_allocs == 0


def reserved_over_steps(steps: Iterable[Sequence[Event]], config: AllocatorConfig | None = None) -> Run:
    """Replay the steps one after the other on one allocator (ids still allocated carry over between steps:
    weights, optimizer states). E.g. `reserved_over_steps(step_events(s) for s in seq_lens)` shows how the
    reserved memory grows when each batch is padded to a different length."""
    alloc = CachingAllocator(config)
    live: dict = {}
    stats: list[StepStats] = []
    max_alloc = max_res = 0
    oom_step = None
    for i, events in enumerate(steps):
        alloc.reset_peak()
        before = alloc.device_allocs
        a: list[int] = []
        r: list[int] = []
        oom = _run(alloc, events, live, a, r)
        stats.append(
            StepStats(alloc.peak_allocated, alloc.peak_reserved, alloc.reserved, alloc.device_allocs - before)
        )
        max_alloc, max_res = max(max_alloc, alloc.peak_allocated), max(max_res, alloc.peak_reserved)
        if oom is not None:
            oom_step = i
            break
    return Run(steps=tuple(stats), max_allocated=max_alloc, max_reserved=max_res, oom_step=oom_step)


def predict_max_reserved(
    warmup: Sequence[Event],
    steady: Sequence[Event],
    config: AllocatorConfig | None = None,
    max_steady_steps: int = 8,
) -> Run:
    """max_memory_reserved() of a run: one warm-up step (which also allocates the optimizer states), then
    identical steady-state steps until one of them takes no new memory from CUDA (`Run.settled`), at most
    `max_steady_steps` of them."""
    alloc = CachingAllocator(config)
    live: dict = {}
    stats: list[StepStats] = []
    max_alloc = max_res = 0
    for i in range(1 + max_steady_steps):
        alloc.reset_peak()
        before = alloc.device_allocs
        oom = _run(alloc, warmup if i == 0 else steady, live, None, None)
        step = StepStats(
            alloc.peak_allocated, alloc.peak_reserved, alloc.reserved, alloc.device_allocs - before
        )
        stats.append(step)
        max_alloc, max_res = max(max_alloc, alloc.peak_allocated), max(max_res, alloc.peak_reserved)
        if oom is not None:
            return Run(tuple(stats), max_alloc, max_res, oom_step=i)
        if i > 0 and step.new_device_allocs == 0:
            break
    return Run(tuple(stats), max_alloc, max_res, oom_step=None)
