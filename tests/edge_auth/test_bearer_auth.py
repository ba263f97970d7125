"""The edge's bearer-token checks, driven over HTTP through the auth dependencies."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import jwt
import pytest
from edge_auth.broken_tokens import mint_alg_none, mint_hs256_with_public_key, mint_with_foreign_key
from edge_auth_helpers import MIN_REFRESH_SECONDS, PROBLEM_JSON, FakeClock, bearer

from api_edge.auth import PAYMENTS_READ, PAYMENTS_WRITE, WALLET_READ
from devstack.dev_issuer import DevIssuer
from devstack.dev_issuer_server import run_dev_issuer

ClientFactory = Callable[[str, FakeClock], AbstractAsyncContextManager[httpx.AsyncClient]]
OWN_PAYMENTS = "/customers/cust-shopper1/payments"
NOW = int(time.time())


def assert_invalid_token(response: httpx.Response, token: str, detail_fragment: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="paystream"')
    assert 'error="invalid_token"' in challenge
    body = response.json()
    assert body["status"] == 401
    assert body["type"] == "urn:paystream:problem:invalid-token"
    assert detail_fragment in body["detail"]
    assert token not in response.text


async def test_valid_token_is_accepted(client: httpx.AsyncClient, dev_issuer: DevIssuer) -> None:
    response = await client.get(OWN_PAYMENTS, headers=bearer(dev_issuer.mint_for_user("shopper1")))
    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "cust-shopper1", "username": "shopper1", "payments": []}


async def test_no_token_is_401_with_a_bare_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get(OWN_PAYMENTS)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    # RFC 6750 3.1: no error code when the request carried no credentials at all.
    assert response.headers["www-authenticate"] == 'Bearer realm="paystream"'
    body = response.json()
    assert body["type"] == "urn:paystream:problem:unauthorized"
    assert "Authorization: Bearer" in body["detail"]


async def test_other_auth_scheme_counts_as_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get(OWN_PAYMENTS, headers={"Authorization": "Basic c2hvcDpwdw=="})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="paystream"'


BadToken = Callable[[DevIssuer], str]

INVALID_TOKENS: dict[str, tuple[BadToken, str]] = {
    "expired": (lambda i: i.mint(issued_at=NOW - 600, expires_in=300), "expired"),
    "not yet valid (nbf)": (lambda i: i.mint(not_before=NOW + 600), "not valid yet"),
    "issued in the future (iat)": (
        lambda i: i.mint(issued_at=NOW + 600, expires_in=300), "not valid yet"),
    "wrong issuer": (
        lambda i: i.mint(issuer="http://127.0.0.1:1/realms/evil"), "unexpected issuer"),
    "wrong audience": (lambda i: i.mint(audience="someone-else"), "aud must include"),
    "no audience": (lambda i: i.mint(audience=None), "no aud claim"),
    "bad signature": (mint_with_foreign_key, "signature is invalid"),
    "tampered payload": (lambda i: _tamper(i.mint()), "signature is invalid"),
    "alg none": (mint_alg_none, "alg none"),
    "HS256 signed with the public key": (mint_hs256_with_public_key, "HMAC"),
    "missing kid": (lambda i: i.mint(include_kid=False), "no kid"),
    "missing exp": (lambda i: i.mint(drop=["exp"]), "no exp claim"),
    "missing sub": (lambda i: i.mint(drop=["sub"]), "no sub claim"),
    "ID token, not an access token": (
        lambda i: i.mint(extra={"typ": "ID"}), "not an access token"),
    "not a JWT": (lambda i: "not-a-jwt", "three dot-separated parts"),
    "garbage header": (lambda i: "e30x.e30.sig", "malformed"),
    "encrypted (JWE) token": (lambda i: "a.b.c.d.e", "three dot-separated parts"),
}


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    # Flip one character of the payload; the signature no longer matches.
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    return f"{header}.{flipped}.{signature}"


@pytest.mark.parametrize("case", list(INVALID_TOKENS), ids=list(INVALID_TOKENS))
async def test_invalid_tokens_are_401(
    case: str, client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    make, detail_fragment = INVALID_TOKENS[case]
    token = make(dev_issuer)
    response = await client.get(OWN_PAYMENTS, headers=bearer(token))
    assert_invalid_token(response, token, detail_fragment)


async def test_clock_skew_within_leeway_is_tolerated(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    # The clock is read here, not at import: whatever ran earlier in the session must not
    # push these tokens past the 30 s leeway.
    now = int(time.time())
    just_expired = dev_issuer.mint(issued_at=now - 310, expires_in=300)
    slightly_early = dev_issuer.mint(not_before=now + 10, issued_at=now + 10)
    for token in (just_expired, slightly_early):
        response = await client.get(OWN_PAYMENTS, headers=bearer(token))
        assert response.status_code == 200, response.text


async def test_audience_list_containing_the_api_is_accepted(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    token = dev_issuer.mint(audience=["account", "paystream-api"])
    assert (await client.get(OWN_PAYMENTS, headers=bearer(token))).status_code == 200


async def test_es256_tokens_are_accepted(client: httpx.AsyncClient, dev_issuer: DevIssuer) -> None:
    token = dev_issuer.mint(alg="ES256")
    assert (await client.get(OWN_PAYMENTS, headers=bearer(token))).status_code == 200


async def test_unknown_kid_refetches_the_jwks_once_then_is_rate_limited(
    client: httpx.AsyncClient, dev_issuer: DevIssuer, clock: FakeClock
) -> None:
    warm = await client.get(OWN_PAYMENTS, headers=bearer(dev_issuer.mint()))
    assert warm.status_code == 200
    fetched = dev_issuer.jwks_requests
    clock.advance(MIN_REFRESH_SECONDS + 1)

    first = mint_with_foreign_key(dev_issuer, kid="rotated-away-1")
    assert_invalid_token(await client.get(OWN_PAYMENTS, headers=bearer(first)), first,
                         "unknown key")
    assert dev_issuer.jwks_requests == fetched + 1

    # A flood of made-up kids inside the window must not reach the issuer.
    for n in range(5):
        token = mint_with_foreign_key(dev_issuer, kid=f"made-up-{n}")
        assert_invalid_token(await client.get(OWN_PAYMENTS, headers=bearer(token)), token,
                             "unknown key")
    assert dev_issuer.jwks_requests == fetched + 1

    clock.advance(MIN_REFRESH_SECONDS)
    late = mint_with_foreign_key(dev_issuer, kid="made-up-late")
    assert (await client.get(OWN_PAYMENTS, headers=bearer(late))).status_code == 401
    assert dev_issuer.jwks_requests == fetched + 2


async def test_rotated_key_is_picked_up_by_refetching_the_jwks(
    verifier_factory: ClientFactory, clock: FakeClock
) -> None:
    # Its own issuer: rotating the shared one's keys would disturb the other tests.
    with run_dev_issuer() as issuer:
        async with verifier_factory(issuer.issuer, clock) as client:
            first = await client.get(OWN_PAYMENTS, headers=bearer(issuer.mint()))
            assert first.status_code == 200
            new_key = issuer.rotate_key()
            clock.advance(MIN_REFRESH_SECONDS + 1)
            token = issuer.mint()
            assert jwt.get_unverified_header(token)["kid"] == new_key.kid
            response = await client.get(OWN_PAYMENTS, headers=bearer(token))
            assert response.status_code == 200, response.text
            assert issuer.jwks_requests == 2


async def test_missing_scope_is_403_insufficient_scope(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    token = dev_issuer.mint(scopes=[PAYMENTS_WRITE, WALLET_READ])
    response = await client.get(OWN_PAYMENTS, headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{PAYMENTS_READ}"' in challenge
    body = response.json()
    assert body["type"] == "urn:paystream:problem:insufficient-scope"
    assert PAYMENTS_READ in body["detail"]


async def test_another_shoppers_resource_is_403_without_hinting_existence(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    token = dev_issuer.mint_for_user("shopper1")
    foreign = await client.get("/customers/cust-shopper2/payments", headers=bearer(token))
    unknown = await client.get("/customers/cust-nobody/payments", headers=bearer(token))
    assert foreign.status_code == unknown.status_code == 403
    assert foreign.headers["content-type"] == PROBLEM_JSON
    assert "www-authenticate" not in foreign.headers
    strip = {"instance", "correlation_id"}
    assert {k: v for k, v in foreign.json().items() if k not in strip} == {
        k: v for k, v in unknown.json().items() if k not in strip
    }
    assert "cust-shopper2" not in foreign.json()["detail"]


async def test_service_token_opens_the_orchestrator_route(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    response = await client.post("/internal/flows", headers=bearer(dev_issuer.mint_for_service()))
    assert response.status_code == 200, response.text
    assert response.json() == {"client_id": "paystream-orchestrator-client"}


async def test_shopper_token_cannot_call_the_orchestrator(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    token = dev_issuer.mint_for_user("shopper1")
    response = await client.post("/internal/flows", headers=bearer(token))
    assert_invalid_token(response, token, "paystream-orchestrator")


async def test_user_token_for_the_orchestrator_audience_is_still_not_a_service(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    token = dev_issuer.mint(audience="paystream-orchestrator", scopes=["orchestrator:invoke"])
    response = await client.post("/internal/flows", headers=bearer(token))
    assert response.status_code == 403
    assert "service credentials" in response.json()["detail"]


async def test_service_token_without_the_invoke_scope_is_403(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    token = dev_issuer.mint(
        subject="svc-x", client_id="paystream-orchestrator-client",
        username="service-account-paystream-orchestrator-client",
        audience="paystream-orchestrator", scopes=[],
    )
    response = await client.post("/internal/flows", headers=bearer(token))
    assert response.status_code == 403
    assert 'scope="orchestrator:invoke"' in response.headers["www-authenticate"]


async def test_service_token_cannot_call_shopper_routes(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    token = dev_issuer.mint_for_service()
    assert (await client.get(OWN_PAYMENTS, headers=bearer(token))).status_code == 401


async def test_issuer_down_is_503_not_401(
    verifier_factory: ClientFactory,
    clock: FakeClock, dev_issuer: DevIssuer,
) -> None:
    async with verifier_factory("http://127.0.0.1:9/realms/paystream", clock) as client:
        response = await client.get(OWN_PAYMENTS, headers=bearer(dev_issuer.mint()))
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "5"
    assert response.json()["type"] == "urn:paystream:problem:issuer-unavailable"


async def test_tokens_never_reach_the_logs(
    client: httpx.AsyncClient, dev_issuer: DevIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = [dev_issuer.mint(), dev_issuer.mint(audience="x"), mint_alg_none(dev_issuer)]
    for token in tokens:
        await client.get(OWN_PAYMENTS, headers=bearer(token))
    for token in tokens:
        assert token not in caplog.text
        assert token.split(".")[1] not in caplog.text
