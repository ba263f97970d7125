"""A dead letter must always be constructible: parking a record may never fail."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from schemas.dead_letter import DeadLetter


@given(st.text(max_size=20_000))
def test_any_reason_text_makes_a_valid_dead_letter(reason: str) -> None:
    letter = DeadLetter(source="payment-requests", reason=reason, payload="{}",
                        error_type="ValidationError", first_seen_at=datetime.now(UTC),
                        attempts=1)
    assert 1 <= len(letter.reason) <= 1024


def test_a_long_validation_error_is_kept_bounded_and_redacted() -> None:
    reason = ('invalid: {"payment_method_nonce": "tokencc_secret"} ' + "x" * 5000)
    letter = DeadLetter(source="payment-requests", reason=reason, payload="{}",
                        error_type="ValidationError", first_seen_at=datetime.now(UTC),
                        attempts=1)
    assert "tokencc_secret" not in letter.reason and len(letter.reason) <= 1024
