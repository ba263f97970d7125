"""The worker's in-flight cap is applied as its gateway client's concurrency."""

from __future__ import annotations

from gateway.settings import GatewaySettings
from streams.app import _capped


def test_the_gateway_client_never_allows_more_than_the_in_flight_cap() -> None:
    assert _capped(GatewaySettings(max_workers=64), 16).max_workers == 16
    assert _capped(GatewaySettings(max_workers=8), 16).max_workers == 8
    assert _capped(GatewaySettings(max_workers=16), 16).max_workers == 16
