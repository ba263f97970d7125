"""Build the configured payment gateway."""

from __future__ import annotations

from gateway.braintree_adapter import BraintreeGateway
from gateway.port import PaymentGateway
from gateway.settings import GatewaySettings


def build_gateway(settings: GatewaySettings | None = None) -> PaymentGateway:
    """The Braintree adapter for any environment: the simulator, sandbox or production
    differ only in `GatewaySettings`, never in code."""
    return BraintreeGateway(settings or GatewaySettings())
