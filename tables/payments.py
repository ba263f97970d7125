"""The executor's tables: the per-order payment ledger and the in-flight gateway calls.

Both are changelogged RocksDB tables co-partitioned with `payment-requests` (keyed by
order id there; the in-flight table is keyed by idempotency key but written only while
handling a record of that order, so its changelog partition is the order's partition).
Values are the pydantic models as JSON bytes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import faust

from agents.payment_flow import PaymentLedgerEntry
from agents.request_handler import InFlightRecord

LEDGER_TABLE = "payment-ledger"
IN_FLIGHT_TABLE = "payment-in-flight"


def declare_payment_tables(app: faust.App, partitions: int) -> tuple[Any, Any]:
    ledger = raw_table(app, LEDGER_TABLE, partitions, "Per-order payment state of the executor")
    in_flight = raw_table(app, IN_FLIGHT_TABLE, partitions,
                          "Gateway calls started but not yet concluded")
    return ledger, in_flight


def raw_table(app: faust.App, name: str, partitions: int, help: str) -> Any:
    """A table of bytes -> bytes; values are pydantic JSON we (de)serialize ourselves."""
    table: Any = app.Table(name, partitions=partitions, key_type=bytes, value_type=bytes,
                           help=help)
    # Faust derives serializers from key/value types (json for bytes); raw keeps the
    # changelog key identical to the topic key, and so on the same partition.
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table


class FaustLedgerStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, order_id: str) -> PaymentLedgerEntry | None:
        raw = self.table.get(order_id.encode())
        return None if raw is None else PaymentLedgerEntry.model_validate_json(raw)

    def put(self, entry: PaymentLedgerEntry) -> None:
        self.table[entry.order_id.encode()] = entry.model_dump_json().encode()


class FaustInFlightStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, idempotency_key: str) -> InFlightRecord | None:
        raw = self.table.get(idempotency_key.encode())
        return None if raw is None else InFlightRecord.model_validate_json(raw)

    def put(self, idempotency_key: str, record: InFlightRecord) -> None:
        self.table[idempotency_key.encode()] = record.model_dump_json().encode()

    def delete(self, idempotency_key: str) -> None:
        # No membership read first: the record is there on every path but a rule decline,
        # and a tombstone for an absent key is harmless.
        with contextlib.suppress(KeyError):
            del self.table[idempotency_key.encode()]
