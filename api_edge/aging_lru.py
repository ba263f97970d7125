"""A bounded map whose entries also expire: the least recently written go first when it
is full, and an entry older than `ttl_seconds` reads as absent.

The one implementation behind the orchestrator's last-known stores
(`api_edge.recent_orders`, `api_edge.known_methods`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class AgingLru(Generic[K, V]):
    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (value, time.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[1] >= self.ttl_seconds:
            return None
        return entry[0]

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)
