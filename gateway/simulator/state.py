"""What the ledger holds, in one place, for the operation modules that share it."""

from __future__ import annotations

from datetime import datetime

from gateway.simulator.records import (
    CustomerRecord,
    DisputeRecord,
    DocumentRecord,
    KeyRecord,
    Notification,
    PaymentMethodRecord,
    SubjectType,
    TokenizedCard,
    TxnRecord,
    iso,
)


class LedgerState:
    def __init__(self) -> None:
        self.transactions: dict[str, TxnRecord] = {}
        self.customers: dict[str, CustomerRecord] = {}
        self.payment_methods: dict[str, PaymentMethodRecord] = {}
        self.keys: dict[tuple[str, str], KeyRecord] = {}
        self.disputes: dict[str, DisputeRecord] = {}
        self.documents: dict[str, DocumentRecord] = {}
        # Client-API nonces: in memory only, so a restart expires them as time would.
        self.nonces: dict[str, TokenizedCard] = {}
        # Events the server turns into signed webhooks (drained after each operation).
        self.notifications: list[Notification] = []
        self.dirty = False

    def notify(self, kind: str, subject_type: SubjectType, subject_id: str, now: datetime,
               extra: dict[str, str] | None = None) -> None:
        self.notifications.append(Notification(
            kind, subject_type, subject_id, iso(now), dict(extra or {})))

    def drain_notifications(self) -> list[Notification]:
        out, self.notifications = self.notifications, []
        return out

    def reset(self) -> None:
        for table in (self.transactions, self.customers, self.payment_methods, self.keys,
                      self.disputes, self.documents, self.nonces):
            table.clear()
        self.notifications.clear()
        self.dirty = True
