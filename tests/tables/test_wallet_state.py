"""The wallet snapshot core: default exclusivity, replace by token, command parsing."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.port import VaultedPaymentMethod
from tables.wallet_state import (
    MAX_RECENT_COMMANDS,
    AddMethod,
    StoredPaymentMethod,
    UpdateMethod,
    from_vaulted,
    parse_command,
    put_method,
    record_reply,
    remove_method,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def method(token: str, *, default: bool = False, at: datetime = T0,
           kind: str = "credit_card") -> StoredPaymentMethod:
    return StoredPaymentMethod(token=token, type=kind, is_default=default,  # type: ignore[arg-type]
                               card_brand="Visa", last_4="1881", created_at=at, updated_at=at)


def test_first_method_creates_the_wallet() -> None:
    wallet = put_method(None, "c1", method("t1", default=True), T0)
    assert wallet.customer_id == "c1"
    assert [m.token for m in wallet.methods] == ["t1"]
    assert wallet.default_method is not None and wallet.default_method.token == "t1"


def test_a_new_default_clears_the_old_one() -> None:
    wallet = put_method(None, "c1", method("t1", default=True), T0)
    wallet = put_method(wallet, "c1", method("t2", default=True), T0)
    assert [(m.token, m.is_default) for m in wallet.methods] == [("t1", False), ("t2", True)]


def test_replacing_keeps_position_and_creation_time() -> None:
    later = T0 + timedelta(days=1)
    wallet = put_method(None, "c1", method("t1"), T0)
    wallet = put_method(wallet, "c1", method("t2"), T0)
    wallet = put_method(wallet, "c1", method("t1", default=True, at=later), later)
    assert [m.token for m in wallet.methods] == ["t1", "t2"]
    t1 = wallet.method("t1")
    assert t1 is not None and t1.is_default and t1.created_at == T0 and t1.updated_at == later


def test_remove_method() -> None:
    wallet = put_method(None, "c1", method("t1"), T0)
    wallet = put_method(wallet, "c1", method("t2"), T0)
    assert [m.token for m in remove_method(wallet, "t1", T0).methods] == ["t2"]


def test_replies_are_remembered_within_a_bound() -> None:
    wallet = put_method(None, "c1", method("t1"), T0)
    for i in range(MAX_RECENT_COMMANDS + 5):
        wallet = record_reply(wallet, f"cmd{i}", 200, {"i": i})
    assert len(wallet.recent_commands) == MAX_RECENT_COMMANDS
    assert wallet.reply_for("cmd0") is None
    last = wallet.reply_for(f"cmd{MAX_RECENT_COMMANDS + 4}")
    assert last is not None and last.body == {"i": MAX_RECENT_COMMANDS + 4}
    assert "recent_commands" not in wallet.view()


def test_from_vaulted_keeps_display_data_only() -> None:
    vaulted = VaultedPaymentMethod(token="tok", customer_id="c1", type="paypal",
                                   is_default=True, email="jane@example.com")
    stored = from_vaulted(vaulted, T0)
    assert stored.type == "paypal" and stored.email == "jane@example.com"
    assert stored.created_at == T0
    assert set(stored.model_dump()) == {
        "token", "type", "is_default", "card_brand", "last_4", "expiration_month",
        "expiration_year", "email", "created_at", "updated_at"}


def test_nonce_never_appears_in_a_repr_or_validation_error() -> None:
    command = AddMethod(command_id="c", customer_id="c1", nonce="fake-valid-visa-nonce")
    assert "fake-valid-visa-nonce" not in repr(command)
    with pytest.raises(ValidationError) as err:
        AddMethod(command_id="c", customer_id="", nonce="secret-nonce-value")
    assert "secret-nonce-value" not in str(err.value)


def test_commands_round_trip_through_json() -> None:
    update = UpdateMethod(command_id="c", customer_id="c1", token="t", expiration_month="04")
    assert parse_command(update.model_dump_json()) == update
    assert not update.is_empty
    assert UpdateMethod(command_id="c", customer_id="c1", token="t").is_empty
    with pytest.raises(ValidationError):
        UpdateMethod(command_id="c", customer_id="c1", token="t", expiration_month="13")


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.booleans()), max_size=30))
def test_at_most_one_default_and_tokens_unique(ops: list[tuple[str, bool]]) -> None:
    wallet = None
    for token, default in ops:
        wallet = put_method(wallet, "c1", method(token, default=default), T0)
    if wallet is None:
        return
    tokens = [m.token for m in wallet.methods]
    assert len(tokens) == len(set(tokens))
    assert sum(m.is_default for m in wallet.methods) <= 1
    defaults = [t for t, d in ops if d]
    if defaults and ops[-1][1]:
        assert wallet.default_method is not None
        assert wallet.default_method.token == ops[-1][0]
