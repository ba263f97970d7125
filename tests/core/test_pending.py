"""The pending-operation rules: what an error means, how long we wait, which sale is ours."""

from datetime import timedelta

import pytest
from core_factories import T0, usd
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import (
    AuthenticationGatewayError,
    GatewayConfigurationError,
    GatewayError,
    IdempotencyKeyInFlightError,
    NotFoundGatewayError,
    OutcomeUnknownError,
    PermanentGatewayError,
    TransientGatewayError,
)
from gateway.port import Transaction
from tables.pending import (
    PendingPolicy,
    Resolution,
    given_up,
    matching_sale,
    resolution_for,
    retry_delay,
    should_announce,
)


@pytest.mark.parametrize(("error", "expected"), [
    (OutcomeUnknownError("read timeout"), Resolution.UNKNOWN),
    (IdempotencyKeyInFlightError("in flight"), Resolution.UNKNOWN),
    (TransientGatewayError("503", status=503), Resolution.UNKNOWN),
    (TransientGatewayError("429", status=429), Resolution.UNKNOWN),
    (GatewayError("something nobody classified"), Resolution.UNKNOWN),
    (PermanentGatewayError("Amount is too large", ), Resolution.DEFINITE),
    (NotFoundGatewayError("not found"), Resolution.DEFINITE),
    (AuthenticationGatewayError("bad keys"), Resolution.PARK),
    (GatewayConfigurationError("no merchant account for EUR"), Resolution.PARK),
])
def test_only_a_gateway_refusal_is_definite(error: GatewayError, expected: Resolution) -> None:
    assert resolution_for(error) is expected


@given(st.integers(min_value=0, max_value=200), st.floats(min_value=0, max_value=0.999999))
def test_retry_delay_stays_within_half_and_whole_of_its_capped_ceiling(
        attempt: int, rand: float) -> None:
    policy = PendingPolicy(base_s=0.2, cap_s=120)
    delay = retry_delay(attempt, policy, rand)
    ceiling = min(120.0, 0.2 * 2.0 ** min(attempt, 64))
    assert ceiling / 2 <= delay <= ceiling


def test_back_off_reaches_minutes_so_it_outlasts_the_gateway_timeout() -> None:
    policy = PendingPolicy()
    total = sum(retry_delay(a, policy, 0.0) for a in range(12))
    assert retry_delay(20, policy, 0.0) == 60.0
    assert total > 60.0  # more than Braintree's 60 s request timeout in a dozen attempts


def test_given_up_after_the_life_of_an_idempotency_key() -> None:
    policy = PendingPolicy()
    assert not given_up(T0, T0 + timedelta(hours=23, minutes=59), policy)
    assert given_up(T0, T0 + timedelta(hours=24), policy)


def test_announced_first_at_the_threshold_then_at_doubling_attempts() -> None:
    policy = PendingPolicy(announce_after=2)
    announced = [n for n in range(1, 40) if should_announce(n, policy)]
    assert announced == [2, 4, 8, 16, 32]


def sale(tid: str, amount: str, minutes: int, *, status: str = "authorized",
         order_id: str = "order-1", kind: str = "sale") -> Transaction:
    return Transaction(id=tid, type=kind, status=status,  # type: ignore[arg-type]
                       amount=usd(amount), order_id=order_id, payment_method_type=None,
                       created_at=T0 + timedelta(minutes=minutes))


def test_an_older_declined_attempt_is_not_the_unknown_authorizations_answer() -> None:
    older = sale("tx-old", "10", -30, status="processor_declined")
    ours = sale("tx-new", "10", 0)
    found = matching_sale([ours, older], order_id="order-1", amount=usd("10"), started_at=T0)
    assert found is not None and found.id == "tx-new"


def test_no_sale_for_another_amount_order_or_a_credit() -> None:
    candidates = [sale("a", "11", 1), sale("b", "10", 1, order_id="order-2"),
                  sale("c", "10", 1, kind="credit")]
    assert matching_sale(candidates, order_id="order-1", amount=usd("10"), started_at=T0) is None


def test_of_several_matches_the_first_attempts_sale_is_chosen() -> None:
    found = matching_sale([sale("later", "10", 3), sale("first", "10", 1)],
                          order_id="order-1", amount=usd("10"), started_at=T0)
    assert found is not None and found.id == "first"


def test_retry_delay_refuses_impossible_inputs() -> None:
    for attempt, rand in [(-1, 0.5), (0, 1.0), (0, -0.1)]:
        with pytest.raises(ValueError):
            retry_delay(attempt, PendingPolicy(), rand)


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=0.999999))
def test_retry_delay_never_shrinks_as_attempts_grow(attempt: int, rand: float) -> None:
    policy = PendingPolicy()
    assert retry_delay(attempt, policy, rand) <= retry_delay(attempt + 1, policy, rand)
