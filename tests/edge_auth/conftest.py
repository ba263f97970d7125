"""Fixtures: a dev issuer on a real loopback port and the tiny app verifying its tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from edge_auth_helpers import MIN_REFRESH_SECONDS, FakeClock, build_app

from api_edge.auth import AuthSettings, JwksCache, TokenVerifier
from devstack.dev_issuer import DevIssuer
from devstack.dev_issuer_server import run_dev_issuer

ClientFactory = Callable[[str, FakeClock], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(scope="session")
def dev_issuer() -> Iterator[DevIssuer]:
    with run_dev_issuer() as issuer:
        yield issuer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(dev_issuer: DevIssuer, clock: FakeClock) -> TokenVerifier:
    return _verifier_for(dev_issuer.issuer, clock)


@pytest.fixture
async def client(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    async with _client_for(verifier) as http:
        yield http


def _verifier_for(issuer: str, clock: FakeClock) -> TokenVerifier:
    settings = AuthSettings(issuer=issuer, jwks_min_refresh_seconds=MIN_REFRESH_SECONDS,
                            http_timeout_seconds=2.0)
    jwks = JwksCache(
        settings.issuer,
        min_refresh_seconds=settings.jwks_min_refresh_seconds,
        cache_seconds=settings.jwks_cache_seconds,
        timeout_seconds=settings.http_timeout_seconds,
        clock=clock,
    )
    return TokenVerifier(settings, jwks)


@asynccontextmanager
async def _client_for(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: the 500 handler's response is what a real server sends;
    # Starlette re-raises after answering so the ASGI server can log it too.
    transport = httpx.ASGITransport(app=build_app(verifier), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as http:
        yield http


@pytest.fixture
def verifier_factory() -> ClientFactory:
    """An app client verifying against another issuer URL (own dev issuer, dead port)."""
    return lambda issuer, clock: _client_for(_verifier_for(issuer, clock))
