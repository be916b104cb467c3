"""A bounded cache with get and put: the most recently used values by key.

The core computes; whoever calls it decides when. Pages and the CLI read and fill these caches through the
functions that own them (lora_core/memory/trace.py, parameters.py). No locks: each dict operation is atomic under
the GIL, and a key evicted by another thread between two of them reads as a miss (computed again).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict[str, V] = OrderedDict()

    def get(self, key: str) -> V | None:
        value = self._data.get(key)
        if value is not None:
            try:
                self._data.move_to_end(key)
            except KeyError:  # evicted meanwhile by another thread
                pass
        return value

    def put(self, key: str, value: V) -> None:
        self._data[key] = value
        while len(self._data) > self.maxsize:
            try:
                self._data.popitem(last=False)
            except KeyError:
                break

    def clear(self) -> None:
        self._data.clear()

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)
