"""The tiny FastAPI app the edge-auth tests drive, and small test helpers."""

from __future__ import annotations

from decimal import Decimal

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from api_edge.auth import (
    PAYMENTS_READ,
    PAYMENTS_WRITE,
    Principal,
    TokenVerifier,
    assert_owner,
    install_auth,
    require_scopes,
    require_service,
)
from api_edge.problems import ProblemException, install_problem_handlers

MIN_REFRESH_SECONDS = 10.0
PROBLEM_JSON = "application/problem+json"


class FakeClock:
    """Monotonic time the tests move by hand, to observe the JWKS refresh rate limit."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Amount(BaseModel):
    value: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class PaymentIn(BaseModel):
    order_id: str = Field(min_length=1)
    card_number: str | None = None
    amount: Amount


def build_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_auth(app, verifier)
    install_problem_handlers(app)

    @app.get("/customers/{customer_id}/payments")
    async def list_payments(
        customer_id: str, principal: Principal = Depends(require_scopes(PAYMENTS_READ))
    ) -> dict[str, object]:
        assert_owner(principal, customer_id)
        return {"subject": principal.subject, "username": principal.username, "payments": []}

    @app.post("/payments", status_code=201)
    async def create_payment(
        payment: PaymentIn, principal: Principal = Depends(require_scopes(PAYMENTS_WRITE))
    ) -> dict[str, str]:
        return {"order_id": payment.order_id, "customer": principal.subject}

    @app.post("/internal/flows")
    async def orchestrate(principal: Principal = Depends(require_service())) -> dict[str, str]:
        return {"client_id": principal.client_id or ""}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password is hunter2")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "Short and stout.")

    @app.get("/conflict")
    async def conflict() -> None:
        raise ProblemException(409, "Duplicate order", "Order o-1 already exists.",
                               type="urn:paystream:problem:duplicate-order")

    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
