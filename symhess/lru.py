"""Bounded in-process caches: every module-level cache of symhess keeps at most a fixed number of
entries and drops the least recently used first, so that a long loop over new functions, data
and shapes runs in bounded memory.

:class:`LRU` behaves as the ``dict`` it replaces (tests may still swap a plain ``dict`` in); a
lookup counts as a use.  It is safe to share between threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import MutableMapping

_MISSING = object()


class LRU(MutableMapping):
    """A mapping of at most ``maxsize`` entries; setting one more drops the least recently used
    (``on_evict(key, value)`` is then called, outside the lock)."""

    def __init__(self, maxsize: int, on_evict=None):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.on_evict = on_evict
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.RLock()

    def __getitem__(self, key):
        with self._lock:
            value = self._data[key]
            self._data.move_to_end(key)
            return value

    def get(self, key, default=None):
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is _MISSING:
                return default
            self._data.move_to_end(key)
            return value

    def __setitem__(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            dropped = [self._data.popitem(last=False) for _ in range(len(self._data) - self.maxsize)]
        self._evicted(dropped)

    def setdefault(self, key, default=None):
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is not _MISSING:
                self._data.move_to_end(key)
                return value
            self[key] = default
            return default

    def __delitem__(self, key) -> None:
        with self._lock:
            del self._data[key]

    def pop(self, key, default=_MISSING):
        with self._lock:
            if default is _MISSING:
                return self._data.pop(key)
            return self._data.pop(key, default)

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._data

    def __iter__(self):
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def move_to_end(self, key, last: bool = True) -> None:
        with self._lock:
            self._data.move_to_end(key, last)

    def popitem(self, last: bool = True):
        with self._lock:
            return self._data.popitem(last)

    def _evicted(self, dropped) -> None:
        if self.on_evict is not None:
            for key, value in dropped:
                self.on_evict(key, value)

    def __repr__(self) -> str:
        return f"LRU({self.maxsize}, {len(self)} entries)"


class LRUSet:
    """A set of at most ``maxsize`` members (the least recently added or tested go first)."""

    def __init__(self, maxsize: int):
        self._members = LRU(maxsize)

    def add(self, member) -> None:
        self._members[member] = True

    def discard(self, member) -> None:
        self._members.pop(member, None)

    def __contains__(self, member) -> bool:
        return self._members.get(member) is not None

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self):
        return iter(self._members)

    def clear(self) -> None:
        self._members.clear()
