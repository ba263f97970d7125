"""The worker's tables: names, value models and how each is keyed.

All are changelogged RocksDB tables co-partitioned with the topic that feeds them, so
the worker consuming a key's records owns its row and a web request for it can be routed
by the same key:
- payment-ledger (order id -> PaymentLedgerEntry, with the order's gateway calls in
  flight), written by the executor while handling a record of `payment-requests` (keyed
  by order id);
- payment-in-flight (idempotency key -> InFlightRecord): where calls in flight were kept
  before they moved into the ledger entry, in their order's changelog partition. Only read
  (and emptied) now, so that a call an older worker started resumes with its history;
- orders (order id -> Order), from `order-created` and the outcome topics;
- wallets (customer id -> Wallet), from `wallet-commands`;
- fulfillment-requests (order id -> FulfillmentRequested), from `payment-deposited`;
- analytics-minutes (window key -> AnalyticsWindow), from `analytics-facts`.
"""

from __future__ import annotations

from typing import Final

import faust

from schemas.orders import FulfillmentRequested
from tables.analytics import AnalyticsWindow
from tables.model_table import ModelTable, declare_model_table
from tables.order_record import Order
from tables.payment_ledger import InFlightRecord, PaymentLedgerEntry
from tables.wallet_state import Wallet

LEDGER_TABLE: Final = "payment-ledger"
IN_FLIGHT_TABLE: Final = "payment-in-flight"
ORDERS_TABLE: Final = "orders"
WALLETS_TABLE: Final = "wallets"
FULFILLMENT_TABLE: Final = "fulfillment-requests"
ANALYTICS_TABLE: Final = "analytics-minutes"


def ledger_table(app: faust.App, partitions: int) -> ModelTable[PaymentLedgerEntry]:
    return declare_model_table(app, LEDGER_TABLE, PaymentLedgerEntry, partitions,
                               "Per-order payment state of the executor")


def in_flight_table(app: faust.App, partitions: int) -> ModelTable[InFlightRecord]:
    return declare_model_table(app, IN_FLIGHT_TABLE, InFlightRecord, partitions,
                               "Calls in flight kept by older workers (read and emptied)")


def orders_table(app: faust.App, partitions: int) -> ModelTable[Order]:
    return declare_model_table(app, ORDERS_TABLE, Order, partitions,
                               "Order lifecycle: state, amounts, history, anomalies")


def wallets_table(app: faust.App, partitions: int) -> ModelTable[Wallet]:
    return declare_model_table(app, WALLETS_TABLE, Wallet, partitions,
                               "Vaulted payment methods per customer (display data only)")


def fulfillment_table(app: faust.App, partitions: int) -> ModelTable[FulfillmentRequested]:
    return declare_model_table(app, FULFILLMENT_TABLE, FulfillmentRequested, partitions,
                               "Orders whose fulfillment has been requested")


def analytics_table(app: faust.App, partitions: int) -> ModelTable[AnalyticsWindow]:
    return declare_model_table(app, ANALYTICS_TABLE, AnalyticsWindow, partitions,
                               "Outcome counts and amounts per one-minute tumbling window")
