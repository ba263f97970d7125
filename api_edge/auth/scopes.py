"""OAuth 2.0 scopes of the paystream API (client scopes of the Keycloak realm)."""

from __future__ import annotations

from typing import Final

PAYMENTS_WRITE: Final = "payments:write"
PAYMENTS_READ: Final = "payments:read"
WALLET_READ: Final = "wallet:read"
WALLET_WRITE: Final = "wallet:write"
ORCHESTRATOR_INVOKE: Final = "orchestrator:invoke"

SHOPPER_SCOPES: Final = frozenset({PAYMENTS_WRITE, PAYMENTS_READ, WALLET_READ, WALLET_WRITE})
SERVICE_SCOPES: Final = frozenset({ORCHESTRATOR_INVOKE})
