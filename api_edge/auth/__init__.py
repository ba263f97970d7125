"""Bearer-token authentication for the HTTP edge (Payments-A and Payments-B).

    verifier = TokenVerifier(AuthSettings())
    install_auth(app, verifier)
    install_problem_handlers(app)          # api_edge.problems

    @app.post("/payments")
    async def pay(principal: Principal = Depends(require_scopes(PAYMENTS_WRITE))): ...
"""

from api_edge.auth.dependencies import (
    SERVICE_SCOPE,
    BearerAuth,
    assert_owner,
    authenticate_service,
    bearer_scheme,
    get_token_verifier,
    install_auth,
    require_scopes,
    require_service,
)
from api_edge.auth.errors import AuthError, IssuerUnavailableError, bearer_challenge
from api_edge.auth.jwks import JwksCache, UnknownKeyError
from api_edge.auth.principal import Principal
from api_edge.auth.scopes import (
    MERCHANT_PAYMENTS,
    ORCHESTRATOR_INVOKE,
    ORDERS_READ,
    PAYMENTS_READ,
    PAYMENTS_WRITE,
    SHOPPER_SCOPES,
    WALLET_ADMIN,
    WALLET_READ,
    WALLET_WRITE,
)
from api_edge.auth.settings import AuthSettings
from api_edge.auth.verifier import TokenVerifier

__all__ = [
    "MERCHANT_PAYMENTS",
    "ORCHESTRATOR_INVOKE",
    "ORDERS_READ",
    "PAYMENTS_READ",
    "PAYMENTS_WRITE",
    "SERVICE_SCOPE",
    "SHOPPER_SCOPES",
    "WALLET_ADMIN",
    "WALLET_READ",
    "WALLET_WRITE",
    "AuthError",
    "AuthSettings",
    "BearerAuth",
    "IssuerUnavailableError",
    "JwksCache",
    "Principal",
    "TokenVerifier",
    "UnknownKeyError",
    "assert_owner",
    "authenticate_service",
    "bearer_challenge",
    "bearer_scheme",
    "get_token_verifier",
    "install_auth",
    "require_scopes",
    "require_service",
]
