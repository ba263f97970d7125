"""Shopper traffic through the public edge, as a careful client sends it.

Each order: checkout (a saved card, or now and then a one-time nonce), then a deposit of
everything authorized, then a partial refund, each step waiting for the order to show
its outcome. A request that gets a 5xx, a 401 (token expired) or no answer is retried
with the same Idempotency-Key and correlation id; now and then a step is clicked twice,
the second time with a new key. Every attempt is recorded for the report.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import httpx

from devstack.chaos.report import NO_ANSWER, Call, Sent

TOKEN_REFRESH_S: Final = 120.0  # well inside the dev issuer's five-minute tokens
POLL_S: Final = 0.5
# Fake nonces the simulator (like the sandbox) accepts any number of times.
CARD_NONCE: Final = "fake-valid-visa-nonce"
# Outcome states per step: the step is over when the order shows one of them or the
# request's correlation id turns up in its history (a refused capture keeps the state).
STEP_DONE: Final[dict[str, frozenset[str]]] = {
    "approve": frozenset({"AUTHORIZED", "DECLINED", "FAILED"}),
    "deposit": frozenset({"PAID"}),
    "refund": frozenset({"PARTIALLY_REFUNDED", "REFUNDED"}),
}


@dataclass
class TrafficConfig:
    edge_url: str
    token_endpoint: str
    orders: int
    rate: float
    seed: int
    run_id: str
    step_timeout_s: float = 60.0
    retry_deadline_s: float = 60.0
    double_click_share: float = 0.05
    nonce_share: float = 0.2


@dataclass
class Traffic:
    config: TrafficConfig
    began: float = field(default_factory=time.monotonic)
    calls: list[Call] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)
    card_token: str | None = None
    _token: str = ""
    _token_at: float = 0.0
    _rng: random.Random = field(init=False)
    _http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0),
                                       limits=httpx.Limits(max_connections=200))

    async def aclose(self) -> None:
        await self._http.aclose()

    def _now(self) -> float:
        return time.monotonic() - self.began

    async def _bearer(self, refresh: bool = False) -> str:
        if refresh or not self._token or time.monotonic() - self._token_at > TOKEN_REFRESH_S:
            resp = await self._http.post(self.config.token_endpoint, data={
                "grant_type": "password", "client_id": "paystream-shop",
                "username": "shopper1", "password": "shopper1-password"})
            resp.raise_for_status()
            self._token = str(resp.json()["access_token"])
            self._token_at = time.monotonic()
        return self._token

    async def _attempt(self, method: str, path: str, body: dict[str, Any] | None,
                       headers: dict[str, str]) -> httpx.Response | None:
        headers = {**headers, "Authorization": f"Bearer {await self._bearer()}"}
        try:
            resp = await self._http.request(method, self.config.edge_url + path, json=body,
                                            headers=headers)
        except httpx.TransportError:
            return None
        if resp.status_code == 401:
            await self._bearer(refresh=True)
        return resp

    async def request(self, op: str, method: str, path: str, body: dict[str, Any] | None,
                      key: str | None, cid: str, target_exists: bool,
                      order_id: str = "") -> httpx.Response | None:
        """Send until an answer that is not worth retrying, or the deadline; the same key
        and correlation id on every attempt."""
        headers = {"X-Correlation-ID": cid}
        if key:
            headers["Idempotency-Key"] = key
        deadline = time.monotonic() + self.config.retry_deadline_s
        delay = 0.2
        while True:
            resp = await self._attempt(method, path, body, headers)
            status = resp.status_code if resp is not None else NO_ANSWER
            self.calls.append(Call(self._now(), op, status, target_exists, order_id,
                                   _problem(resp)))
            retry = status == NO_ANSWER or status >= 500 or status == 401
            if not retry or time.monotonic() > deadline:
                return resp
            await asyncio.sleep(delay * (0.5 + self._rng.random()))
            delay = min(delay * 2, 2.0)

    async def vault_card(self) -> str:
        cid = f"chaos-{self.config.run_id}-wallet"
        resp = await self.request("wallet", "POST", "/v1/wallet/methods",
                                  {"nonce": CARD_NONCE, "make_default": True},
                                  uuid.uuid4().hex, cid, target_exists=False)
        if resp is None or resp.status_code != 201:
            raise RuntimeError(f"could not save a card: "
                               f"{resp.status_code if resp is not None else 'no answer'}")
        self.card_token = str(resp.json()["token"])
        return self.card_token

    async def order_view(self, order_id: str, known: bool) -> dict[str, Any] | None:
        resp = await self.request("order", "GET", f"/v1/orders/{order_id}", None, None,
                                  f"chaos-{self.config.run_id}-poll", known, order_id)
        if resp is not None and resp.status_code == 200:
            data: dict[str, Any] = resp.json()
            return data
        return None

    async def _step(self, order_id: str, kind: str, path: str, body: dict[str, Any],
                    exists: bool) -> bool:
        """One step; True if it was accepted and the order shows its outcome."""
        cid = f"{order_id}-{kind}"
        op = "checkout" if kind == "approve" else kind
        main = asyncio.create_task(self.request(op, "POST", path, body, uuid.uuid4().hex,
                                                cid, exists, order_id))
        click = None
        if self._rng.random() < self.config.double_click_share:
            click = asyncio.create_task(self.request(op, "POST", path, body, uuid.uuid4().hex,
                                                     cid + "-dbl", exists, order_id))
        resp = await main
        accepted = resp is not None and resp.status_code == 202
        self.sent.append(Sent(order_id, kind, cid, accepted))
        if click is not None:
            second = await click
            self.sent.append(Sent(order_id, kind, cid + "-dbl",
                                  second is not None and second.status_code == 202,
                                  double_click=True))
        if not accepted:
            return False
        deadline = time.monotonic() + self.config.step_timeout_s
        while time.monotonic() < deadline:
            view = await self.order_view(order_id, known=kind != "approve")
            if view is not None and (view.get("state") in STEP_DONE[kind] or any(
                    h.get("correlation_id") == cid for h in view.get("history", []))):
                return view.get("state") in STEP_DONE[kind]
            await asyncio.sleep(POLL_S)
        return False

    async def one_order(self, index: int) -> None:
        order_id = f"chaos-{self.config.run_id}-{index:05d}"
        self.order_ids.append(order_id)
        cents = self._rng.randint(1_000, 50_000)  # 10.00 .. 500.00: no decline amounts
        amount = Decimal(cents) / 100
        checkout: dict[str, Any] = {"order_id": order_id,
                                    "amount": {"amount": str(amount), "currency": "USD"}}
        if self._rng.random() < self.config.nonce_share:
            checkout["payment_method_nonce"] = CARD_NONCE
            checkout["payment_method_type"] = "credit_card"
        else:
            checkout["payment_method_token"] = self.card_token
        if not await self._step(order_id, "approve", "/v1/checkouts", checkout, True):
            return
        base = f"/v1/orders/{order_id}"
        if not await self._step(order_id, "deposit", f"{base}/deposits", {}, True):
            return
        part = (amount * Decimal(self._rng.randint(10, 60)) / 100).quantize(Decimal("0.01"))
        await self._step(order_id, "refund", f"{base}/refunds",
                         {"amount": {"amount": str(part), "currency": "USD"}}, True)

    async def drive(self) -> float:
        """Start the orders at the configured rate; returns when every order's script
        ended. Returns the drive's duration in seconds."""
        began = time.monotonic()
        tasks = []
        for i in range(self.config.orders):
            at = began + i / self.config.rate
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            tasks.append(asyncio.create_task(self.one_order(i)))
        await asyncio.gather(*tasks)
        return time.monotonic() - began


def _problem(resp: httpx.Response | None) -> str:
    """A refusal's problem title and detail (problem+json), for the report's examples."""
    if resp is None or resp.status_code < 400:
        return ""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if not isinstance(body, dict):
        return ""
    return f"{body.get('title', '')}: {body.get('detail', '')}"[:200]
