"""The ledger on disk (a JSON state file written atomically) and as the admin dump.

Client-API nonces are never written: they are single-use and short-lived, so a restart
expires them. Webhooks not yet delivered are written, so a restart still delivers them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.simulator.records import (
    CustomerRecord,
    DisputeRecord,
    DisputeStatusEvent,
    DocumentRecord,
    EvidenceRecord,
    KeyRecord,
    PaymentMethodRecord,
    StatusEvent,
    TxnRecord,
)

if TYPE_CHECKING:
    from gateway.simulator.ledger import Ledger


def dump(ledger: Ledger, outbox: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    txns = [asdict(t) for t in ledger.transactions.values()]
    for t in txns:
        t.pop("submitted_at", None)
    return {
        "transactions": [t for t in txns if t["type"] == "sale" or
                         not t["refunded_transaction_id"]],
        "refunds": [t for t in txns if t["refunded_transaction_id"]],
        "idempotency_keys": [asdict(k) for k in ledger.keys.values()],
        "customers": [asdict(c) for c in ledger.customers.values()],
        "payment_methods": [asdict(p) for p in ledger.payment_methods.values()],
        "disputes": [asdict(d) for d in ledger.disputes.values()],
        "webhooks": list(outbox or []),
    }


def save(ledger: Ledger, path: str, outbox: list[dict[str, Any]] | None = None) -> None:
    state = {
        "transactions": [asdict(t) for t in ledger.transactions.values()],
        "customers": [asdict(c) for c in ledger.customers.values()],
        "payment_methods": [asdict(p) for p in ledger.payment_methods.values()],
        # An in-flight key cannot survive a restart: its request died with the process.
        "keys": [asdict(k) for k in ledger.keys.values() if k.state == "done"],
        "disputes": [asdict(d) for d in ledger.disputes.values()],
        "documents": [asdict(d) for d in ledger.documents.values()],
        "batch_seq": ledger.batch_seq,
        "outbox": list(outbox or []),
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh)
    os.replace(tmp, target)
    ledger.dirty = False


def load(ledger: Ledger, path: str) -> list[dict[str, Any]]:
    """Fill the ledger from the state file; returns the undelivered webhooks."""
    if not Path(path).exists():
        return []
    state = json.loads(Path(path).read_text())
    awaiting: dict[str, float] = {}
    for raw in state.get("transactions", []):
        raw["status_history"] = [StatusEvent(**e) for e in raw.get("status_history", [])]
        txn = TxnRecord(**raw)
        ledger.transactions[txn.id] = txn
        # A partly captured authorization is settlement_pending but never settles itself.
        if txn.status in ("submitted_for_settlement", "settlement_pending") \
                and txn.submitted_at is not None and not txn.partial_settlement_transaction_ids:
            awaiting[txn.id] = txn.submitted_at
    ledger.awaiting_settlement = dict(sorted(awaiting.items(), key=lambda kv: kv[1]))
    for raw in state.get("customers", []):
        ledger.customers[raw["id"]] = CustomerRecord(**raw)
    for raw in state.get("payment_methods", []):
        ledger.payment_methods[raw["token"]] = PaymentMethodRecord(**raw)
    for raw in state.get("keys", []):
        key = KeyRecord(**raw)
        ledger.keys[(key.merchant_id, key.key)] = key
    for raw in state.get("disputes", []):
        raw["evidence"] = [EvidenceRecord(**e) for e in raw.get("evidence", [])]
        raw["status_history"] = [DisputeStatusEvent(**e) for e in raw.get("status_history", [])]
        dispute = DisputeRecord(**raw)
        ledger.disputes[dispute.id] = dispute
    for raw in state.get("documents", []):
        ledger.documents[raw["id"]] = DocumentRecord(**raw)
    ledger.batch_seq = int(state.get("batch_seq", 0))
    return list(state.get("outbox", []))
