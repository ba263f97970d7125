"""FastAPI dependencies that authenticate requests and enforce scopes and ownership."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.base import SecurityBase

from api_edge.auth.errors import AuthError
from api_edge.auth.principal import Principal
from api_edge.auth.scopes import ORCHESTRATOR_INVOKE
from api_edge.auth.verifier import TokenVerifier

SERVICE_SCOPE = ORCHESTRATOR_INVOKE

# auto_error=False: a missing token must become our problem+json 401 with an RFC 6750
# challenge, not FastAPI's default 403 JSON. The scheme also documents auth in OpenAPI.
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    scheme_name="bearerAuth",
    description="OAuth 2.0 access token issued by the paystream realm (Keycloak).",
)

PrincipalDependency = Callable[..., Awaitable[Principal]]


def install_auth(app: FastAPI, verifier: TokenVerifier) -> None:
    """Make `verifier` the one the dependencies of this app use."""
    app.state.token_verifier = verifier


async def get_token_verifier(request: Request) -> TokenVerifier:
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("install_auth(app, verifier) was not called for this app")
    return verifier


def require_scopes(*scopes: str) -> PrincipalDependency:
    """Dependency: a verified end-user or client token for the API audience, with `scopes`."""
    required = frozenset(scopes)

    async def dependency(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
        verifier: TokenVerifier = Depends(get_token_verifier),
    ) -> Principal:
        principal = await _authenticate(credentials, verifier, audience=None)
        _check_scopes(principal, required, verifier.realm)
        return principal

    return dependency


def require_service(
    audience: str | None = None, scopes: Iterable[str] = (SERVICE_SCOPE,)
) -> PrincipalDependency:
    """Dependency for service-to-service routes (Payments-B).

    Requires a client-credentials token whose `aud` holds `audience` (default: the
    settings' `service_audience`) and which carries `scopes`.
    """
    required = frozenset(scopes)

    async def dependency(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
        verifier: TokenVerifier = Depends(get_token_verifier),
    ) -> Principal:
        return await authenticate_service(credentials, verifier, audience, required)

    return dependency


async def authenticate_service(
    credentials: HTTPAuthorizationCredentials | None,
    verifier: TokenVerifier,
    audience: str | None = None,
    required: frozenset[str] = frozenset({SERVICE_SCOPE}),
) -> Principal:
    """What `require_service` checks, for a dependency that has the credentials already."""
    principal = await _authenticate(
        credentials, verifier, audience=audience or verifier.settings.service_audience
    )
    if not principal.is_service:
        raise AuthError.forbidden("This endpoint accepts service credentials only.")
    _check_scopes(principal, required, verifier.realm)
    return principal


class BearerAuth(SecurityBase):
    """Base of a dependency that is a whole route's auth step and also its `bearerAuth`
    scheme in OpenAPI. FastAPI documents a route's security from the SecurityBase
    instances among its dependencies, so such a dependency needs no `bearer_scheme`
    sub-dependency; every dependency level costs a solve (cache keys, four parameter
    passes, a call) on every request, a real share of the hot routes' CPU."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.model = bearer_scheme.model
        self.scheme_name = bearer_scheme.scheme_name
        self.verifier = verifier

    async def credentials(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return await bearer_scheme(request)

    async def authenticate(self, request: Request) -> Principal:
        """A verified token for the API audience, as `require_scopes()` (no scopes) does."""
        return await _authenticate(await self.credentials(request), self.verifier,
                                   audience=None)


def assert_owner(principal: Principal, customer_id: str) -> None:
    """Refuse (403) unless the caller is the customer who owns the resource.

    The same answer is given whether or not the resource exists, so callers must not look
    the resource up first and 404 on absence for foreign ids: ids are not to be probed.
    """
    if principal.is_service or principal.subject != customer_id:
        raise AuthError.forbidden()


async def _authenticate(
    credentials: HTTPAuthorizationCredentials | None,
    verifier: TokenVerifier,
    audience: str | None,
) -> Principal:
    if credentials is None:
        raise AuthError.missing_token(realm=verifier.realm)
    return await verifier.verify(credentials.credentials.strip(), audience=audience)


def _check_scopes(principal: Principal, required: frozenset[str], realm: str) -> None:
    missing = required - principal.scopes
    if missing:
        raise AuthError.insufficient_scope(missing, realm=realm)
