"""One typed wrapper for every worker table: str key -> pydantic model, stored as JSON bytes.

Faust tables here are bytes -> bytes with raw serializers, so the changelog key is the
topic key byte for byte (and lands on the same partition); the model is (de)serialized
by us. `ModelTable[M]` is the only place that does it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import faust
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def raw_table(app: faust.App, name: str, partitions: int, help: str) -> Any:
    """A faust table of bytes -> bytes; values are pydantic JSON we (de)serialize ourselves."""
    table: Any = app.Table(name, partitions=partitions, key_type=bytes, value_type=bytes,
                           help=help)
    # Faust derives serializers from key/value types (json for bytes); raw keeps the
    # changelog key identical to the topic key, and so on the same partition.
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table


class ModelTable(Generic[M]):
    """A faust table (or any mutable mapping of bytes) holding one pydantic model type."""

    def __init__(self, table: Any, model: type[M]) -> None:
        self.table = table
        self.model = model

    @property
    def name(self) -> str:
        return str(self.table.name)

    @staticmethod
    def key(key: str) -> bytes:
        return key.encode("utf-8")

    def get(self, key: str) -> M | None:
        raw = self.table.get(self.key(key))
        return None if raw is None else self.model.model_validate_json(raw)

    def put(self, key: str, value: M) -> None:
        # A new value each time: faust logs a change only on assignment.
        self.table[self.key(key)] = value.model_dump_json().encode("utf-8")

    def delete(self, key: str) -> None:
        # No membership read first: a tombstone for an absent key is harmless.
        with contextlib.suppress(KeyError):
            del self.table[self.key(key)]

    def __contains__(self, key: str) -> bool:
        return self.key(key) in self.table

    def items(self) -> Iterator[tuple[str, M]]:
        """Rows held locally (on a worker: the partitions it owns)."""
        for raw_key, raw in self.table.items():
            yield raw_key.decode("utf-8"), self.model.model_validate_json(raw)

    def __len__(self) -> int:
        return len(self.table)


def declare_model_table(app: faust.App, name: str, model: type[M], partitions: int,
                        help: str) -> ModelTable[M]:
    return ModelTable(raw_table(app, name, partitions, help), model)
