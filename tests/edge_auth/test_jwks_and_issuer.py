"""JWKS cache behaviour under issuer outages, the dev issuer's OAuth endpoints, settings."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
from edge_auth_helpers import FakeClock

from api_edge.auth import (
    AuthSettings,
    IssuerUnavailableError,
    JwksCache,
    TokenVerifier,
    UnknownKeyError,
)
from devstack.dev_issuer import (
    DevIssuer,
)
from devstack.dev_issuer_server import run_dev_issuer
from devstack.dev_realm import ORCHESTRATOR_CLIENT_ID, ORCHESTRATOR_CLIENT_SECRET


def _outage_transport(issuer: DevIssuer, state: dict[str, int]) -> httpx.MockTransport:
    """Serves the dev issuer's documents until `state["down"]` is set, then refuses."""

    def handler(request: httpx.Request) -> httpx.Response:
        state["calls"] = state.get("calls", 0) + 1
        if state.get("down"):
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json=issuer.openid_configuration())
        return httpx.Response(200, json=issuer.jwks())

    return httpx.MockTransport(handler)


async def test_cached_keys_outlive_an_issuer_outage() -> None:
    issuer = DevIssuer()
    state: dict[str, int] = {}
    clock = FakeClock()
    async with httpx.AsyncClient(transport=_outage_transport(issuer, state)) as http:
        cache = JwksCache(issuer.issuer, client=http, clock=clock, cache_seconds=60,
                          min_refresh_seconds=10)
        kid = issuer.signing_key().kid
        assert (await cache.get_key(kid)).key_id == kid
        state["down"] = 1
        clock.advance(61)  # cache expired, issuer down: the stale key still serves
        assert (await cache.get_key(kid)).key_id == kid
        # A kid we never saw may be a genuine rotation we cannot fetch: 503, not 401.
        with pytest.raises(IssuerUnavailableError):
            await cache.get_key("rotated-in")
        state["down"] = 0
        clock.advance(11)
        with pytest.raises(UnknownKeyError):
            await cache.get_key("never-published")


async def test_issuer_down_from_the_start_is_unavailable_and_not_hammered() -> None:
    issuer = DevIssuer()
    state: dict[str, int] = {"down": 1}
    clock = FakeClock()
    async with httpx.AsyncClient(transport=_outage_transport(issuer, state)) as http:
        cache = JwksCache(issuer.issuer, client=http, clock=clock, min_refresh_seconds=10)
        for _ in range(5):
            with pytest.raises(IssuerUnavailableError, match="unreachable"):
                await cache.get_key("any")
        assert state["calls"] == 1
        clock.advance(11)
        state["down"] = 0
        assert (await cache.get_key(issuer.signing_key().kid)) is not None


async def test_discovery_must_name_the_configured_issuer() -> None:
    issuer = DevIssuer()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**issuer.openid_configuration(),
                                         "issuer": "http://evil.example/realms/paystream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        cache = JwksCache(issuer.issuer, client=http)
        with pytest.raises(IssuerUnavailableError, match="different issuer"):
            await cache.get_key("x")


async def test_encryption_and_private_keys_in_the_jwks_are_ignored() -> None:
    issuer = DevIssuer(with_es256_key=False)
    signing = issuer.signing_key()
    published = issuer.jwks()["keys"][0]
    document = {"keys": [
        {**published, "kid": "enc-key", "use": "enc", "alg": "RSA-OAEP"},
        {**published, "kid": "hmac", "kty": "oct", "k": "c2VjcmV0"},
        published,
    ]}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json=issuer.openid_configuration())
        return httpx.Response(200, json=document)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        cache = JwksCache(issuer.issuer, client=http)
        await cache.refresh()
        assert cache.kids == {signing.kid}


async def test_password_grant_issues_a_verifiable_keycloak_shaped_token(
    dev_issuer: DevIssuer,
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{dev_issuer.issuer}/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": "paystream-shop",
                  "username": "shopper2", "password": "shopper2-password"},
        )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    payload = response.json()
    assert payload["token_type"] == "Bearer"
    principal = await TokenVerifier(AuthSettings(issuer=dev_issuer.issuer)).verify(
        payload["access_token"]
    )
    assert principal.subject == "cust-shopper2"
    assert principal.username == "shopper2"
    assert principal.client_id == "paystream-shop"
    assert {"payments:read", "payments:write", "wallet:read", "wallet:write"} <= principal.scopes
    assert not principal.is_service
    assert principal.token_id


@pytest.mark.parametrize("style", ["basic", "post"])
async def test_client_credentials_grant_issues_a_service_token(
    dev_issuer: DevIssuer, style: str
) -> None:
    data = {"grant_type": "client_credentials"}
    auth: tuple[str | bytes, str | bytes] | None = (
        ORCHESTRATOR_CLIENT_ID, ORCHESTRATOR_CLIENT_SECRET
    )
    if style == "post":
        data |= {"client_id": ORCHESTRATOR_CLIENT_ID, "client_secret": ORCHESTRATOR_CLIENT_SECRET}
        auth = None
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{dev_issuer.issuer}/protocol/openid-connect/token", data=data,
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
    assert response.status_code == 200, response.text
    settings = AuthSettings(issuer=dev_issuer.issuer)
    principal = await TokenVerifier(settings).verify(
        response.json()["access_token"], audience=settings.service_audience
    )
    assert principal.is_service
    assert principal.client_id == ORCHESTRATOR_CLIENT_ID
    assert "orchestrator:invoke" in principal.scopes


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({"grant_type": "password", "client_id": "paystream-shop", "username": "shopper1",
          "password": "wrong"}, None, 401, "invalid_grant"),
        ({"grant_type": "password", "client_id": "paystream-shop", "username": "nobody",
          "password": "x"}, None, 401, "invalid_grant"),
        ({"grant_type": "client_credentials"}, (ORCHESTRATOR_CLIENT_ID, "wrong"), 401,
         "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "paystream-shop"}, None, 400,
         "unauthorized_client"),
        ({"grant_type": "password", "client_id": "paystream-shop", "username": "shopper1",
          "password": "shopper1-password", "scope": "admin:all"}, None, 400, "invalid_scope"),
        ({"grant_type": "authorization_code", "client_id": "paystream-shop"}, None, 400,
         "unsupported_grant_type"),
        ({"grant_type": "password", "client_id": "ghost"}, None, 401, "invalid_client"),
    ],
)
async def test_token_endpoint_errors(
    dev_issuer: DevIssuer, data: dict[str, str], auth: tuple[str | bytes, str | bytes] | None,
    status: int, error: str,
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{dev_issuer.issuer}/protocol/openid-connect/token", data=data,
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "access_token" not in response.json()


async def test_unknown_realm_is_404(dev_issuer: DevIssuer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{dev_issuer.base_url}/realms/other/.well-known/openid-configuration"
        )
    assert response.status_code == 404


def test_keys_persist_to_a_private_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "dev-issuer.json"
    first = DevIssuer(key_file=key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = DevIssuer(key_file=key_file)
    assert [k.kid for k in first.keys] == [k.kid for k in second.keys]
    assert json.loads(key_file.read_text())["keys"][0]["alg"] == "RS256"


def test_run_dev_issuer_on_a_chosen_port_and_clean_stop() -> None:
    with run_dev_issuer() as probe:
        port = int(probe.base_url.rsplit(":", 1)[1])
    # The port is free again after the stop, so it can be asked for by number.
    with run_dev_issuer(port=port) as issuer:
        assert issuer.issuer == f"http://127.0.0.1:{port}/realms/paystream"
        assert httpx.get(f"{issuer.issuer}/protocol/openid-connect/certs").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{issuer.issuer}/protocol/openid-connect/certs", timeout=2)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_AUTH_ISSUER", "https://sso.example/realms/paystream/")
    monkeypatch.setenv("PAYSTREAM_AUTH_LEEWAY_SECONDS", "5")
    settings = AuthSettings()
    assert settings.issuer == "https://sso.example/realms/paystream"
    assert settings.leeway_seconds == 5
    assert settings.audience == "paystream-api"
    assert settings.service_audience == "paystream-orchestrator"
    assert settings.algorithms == ("RS256", "ES256")
