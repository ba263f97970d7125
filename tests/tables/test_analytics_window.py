"""Tumbling one-minute analytics windows: grouping, amounts, decline rate."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tables.analytics import AnalyticsFact, add_fact, parse_window_key, window_key

T0 = datetime(2025, 1, 31, 12, 34, 5, tzinfo=UTC)


def fact(event_type: str, amount: str | None = "10.00", *, kind: str = "approve",
         pmt: str | None = "credit_card", at: datetime = T0) -> AnalyticsFact:
    return AnalyticsFact(event_id=f"{event_type}-{amount}", event_type=event_type,
                         request_kind=kind, payment_method_type=pmt,  # type: ignore[arg-type]
                         currency="USD" if amount else None,
                         amount=Decimal(amount) if amount else None, occurred_at=at)


def test_window_keys_are_utc_minutes() -> None:
    assert window_key(T0) == "2025-01-31T12:34Z"
    assert parse_window_key("2025-01-31T12:34Z") == T0.replace(second=0)
    with pytest.raises(ValueError):
        parse_window_key("2025-01-31 12:34")


def test_counts_amounts_and_decline_rate() -> None:
    window = None
    for f in [fact("payment-approved"), fact("payment-approved", "5.50"),
              fact("payment-declined", None, pmt="paypal"),
              fact("payment-deposited", "10.00", kind="deposit"),
              fact("payment-declined", None, kind="deposit")]:
        window = add_fact(window, f)
    assert window is not None
    view = window.view()
    assert view["window"] == "2025-01-31T12:34Z"
    groups = {(g["event_type"], g["payment_method_type"], g["currency"]): g
              for g in view["groups"]}
    assert groups[("payment-approved", "credit_card", "USD")]["count"] == 2
    assert groups[("payment-approved", "credit_card", "USD")]["amount"] == "15.50"
    assert groups[("payment-declined", "paypal", "unknown")]["count"] == 1
    # A declined capture is not an authorization attempt.
    assert view["authorizations"] == {"approved": 2, "declined": 1, "decline_rate": 1 / 3}


def test_a_fact_from_another_minute_is_refused() -> None:
    window = add_fact(None, fact("payment-approved"))
    with pytest.raises(ValueError):
        add_fact(window, fact("payment-approved", at=T0.replace(minute=35)))


def test_empty_window_has_no_decline_rate() -> None:
    window = add_fact(None, fact("payment-deposited", kind="deposit"))
    assert window.decline_rate is None
