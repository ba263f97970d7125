"""The reconciler: compares the ledger with the gateway and repairs what a rule can.

Runs in the executor's worker, over the ledger partitions that worker owns, every
`reconcile_interval_s`, and on demand through the worker's `/reconcile` view (what
`paystream reconcile` calls). The comparison is the pure `tables.drift`; this module only
looks the orders up, carries out the named repairs and reports.

An order with a request in flight or being executed is skipped: its pending operation is
the executor's to resolve. A repair re-checks that before it writes, since gateway
lookups let the executor run in between.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from agents import metrics
from gateway.errors import GatewayError
from gateway.port import PaymentGateway
from schemas.dead_letter import DeadLetter
from schemas.orders import OrderAnomaly
from schemas.types import derived_event_id
from streams.logs import get_logger
from tables.drift import Drift, Repair, find_drift, needs_check
from tables.model_table import ModelTable
from tables.payment_ledger import InFlightRecord, PaymentLedgerEntry
from tables.payment_plan import ledger_state

log = get_logger("paystream.reconciler")

PublishAnomaly = Callable[[OrderAnomaly], Awaitable[None]]
PublishDeadLetter = Callable[[DeadLetter, str | None], Awaitable[None]]


class Reconciler:
    def __init__(self, gateway: Callable[[], PaymentGateway],
                 ledger: ModelTable[PaymentLedgerEntry],
                 legacy_in_flight: ModelTable[InFlightRecord], busy: set[str],
                 publish_anomaly: PublishAnomaly, dead_letter: PublishDeadLetter, *,
                 sample_every: int = 20, max_per_pass: int = 500) -> None:
        self._gateway = gateway
        self.ledger = ledger
        self.legacy_in_flight = legacy_in_flight
        self.busy = busy
        self.publish_anomaly = publish_anomaly
        self.dead_letter = dead_letter
        self.sample_every = sample_every
        self.max_per_pass = max_per_pass
        self.passes = 0
        self.last_report: dict[str, Any] = {"passes": 0}

    async def run_pass(self, *, repair: bool, since: datetime | None = None) -> dict[str, Any]:
        started = datetime.now(UTC)
        # Calls started by a worker from before they were kept in the ledger entry.
        legacy_orders = {record.order_id for _, record in self.legacy_in_flight.items()}
        checked, skipped, repaired, failed = 0, 0, 0, 0
        drifts: list[Drift] = []
        for order_id, entry in list(self.ledger.items()):
            if checked >= self.max_per_pass:
                break
            if since is not None and (entry.updated_at is None or entry.updated_at < since):
                continue
            if order_id in self.busy or entry.calls_in_flight or order_id in legacy_orders:
                skipped += 1
                continue
            if since is None and not needs_check(entry, self.sample_every, self.passes):
                continue
            try:
                transactions = await self._gateway().find_transactions_by_order(order_id)
            except GatewayError as exc:
                failed += 1
                log.warning("reconcile_lookup_failed", order_id=order_id,
                            error=type(exc).__name__)
                continue
            checked += 1
            for drift in find_drift(order_id, entry, transactions):
                drifts.append(drift)
                metrics.DRIFT_FOUND.labels(drift.kind.value).inc()
                if repair and drift.repair is not Repair.NONE and await self._repair(drift):
                    repaired += 1
        self.passes += 1
        by_kind = Counter(d.kind.value for d in drifts)
        metrics.DRIFT_OPEN.set(len(drifts) - repaired)
        self.last_report = {
            "passes": self.passes, "started_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(), "repair": repair,
            "checked": checked, "skipped_in_flight": skipped, "lookups_failed": failed,
            "drift": len(drifts), "repaired": repaired, "by_kind": dict(by_kind),
            "examples": [d.as_dict() for d in drifts[:20]],
        }
        if drifts:
            log.warning("reconcile_drift", drift=len(drifts), repaired=repaired,
                        by_kind=dict(by_kind))
        return self.last_report

    async def _repair(self, drift: Drift) -> bool:
        # The only repair is a gateway call plus events: faust tables may be written only
        # from inside stream iteration, and a timer is not.
        if drift.repair is not Repair.VOID or drift.order_id in self.busy:
            return False
        entry = self.ledger.get(drift.order_id)
        if entry is not None and entry.calls_in_flight:
            return False  # a call started since the pass read the entry
        return await self._compensate(drift, entry)

    async def _compensate(self, drift: Drift, entry: PaymentLedgerEntry | None) -> bool:
        """Void a sale no request of the order holds: the shopper's money is released."""
        key = f"compensate-{drift.transaction_id}"[:64]
        try:
            result = await self._gateway().void(transaction_id=drift.transaction_id,
                                                idempotency_key=key)
        except GatewayError as exc:
            log.warning("compensation_failed", order_id=drift.order_id,
                        transaction_id=drift.transaction_id, error=type(exc).__name__)
            return False
        if not result.approved:
            return False
        metrics.COMPENSATIONS.inc()
        reason = (f"compensated: voided authorization {drift.transaction_id} "
                  f"({drift.gateway_status}) that no request of this order holds")
        now = datetime.now(UTC)
        log.warning("compensated_orphan_sale", order_id=drift.order_id,
                    transaction_id=drift.transaction_id)
        await self.publish_anomaly(OrderAnomaly(
            order_id=drift.order_id, event_id=derived_event_id("compensation", key),
            event_type="compensation", from_state=ledger_state(entry).value, reason=reason,
            occurred_at=now))
        await self.dead_letter(DeadLetter(
            source="reconciler", reason=reason, payload=json.dumps(drift.as_dict()),
            error_type="OrphanSale", first_seen_at=now, attempts=1,
            order_id=drift.order_id, idempotency_key=key), drift.order_id)
        return True


def register_reconciler(app: Any, reconciler: Reconciler, interval_s: float) -> None:
    """A periodic pass on every executor worker (each over the partitions it owns)."""
    if interval_s <= 0:
        return

    @app.timer(interval_s, name="payment-reconciler")
    async def reconcile() -> None:
        await reconciler.run_pass(repair=True)
