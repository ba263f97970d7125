"""ModelTable over a plain dict: a faust table is a mapping of bytes to bytes to it."""

from __future__ import annotations

from datetime import UTC, datetime

from tables.model_table import ModelTable
from tables.wallet_state import Wallet, new_wallet

AT = datetime(2025, 1, 1, tzinfo=UTC)


def test_rows_are_utf8_keys_and_json_values() -> None:
    raw: dict[bytes, bytes] = {}
    wallets = ModelTable(raw, Wallet)
    wallet = new_wallet("kunde-ä", AT)
    wallets.put(wallet.customer_id, wallet)
    assert raw == {"kunde-ä".encode(): wallet.model_dump_json().encode()}
    assert wallets.get("kunde-ä") == wallet
    assert "kunde-ä" in wallets and "other" not in wallets
    assert wallets.get("other") is None
    assert list(wallets.items()) == [("kunde-ä", wallet)] and len(wallets) == 1


def test_delete_is_idempotent() -> None:
    wallets = ModelTable({}, Wallet)
    wallets.put("c1", new_wallet("c1", AT))
    wallets.delete("c1")
    wallets.delete("c1")
    assert wallets.get("c1") is None and len(wallets) == 0
