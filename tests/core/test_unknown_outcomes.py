"""Unknown is never failed: for any interleaving of gateway answers (applied, not applied,
unknown, in flight, refused with 5xx/429, repeated) and crashes of the worker between the
gateway call and the publish, every request ends with exactly one outcome and the outcomes
agree with the gateway's own ledger."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from core_factories import request, usd
from faulty_gateway import FAULTS, Fault, FaultyGateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.request_handler import RequestHandler
from schemas.dead_letter import DeadLetter
from schemas.outcomes import OutcomeEvent
from tables.pending import PendingPolicy


class BrokerAway(Exception):
    """The publish failed: the worker dies and Kafka redelivers the record."""


class MemoryTable(dict[str, Any]):
    def put(self, key_or_entry: Any, value: Any = None) -> None:
        if value is None:
            self[key_or_entry.order_id] = key_or_entry
        else:
            self[key_or_entry] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


class Publisher:
    def __init__(self, crash_on: set[int]) -> None:
        self.outcomes: list[OutcomeEvent] = []
        self.dead_letters: list[DeadLetter] = []
        self.pending: list[Any] = []
        self._crash_on = crash_on
        self._publishes = 0

    async def outcome(self, event: OutcomeEvent) -> None:
        self._publishes += 1
        if self._publishes in self._crash_on:
            raise BrokerAway()
        self.outcomes.append(event)

    async def dead_letter(self, letter: DeadLetter, key: str | None) -> None:
        self.dead_letters.append(letter)

    async def pending_operation(self, event: Any) -> None:
        self.pending.append(event)


async def _no_sleep(_: float) -> None:
    return None


async def run_order(script: list[Fault], crash_on: set[int], amount: str
                    ) -> tuple[FaultyGateway, Publisher]:
    gateway = FaultyGateway(script=deque(script))
    ledger, in_flight = MemoryTable(), MemoryTable()
    publisher = Publisher(crash_on)
    steps = [request("approve", usd(amount), key="k-approve"),
             request("deposit", None, key="k-deposit"),
             request("refund", usd("1.00"), key="k-refund")]
    for step in steps:
        raw = step.model_dump_json().encode()
        for _delivery in range(10):
            handler = RequestHandler(gateway, ledger, publisher,  # type: ignore[arg-type]
                                     pending=PendingPolicy(base_s=0, cap_s=0),
                                     sleep=_no_sleep, rand=lambda: 0.0,
                                     legacy_in_flight=in_flight)
            try:
                await handler.handle(raw)
                break
            except BrokerAway:
                continue  # the record was not acknowledged: Kafka delivers it again
        if step.kind == "deposit":
            gateway.settle_all()
    return gateway, publisher


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(st.sampled_from(FAULTS), max_size=14),
       crash_on=st.sets(st.integers(min_value=1, max_value=4), max_size=2),
       amount=st.sampled_from(["10.00", "2500.00"]))
def test_every_request_ends_with_one_outcome_that_matches_the_gateway(
        script: list[Fault], crash_on: set[int], amount: str) -> None:
    gateway, publisher = asyncio.run(run_order(script, crash_on, amount))

    by_key: dict[str, set[tuple[str, str]]] = {}
    for event in publisher.outcomes:
        by_key.setdefault(event.idempotency_key, set()).add((event.event_id, event.event_type))
    # One outcome per request (re-publishing after a crash repeats the same event).
    assert set(by_key) == {"k-approve", "k-deposit", "k-refund"}
    assert all(len(kinds) == 1 for kinds in by_key.values()), by_key
    types = {key: next(iter(kinds))[1] for key, kinds in by_key.items()}
    assert "payment-failed" not in types.values(), types

    sales = [t for t in gateway.transactions.values() if t.type == "sale"]
    credits = [t for t in gateway.transactions.values() if t.type == "credit"]
    assert len(sales) == 1  # never a second authorization for one order
    sale = sales[0]
    if sale.status == "processor_declined":
        assert types == {"k-approve": "payment-declined", "k-deposit": "payment-declined",
                         "k-refund": "payment-declined"}
        assert credits == []
        return
    assert types["k-approve"] == "payment-approved"
    assert types["k-deposit"] == "payment-deposited" and sale.status == "settled"
    assert types["k-refund"] == "payment-refunded"
    assert [c.amount for c in credits] == [usd("1.00")]


class AlwaysUnknown(FaultyGateway):
    """The gateway never answers definitely (and may have applied the sale)."""

    apply_first: bool = False

    def _mutate(self, key: str, apply: Any) -> Any:
        if self.apply_first and key not in self.answers:
            self._record(key, apply)
        from gateway.errors import OutcomeUnknownError
        raise OutcomeUnknownError("read timeout: the request may have been applied")


class Misconfigured(FaultyGateway):
    def _mutate(self, key: str, apply: Any) -> Any:
        from gateway.errors import AuthenticationGatewayError
        raise AuthenticationGatewayError("AuthenticationError: check merchant id and keys")


async def _one(gateway: FaultyGateway, policy: PendingPolicy) -> tuple[Publisher, MemoryTable,
                                                                          MemoryTable]:
    ledger, in_flight = MemoryTable(), MemoryTable()
    publisher = Publisher(set())
    handler = RequestHandler(gateway, ledger, publisher,  # type: ignore[arg-type]
                             pending=policy, sleep=_no_sleep, rand=lambda: 0.0,
                             legacy_in_flight=in_flight)
    await handler.handle(request("approve", usd("10.00"), key="k1").model_dump_json().encode())
    return publisher, ledger, in_flight


def test_given_up_only_after_its_limit_and_then_reported_failed_with_a_dead_letter() -> None:
    policy = PendingPolicy(base_s=0, cap_s=0, give_up_after_s=1e-6)
    publisher, ledger, _ = asyncio.run(_one(AlwaysUnknown(), policy))
    assert [e.event_type for e in publisher.outcomes] == ["payment-failed"]
    assert "given up" in (publisher.outcomes[0].reason or "")
    assert [d.error_type for d in publisher.dead_letters] == ["GivenUp"]
    assert "k1" in ledger["order-1"].processed and ledger["order-1"].calls_in_flight == {}


def test_at_the_limit_a_sale_found_at_the_gateway_is_the_answer_not_a_failure() -> None:
    policy = PendingPolicy(base_s=0, cap_s=0, give_up_after_s=1e-6)
    gateway = AlwaysUnknown()
    gateway.apply_first = True
    publisher, _, _ = asyncio.run(_one(gateway, policy))
    assert [e.event_type for e in publisher.outcomes] == ["payment-approved"]
    assert publisher.dead_letters == []


def test_pending_is_announced_and_the_order_view_would_show_it() -> None:
    policy = PendingPolicy(base_s=0, cap_s=0, announce_after=1)
    gateway = FaultyGateway(script=deque(["lost_before_apply"] * 3))
    publisher, _, _ = asyncio.run(_one(gateway, policy))
    assert [(p.request_kind, p.attempts) for p in publisher.pending] == [
        ("approve", 1), ("approve", 2)]  # then 4, 8, ... if it went on
    assert [e.event_type for e in publisher.outcomes] == ["payment-approved"]


def test_a_gateway_configuration_error_parks_the_request_and_never_declines_it() -> None:
    publisher, ledger, in_flight = asyncio.run(_one(Misconfigured(), PendingPolicy()))
    assert publisher.outcomes == []
    assert [d.error_type for d in publisher.dead_letters] == ["AuthenticationGatewayError"]
    assert "configuration" in publisher.dead_letters[0].reason
    # Not processed: a replay once the keys are fixed runs it.
    assert "order-1" not in ledger and "k1" not in in_flight


class FlakyReads(FaultyGateway):
    """Status reads fail a few times (what a worker restarted mid-outage meets)."""

    failing_reads: int = 3

    async def find_transaction(self, transaction_id: str) -> Any:
        if self.failing_reads > 0:
            self.failing_reads -= 1
            from gateway.errors import TransientGatewayError
            raise TransientGatewayError("service unavailable (503)", status=503)
        return await super().find_transaction(transaction_id)


def test_a_refund_is_planned_on_a_fresh_status_even_when_reads_fail_at_first() -> None:
    async def scenario() -> Publisher:
        gateway = FlakyReads()
        ledger, in_flight = MemoryTable(), MemoryTable()
        publisher = Publisher(set())
        handler = RequestHandler(gateway, ledger, publisher,  # type: ignore[arg-type]
                                 pending=PendingPolicy(base_s=0, cap_s=0), sleep=_no_sleep,
                                 rand=lambda: 0.0, legacy_in_flight=in_flight)
        for step in (request("approve", usd("10.00"), key="a"),
                     request("deposit", None, key="d")):
            await handler.handle(step.model_dump_json().encode())
        gateway.settle_all()  # the ledger still says submitted_for_settlement
        await handler.handle(request("refund", usd("1.00"), key="r").model_dump_json().encode())
        return publisher

    publisher = asyncio.run(scenario())
    assert [e.event_type for e in publisher.outcomes] == [
        "payment-approved", "payment-deposited", "payment-refunded"]


class WorkerDies(BaseException):
    """The process is killed while it waits to ask the gateway again."""


class CountingTable(MemoryTable):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.writes = 0

    def put(self, key_or_entry: Any, value: Any = None) -> None:
        self.writes += 1
        super().put(key_or_entry, value)

    def delete(self, key: str) -> None:
        self.writes += 1
        super().delete(key)


def test_a_payment_writes_its_order_entry_twice_and_no_other_table() -> None:
    """The call in flight and its conclusion are the order's own two changelog records."""
    ledger, legacy = CountingTable(), CountingTable()
    handler = RequestHandler(FaultyGateway(), ledger, Publisher(set()),  # type: ignore[arg-type]
                             legacy_in_flight=legacy)
    for step in (request("approve", usd("10.00"), key="a"), request("deposit", None, key="d")):
        asyncio.run(handler.handle(step.model_dump_json().encode()))
    assert ledger.writes == 4 and legacy.writes == 0
    assert ledger["order-1"].calls_in_flight == {}
    assert set(ledger["order-1"].processed) == {"a", "d"}


def test_a_call_in_flight_survives_a_crash_with_its_start_and_attempts() -> None:
    ledger, legacy = MemoryTable(), MemoryTable()
    raw = request("approve", usd("10.00"), key="k1").model_dump_json().encode()

    async def die(_: float) -> None:
        raise WorkerDies()

    first = RequestHandler(FaultyGateway(script=deque(["lost_before_apply"])),  # type: ignore[arg-type]
                           ledger, Publisher(set()), sleep=die, legacy_in_flight=legacy)
    with contextlib.suppress(WorkerDies):
        asyncio.run(first.handle(raw))
    record = ledger["order-1"].calls_in_flight["k1"]
    assert record.attempts == 1 and record.kind == "approve"
    assert ledger["order-1"].processed == {} and ledger["order-1"].next_sequence == 1

    # The redelivered request resumes the same call: its notice counts on from there.
    publisher = Publisher(set())
    again = RequestHandler(FaultyGateway(script=deque(["lost_before_apply"])),  # type: ignore[arg-type]
                           ledger, publisher, pending=PendingPolicy(base_s=0, cap_s=0,
                                                                    announce_after=1),
                           sleep=_no_sleep, rand=lambda: 0.0, legacy_in_flight=legacy)
    asyncio.run(again.handle(raw))
    assert [(p.attempts, p.since) for p in publisher.pending] == [(2, record.started_at)]
    assert [e.event_type for e in publisher.outcomes] == ["payment-approved"]
    assert ledger["order-1"].calls_in_flight == {}


def test_a_call_an_older_worker_kept_in_the_legacy_table_resumes_with_its_history() -> None:
    from datetime import UTC, datetime

    from tables.payment_ledger import InFlightRecord

    started = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    legacy = MemoryTable({"k1": InFlightRecord(order_id="order-1", kind="approve",
                                               started_at=started, attempts=3)})
    ledger, publisher = MemoryTable(), Publisher(set())
    # Its key's life is counted from the older worker's start: long past, so one more
    # unknown answer ends it.
    handler = RequestHandler(AlwaysUnknown(), ledger, publisher,  # type: ignore[arg-type]
                             pending=PendingPolicy(base_s=0, cap_s=0, give_up_after_s=3600),
                             sleep=_no_sleep, rand=lambda: 0.0, legacy_in_flight=legacy)
    asyncio.run(handler.handle(
        request("approve", usd("10.00"), key="k1").model_dump_json().encode()))
    assert [e.event_type for e in publisher.outcomes] == ["payment-failed"]
    assert "after 4 attempts since 2024-05-01T12:00:00" in (publisher.outcomes[0].reason or "")
    assert "k1" not in legacy and ledger["order-1"].calls_in_flight == {}
