"""Service-token checks for the worker's web views.

The views hold every order and every shopper's wallet (and can vault and delete cards),
so each one except liveness needs a bearer token verified like the edge's: signature
against the issuer's JWKS, `iss`, audience `paystream-worker`, a client-credentials
(service) token, and the view's scope (`orders:read` for orders, analytics and table
sizes; `wallet:admin` for wallets). Payments-B presents the orchestrator client's token.
Requests one worker forwards to the key's owner (`app.table_route`) keep their headers
(faust forwards them), so the owner checks the same token again.

Configuration: `PAYSTREAM_AUTH_*` (the issuer) and `PAYSTREAM_WORKER_VIEWS_AUTH`. With no
issuer configured the views are open only while they listen on loopback (the tests'
single-machine workers); a worker bound anywhere else refuses to start without one.
"""

from __future__ import annotations

from typing import Any, Final

from faust.web import Request, Response, View

from api_edge.auth import AuthError, AuthSettings, IssuerUnavailableError, TokenVerifier
from api_edge.auth.jwks import is_loopback_host
from api_edge.token_cache import CachingTokenVerifier
from streams.settings import WorkerSettings

WORKER_AUDIENCE: Final = "paystream-worker"


class ViewGuard:
    """Checks a view request's bearer token; `verifier` None means the views are open."""

    def __init__(self, verifier: TokenVerifier | None,
                 audience: str = WORKER_AUDIENCE) -> None:
        self.verifier = verifier
        self.audience = audience

    @property
    def enforced(self) -> bool:
        return self.verifier is not None

    async def refusal(self, view: View, request: Request, scope: str) -> Response | None:
        """None if the request may proceed, else the 401/403/503 answer to give."""
        if self.verifier is None:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError.missing_token(realm=self.verifier.realm)
            principal = await self.verifier.verify(token.strip(), audience=self.audience)
            if not principal.is_service:
                raise AuthError.forbidden("The worker views accept service credentials only.")
            if scope not in principal.scopes:
                raise AuthError.insufficient_scope({scope}, realm=self.verifier.realm)
        except AuthError as exc:
            headers = {"WWW-Authenticate": exc.www_authenticate} if exc.www_authenticate else {}
            return view.json(_error(exc.status, exc.title, exc.detail), status=exc.status,
                             headers=headers)
        except IssuerUnavailableError:
            return view.json(_error(503, "Token issuer unavailable",
                                    "the token cannot be checked right now; retry"),
                             status=503, headers={"Retry-After": "1"})
        return None


def _error(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"error": {"status": status, "title": title, "detail": detail}}


def view_guard(settings: WorkerSettings, auth: AuthSettings | None = None) -> ViewGuard:
    """The guard for this worker's views, from its settings (see the module docstring)."""
    auth = auth or AuthSettings()
    if settings.views_auth == "off" or (settings.views_auth == "auto" and not auth.issuer):
        if not is_loopback_host(settings.web_host):
            raise RuntimeError(
                f"the worker views listen on {settings.web_host} without authentication: "
                "set PAYSTREAM_AUTH_ISSUER (and let the views check service tokens) or bind "
                "them to loopback (PAYSTREAM_WORKER_WEB_HOST=127.0.0.1)")
        return ViewGuard(None)
    return ViewGuard(CachingTokenVerifier(auth))
