"""The edge against a real Keycloak: A with a password-grant shopper token, and B with the
client-credentials token A obtains itself. Never skipped (see tests/edge_auth)."""

from __future__ import annotations

import httpx
import pytest
from edge_helpers import new_key, serve_edge, usd
from pydantic import SecretStr

from api_edge.auth import AuthSettings
from api_edge.settings import EdgeSettings
from devstack.dev_realm import (
    MERCHANT_CLIENT_ID,
    MERCHANT_CLIENT_SECRET,
    ORCHESTRATOR_CLIENT_ID,
    ORCHESTRATOR_CLIENT_SECRET,
)
from devstack.keycloak import KeycloakServer

pytestmark = pytest.mark.keycloak


async def test_real_keycloak_tokens_through_a_and_b(
    keycloak: KeycloakServer, edge_settings: EdgeSettings
) -> None:
    settings = edge_settings.model_copy(update={
        "auth": AuthSettings(issuer=keycloak.issuer),
        "token_endpoint": None,  # discovered from Keycloak
        "service_client_secret": SecretStr(ORCHESTRATOR_CLIENT_SECRET),
    })
    async with httpx.AsyncClient(timeout=30) as http:
        shopper = await http.post(keycloak.token_endpoint, data={
            "grant_type": "password", "client_id": "paystream-shop",
            "username": "shopper1", "password": "shopper1-password"})
        service = await http.post(keycloak.token_endpoint,
                                  data={"grant_type": "client_credentials"},
                                  auth=(ORCHESTRATOR_CLIENT_ID, ORCHESTRATOR_CLIENT_SECRET))
        merchant = await http.post(keycloak.token_endpoint,
                                   data={"grant_type": "client_credentials"},
                                   auth=(MERCHANT_CLIENT_ID, MERCHANT_CLIENT_SECRET))
    assert shopper.status_code == 200 and service.status_code == 200
    assert merchant.status_code == 200, merchant.text
    merchant_token = merchant.json()["access_token"]
    user_token = shopper.json()["access_token"]
    service_token = service.json()["access_token"]

    with serve_edge(settings) as (facade_url, orchestrator_url):
        async with httpx.AsyncClient(timeout=30) as http:
            # The realm's merchant client registers the order (scope merchant:payments)...
            registered = await http.post(
                f"{facade_url}/v1/orders",
                json={"customer_id": "cust-shopper1", "amount": usd("12.00")},
                headers={"Authorization": f"Bearer {merchant_token}",
                         "Idempotency-Key": new_key()})
            assert registered.status_code == 201, registered.text
            order_id = registered.json()["order_id"]
            # ...and the shopper's token, from the realm too, may not.
            as_shopper = await http.post(
                f"{facade_url}/v1/orders",
                json={"customer_id": "cust-shopper1", "amount": usd("12.00")},
                headers={"Authorization": f"Bearer {user_token}", "Idempotency-Key": new_key()})
            assert as_shopper.status_code == 403
            resp = await http.post(
                f"{facade_url}/v1/checkouts",
                json={"order_id": order_id, "amount": usd("12.00"),
                      "payment_method_nonce": "fake-valid-nonce",
                      "payment_method_type": "credit_card"},
                headers={"Authorization": f"Bearer {user_token}", "Idempotency-Key": new_key()})
            assert resp.status_code == 202, resp.text
            assert resp.json()["order_id"] == order_id

            wallet = await http.get(f"{facade_url}/v1/wallet/methods",
                                    headers={"Authorization": f"Bearer {user_token}"})
            assert wallet.status_code == 200, wallet.text

            # B verifies Keycloak's client-credentials token itself...
            direct = await http.get(f"{orchestrator_url}/internal/v1/wallet/methods",
                                    headers={"Authorization": f"Bearer {service_token}",
                                             "X-Shopper-Subject": "cust-shopper1"})
            assert direct.status_code == 200, direct.text
            # ...and refuses the shopper's token, whatever shopper it claims to act for.
            spoof = await http.get(f"{orchestrator_url}/internal/v1/wallet/methods",
                                   headers={"Authorization": f"Bearer {user_token}",
                                            "X-Shopper-Subject": "cust-shopper2"})
            assert spoof.status_code == 401
            # A refuses the service token: it is not meant for the public API.
            svc_on_a = await http.get(f"{facade_url}/v1/wallet/methods",
                                      headers={"Authorization": f"Bearer {service_token}"})
            assert svc_on_a.status_code == 401
