"""The JSON of jobs that have ended, and of their rounds: they never change again.

A job in a final state (completed, failed, stopped) and its rounds are immutable: the read
model applies a job's events in stream order, so once its final event is stored nothing more
arrives for it. Their serialized answers are kept in a bounded LRU, which turns the most
frequent reads of a console (finished jobs, their curves) into a dictionary lookup. Jobs that
are still pending or running are never cached.

>>> cache = FinalCache(max_entries=2)
>>> cache.put("a", b"1"); cache.put("b", b"2"); cache.get("a"); cache.put("c", b"3")
b'1'
>>> cache.get("b") is None, cache.get("a"), len(cache)
(True, b'1', 2)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["FinalCache"]


class FinalCache:
    """A bounded least-recently-used map from a key to response bytes."""

    def __init__(self, *, max_entries: int = 4096) -> None:
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        """The bytes stored under ``key`` (now the most recently used), or None."""
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Store ``value``, dropping the least recently used entry when full."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
