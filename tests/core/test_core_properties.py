"""Property tests across both cores: the executor's ledger drives a Braintree-like
gateway model, its outcome events feed the order lifecycle, and delivery order,
duplication and the timing of order-created must not change the final order."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from core_factories import T0, created, event, fold, request, usd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.money import Money, MoneyError
from schemas.orders import OrderCreated
from schemas.outcomes import OutcomeEvent
from schemas.payment_request import PAYMENT_KINDS, PaymentKind, PaymentRequest
from tables.order_lifecycle import apply_order_created, apply_outcome
from tables.order_record import Order
from tables.order_state import OrderState
from tables.payment_ledger import (
    GatewayResult,
    PaymentLedgerEntry,
    conclude,
    with_deferred_refund,
    with_leg_status_of,
)
from tables.payment_plan import (
    AlreadyProcessed,
    Authorize,
    Capture,
    Decline,
    Refund,
    Void,
    annotate,
    ledger_state,
    plan_request,
)
from tables.settlement import DeferRefund

# ------------------------------------------------------------------ gateway model


@dataclass
class Txn:
    status: str
    amount: Decimal
    refunded: Decimal = Decimal(0)


@dataclass
class FakeGateway:
    """Just enough of Braintree's rules to catch a call it would refuse: the authorization,
    split captures as child transactions, voids, and refunds of settled transactions."""

    status: str | None = None
    authorized: Decimal = Decimal(0)
    counter: int = 0
    txns: dict[str, Txn] | None = None
    closed: bool = False

    def call(self, call: Authorize | Capture | Void | Refund) -> GatewayResult:
        self.counter += 1
        tx = f"tx{self.counter}"
        txns = self.txns if self.txns is not None else {}
        self.txns = txns
        if isinstance(call, Authorize):
            assert self.status not in ("authorized", "submitted_for_settlement", "settled",
                                       "settlement_pending")
            cents = call.amount.amount
            if 2000 <= cents < 3000:
                self.status = "processor_declined"
                return GatewayResult(result="declined", transaction_id=tx,
                                     status="processor_declined",
                                     processor_response_code=str(int(cents)),
                                     processor_response_text="Declined")
            if cents == 3000:
                self.status = "failed"
                return GatewayResult(result="failed", status="failed", reason="3000 Failed")
            self.status, self.authorized, self.closed = "authorized", cents, False
            txns.clear()
            txns[tx] = Txn("authorized", cents)
            self.auth_id = tx
            return GatewayResult(result="succeeded", transaction_id=tx, status="authorized")
        if isinstance(call, Capture):
            children = [t for k, t in txns.items() if k != call.transaction_id]
            total = sum((t.amount for t in children), Decimal(0)) + call.amount.amount
            assert total <= self.authorized, "91522"
            if call.partial:
                assert self.status in ("authorized", "settlement_pending"), "91507"
                assert not self.closed, "91507"
                self.status, self.closed = "settlement_pending", call.final
                txns[tx] = Txn("submitted_for_settlement", call.amount.amount)
                return GatewayResult(result="succeeded", transaction_id=tx,
                                     status="submitted_for_settlement", amount=call.amount)
            assert self.status == "authorized", "91507"
            self.status, self.closed = "submitted_for_settlement", True
            txns[call.transaction_id] = Txn("submitted_for_settlement", call.amount.amount)
            return GatewayResult(result="succeeded", transaction_id=call.transaction_id,
                                 status="submitted_for_settlement", amount=call.amount)
        if isinstance(call, Void):
            target = txns[call.transaction_id]
            assert target.status in ("authorized", "submitted_for_settlement"), "91504"
            target.status = "voided"
            if call.transaction_id == getattr(self, "auth_id", None):
                self.status = "voided"
            return GatewayResult(result="succeeded", transaction_id=call.transaction_id,
                                 status="voided" if call.refund_amount is None
                                 or call.whole_authorization else None)
        target = txns[call.transaction_id]
        assert target.status in ("settled", "settling"), "91506"
        assert target.refunded + call.amount.amount <= target.amount, "91521"
        target.refunded += call.amount.amount
        return GatewayResult(result="succeeded", transaction_id=tx, amount=call.amount)

    def settle(self) -> list[str]:
        """Settle every submitted transaction; the ids that settled."""
        done = []
        for key, txn in (self.txns or {}).items():
            if txn.status == "submitted_for_settlement":
                txn.status = "settled"
                done.append(key)
        if self.status == "submitted_for_settlement":
            self.status = "settled"
        return done


amounts = st.one_of(
    st.integers(min_value=1, max_value=1999),
    st.sampled_from([2001, 2999, 3000]),
).map(lambda n: usd(str(n)))
optional_amounts = st.one_of(st.none(), st.integers(min_value=1, max_value=1999).map(
    lambda n: usd(str(n))))

any_step = st.one_of(
        st.tuples(st.just("approve"), amounts),
        st.tuples(st.just("deposit"), optional_amounts),
        st.tuples(st.just("reverse"), st.none()),
        st.tuples(st.just("refund"), optional_amounts),
        st.tuples(st.just("settle"), st.none()),
        st.tuples(st.just("redeliver"), st.none()),
)
good_amounts = st.integers(min_value=1, max_value=1999).map(lambda n: usd(str(n)))
# Uniformly random plans rarely get as far as a settled capture; half of them start
# from a paid-and-settled order so refunds are exercised as much as authorizations.
paid_prefix = st.tuples(good_amounts, optional_amounts).map(
    lambda a: [("approve", a[0]), ("deposit", a[1]), ("settle", None)]
)
steps = st.tuples(
    st.one_of(st.just([]), paid_prefix),
    st.lists(any_step, max_size=12),
).map(lambda parts: [*parts[0], *parts[1]])


def run_executor(plan: list[tuple[str, Money | None]]) -> tuple[PaymentLedgerEntry | None,
                                                                  list[OutcomeEvent]]:
    gateway, entry, events = FakeGateway(), None, []
    last_request = None
    for i, (kind, amount) in enumerate(plan):
        if kind == "settle":
            for txn_id in gateway.settle():
                if entry is not None:
                    entry = with_leg_status_of(entry, txn_id, "settled")
            # Deferred refunds run once their capture settled (replayed as their request).
            for deferred in entry.deferred_refunds if entry is not None else ():
                again = PaymentRequest.model_validate_json(deferred.request)
                entry, events = execute(gateway, entry, again, i, events)
            continue
        if kind == "redeliver":
            if last_request is not None:
                again = plan_request(entry, last_request)
                # A waiting refund is planned to wait again: holding it twice is a no-op.
                waiting = entry is not None and any(
                    d.idempotency_key == last_request.idempotency_key
                    for d in entry.deferred_refunds)
                assert isinstance(again, DeferRefund if waiting else AlreadyProcessed)
                if waiting:
                    assert entry is not None and isinstance(again, DeferRefund)
                    assert with_deferred_refund(entry, last_request, again.amount,
                                                again.transaction_id, T0) == entry
            continue
        req = request(kind, amount, key=f"k{i}")  # type: ignore[arg-type]
        entry, events = execute(gateway, entry, req, i, events)
        last_request = req
    return entry, events


def execute(gateway: FakeGateway, entry: PaymentLedgerEntry | None, req: PaymentRequest,
            i: int, events: list[OutcomeEvent]
            ) -> tuple[PaymentLedgerEntry | None, list[OutcomeEvent]]:
    decision = plan_request(entry, req)
    assert not isinstance(decision, AlreadyProcessed)
    if isinstance(decision, DeferRefund):
        assert entry is not None
        return with_deferred_refund(entry, req, decision.amount, decision.transaction_id,
                                    T0), events
    result = (GatewayResult.declined_by_rule(decision.reason) if isinstance(decision, Decline)
              else annotate(gateway.call(decision), decision))
    entry, outcome = conclude(entry, req, result, occurred_at=T0 + timedelta(minutes=i))
    check_ledger(entry)
    return entry, [*events, outcome]


def check_ledger(entry: PaymentLedgerEntry) -> None:
    zero = Decimal(0)
    authorized = entry.authorized.amount if entry.authorized else zero
    captured = entry.captured.amount if entry.captured else zero
    refunded = entry.refunded.amount if entry.refunded else zero
    assert zero <= refunded <= captured <= authorized
    assert entry.next_sequence == len(entry.processed) + 1


def check_order(order: Order) -> None:
    zero = Decimal(0)
    authorized = order.authorized_amount.amount if order.authorized_amount else zero
    captured = order.captured_amount.amount if order.captured_amount else zero
    refunded = order.refunded_amount.amount if order.refunded_amount else zero
    assert zero <= refunded <= captured <= authorized


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_executor_never_makes_a_call_the_gateway_would_refuse(
    plan: list[tuple[str, Money | None]],
) -> None:
    run_executor(plan)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_order_agrees_with_the_ledger_without_anomalies(
    plan: list[tuple[str, Money | None]],
) -> None:
    entry, events = run_executor(plan)
    if entry is None:
        return
    order = fold(None, events)
    check_order(order)
    assert order.anomalies == ()
    assert order.last_sequence == entry.next_sequence - 1
    if entry.has_live_authorization or entry.status == "voided":
        assert order.authorized_amount == entry.authorized
        assert order.captured_amount == entry.captured
        assert order.refunded_amount == entry.refunded
    expected = {
        "voided": OrderState.REVERSED,
        "authorized": OrderState.AUTHORIZED,
        "processor_declined": OrderState.DECLINED,
        "failed": OrderState.FAILED,
        None: OrderState.CREATED,
    }.get(entry.status)
    if entry.status in ("submitted_for_settlement", "settled", "settlement_pending"):
        if entry.refunded is None:
            expected = OrderState.PAID
        elif entry.refunded == entry.captured:
            expected = OrderState.REFUNDED
        else:
            expected = OrderState.PARTIALLY_REFUNDED
    assert order.state == expected
    # The executor's plan gates requests on the same state the order shows.
    assert ledger_state(entry) == order.state


@st.composite
def deliveries(draw: st.DrawFn, events: list[OutcomeEvent]) -> list[OutcomeEvent | OrderCreated]:
    duplicates = draw(st.lists(st.sampled_from(events), max_size=len(events))) if events else []
    stream: list[OutcomeEvent | OrderCreated] = [*events, *duplicates, created(usd("100"))]
    if draw(st.booleans()):
        stream.append(created(usd("100")))
    return draw(st.permutations(stream))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), steps)
def test_any_delivery_order_with_duplicates_converges(
    data: st.DataObject, plan: list[tuple[str, Money | None]],
) -> None:
    _, events = run_executor(plan)
    in_order = fold(None, [created(usd("100")), *events])
    shuffled = data.draw(deliveries(events))
    assert fold(None, shuffled) == in_order


names = st.sampled_from(["approved", "deposited", "reversed", "refunded", "declined", "failed"])
kinds: st.SearchStrategy[PaymentKind] = st.sampled_from(PAYMENT_KINDS)


@st.composite
def arbitrary_events(draw: st.DrawFn) -> list[OutcomeEvent]:
    """Events no sane executor would emit, to show the lifecycle never breaks."""
    count = draw(st.integers(min_value=0, max_value=12))
    return [
        event(draw(names), seq, draw(optional_amounts), request_kind=draw(kinds))
        for seq in range(1, count + 1)
    ]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), arbitrary_events())
def test_arbitrary_streams_never_raise_keep_invariants_and_converge(
    data: st.DataObject, events: list[OutcomeEvent],
) -> None:
    order: Order | None = apply_order_created(None, created(usd("100")))
    for outcome in events:
        order = apply_outcome(order, outcome).order
        check_order(order)
    assert order is not None and order.pending == {}
    assert fold(None, data.draw(deliveries(events))) == order


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_money_never_goes_negative(a: int, b: int) -> None:
    left, right = Money.of(Decimal(a).scaleb(-2), "USD"), Money.of(Decimal(b).scaleb(-2), "USD")
    try:
        assert (left - right).amount >= 0
    except MoneyError:
        assert a < b
