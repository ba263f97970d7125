"""OAuth 2.0 scopes of the paystream API (client scopes of the Keycloak realm)."""

from __future__ import annotations

from typing import Final

# Shoppers (user tokens): check out and read their own orders, cancel them before capture,
# manage their own wallet.
PAYMENTS_WRITE: Final = "payments:write"
PAYMENTS_READ: Final = "payments:read"
WALLET_READ: Final = "wallet:read"
WALLET_WRITE: Final = "wallet:write"
# The merchant's back office (client credentials): register orders and their prices,
# capture, refund, and reverse at any point. Money moves to or from the shopper only here.
MERCHANT_PAYMENTS: Final = "merchant:payments"
# Services: Payments-A calling Payments-B, and Payments-B reading the worker views.
ORCHESTRATOR_INVOKE: Final = "orchestrator:invoke"
ORDERS_READ: Final = "orders:read"
WALLET_ADMIN: Final = "wallet:admin"

SHOPPER_SCOPES: Final = frozenset({PAYMENTS_WRITE, PAYMENTS_READ, WALLET_READ, WALLET_WRITE})
MERCHANT_SCOPES: Final = frozenset({MERCHANT_PAYMENTS})
SERVICE_SCOPES: Final = frozenset({ORCHESTRATOR_INVOKE, ORDERS_READ, WALLET_ADMIN})
