"""The verifier against a real Keycloak with the repository's realm export.

Never skipped: when Keycloak cannot be started (no JDK, no Maven, no network for the first
download) the test fails and says why. The first run downloads the distribution (~170 MB).
"""

from __future__ import annotations

import httpx
import pytest

from api_edge.auth import AuthSettings, TokenVerifier
from api_edge.auth.errors import AuthError
from devstack.dev_realm import ORCHESTRATOR_CLIENT_ID, ORCHESTRATOR_CLIENT_SECRET
from devstack.keycloak import KeycloakServer

pytestmark = pytest.mark.keycloak


async def test_real_keycloak_tokens_verify(keycloak: KeycloakServer) -> None:
    settings = AuthSettings(issuer=keycloak.issuer)
    verifier = TokenVerifier(settings)
    async with httpx.AsyncClient(timeout=30) as http:
        shopper = await http.post(keycloak.token_endpoint, data={
            "grant_type": "password", "client_id": "paystream-shop",
            "username": "shopper1", "password": "shopper1-password",
        })
        service = await http.post(
            keycloak.token_endpoint, data={"grant_type": "client_credentials"},
            auth=(ORCHESTRATOR_CLIENT_ID, ORCHESTRATOR_CLIENT_SECRET),
        )
    assert shopper.status_code == 200, shopper.text
    assert service.status_code == 200, service.text

    user = await verifier.verify(shopper.json()["access_token"])
    assert user.subject == "cust-shopper1"
    assert user.username == "shopper1"
    assert user.client_id == "paystream-shop"
    assert {"payments:read", "payments:write", "wallet:read", "wallet:write"} <= user.scopes
    assert not user.is_service

    svc = await verifier.verify(service.json()["access_token"],
                                audience=settings.service_audience)
    assert svc.is_service
    assert svc.subject == "svc-paystream-orchestrator-client"
    assert svc.client_id == ORCHESTRATOR_CLIENT_ID
    assert "orchestrator:invoke" in svc.scopes

    # Each token opens only its own door.
    with pytest.raises(AuthError, match="aud must include"):
        await verifier.verify(shopper.json()["access_token"], audience=settings.service_audience)
    with pytest.raises(AuthError, match="aud must include"):
        await verifier.verify(service.json()["access_token"])
