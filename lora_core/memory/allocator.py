"""A model of PyTorch's CUDA caching allocator: one device's pools of segments and blocks.

torch.cuda.max_memory_reserved() is more than the live peak because the allocator (c10/cuda/
CUDACachingAllocator.cpp) rounds every request, takes memory from CUDA in whole segments, splits segments
into blocks that never merge across segments, and keeps freed blocks cached. `CachingAllocator` follows
those rules: malloc, free and empty_cache, and the byte statistics torch.cuda reports (`allocated`, what
torch.cuda.memory_allocated() counts: the rounded size of every live block; `reserved`, memory_reserved():
every segment, or every mapped page of an expandable segment; and their peaks). allocator_replay.py runs
sequences of `Alloc` / `Free` events through it; allocator_config.py holds the constants and settings.

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

from lora_core.memory.allocator_config import (
    MIN_BLOCK_SIZE,
    MIN_LARGE_ALLOC,
    ROUND_LARGE,
    ROUNDUP_INTERVALS,
    SMALL_BUFFER,
    SMALL_SIZE,
    AllocatorConfig,
    allocation_size,
    round_size,
)

# Expandable segments' address space when no capacity is given (cpp:385 reserves 1.125 x the GPU's memory).
_NO_VIRTUAL_LIMIT = 1 << 46


class Segment:
    __slots__ = ("base", "expandable", "key", "page", "size")

    def __init__(self, base, size, key, expandable, page):
        self.base, self.size, self.key, self.expandable, self.page = base, size, key, expandable, page


class Block:
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
    def malloc(self, nbytes: int, stream: int = 0) -> Block | None:
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

    def free(self, block: Block | None) -> None:
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
            head = Block(block.addr, size, seg)
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
        seg = Segment(self._new_address(alloc_size), alloc_size, key, False, alloc_size)
        self.segments += 1
        self._grow_reserved(alloc_size)
        return Block(seg.base, alloc_size, seg)

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
        seg = Segment(self._new_address(virtual), virtual, key, True, page)
        block = Block(seg.base, virtual, seg, mapped=False)
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
            rest = Block(block.addr + mapped, block.size - mapped, seg, mapped=False)
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
            head = Block(block.addr, before, seg)
            head.prev, head.next = block.prev, block
            if block.prev is not None:
                block.prev.next = head
            block.prev = head
            insort(self._free[seg.key], (head.size, head.addr, head))
        if after > 0:
            tail = Block(start + length, after, seg)
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


def _expandable_size(block: Block) -> int:
    """cpp:3145-3147 (expandable_size): the size a free block could grow to by mapping the unmapped block after it."""
    nxt = block.next
    return block.size + (nxt.size if nxt is not None and not nxt.mapped else 0)


def _remove(sorted_list: list, key: tuple) -> None:
    del sorted_list[bisect_left(sorted_list, key)]
