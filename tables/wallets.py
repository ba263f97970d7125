"""The wallet snapshot table: customer id -> `tables.wallet_state.Wallet` as JSON bytes.

Written only by the wallet agent, while it handles a command from `wallet-commands`
(keyed by customer id), so a row lives in the changelog partition of its customer id
and `table_route` finds its owner by the same key.
"""

from __future__ import annotations

from typing import Any, Final

import faust

from tables.payments import raw_table
from tables.wallet_state import Wallet

WALLETS_TABLE: Final = "wallets"


def declare_wallets_table(app: faust.App, partitions: int) -> Any:
    return raw_table(app, WALLETS_TABLE, partitions,
                     "Vaulted payment methods per customer (display data only)")


def wallet_key(customer_id: str) -> bytes:
    return customer_id.encode("utf-8")


class FaustWalletStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, customer_id: str) -> Wallet | None:
        raw = self.table.get(wallet_key(customer_id))
        return None if raw is None else Wallet.model_validate_json(raw)

    def put(self, wallet: Wallet) -> None:
        self.table[wallet_key(wallet.customer_id)] = wallet.model_dump_json().encode("utf-8")
