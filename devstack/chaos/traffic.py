"""Shopper and merchant traffic through the public edge, as careful clients send it.

Each order: registered by the merchant's back office (when the edge has that API; else
the checkout creates it), checked out by the shopper (a saved card, or now and then a
one-time nonce), then deposited in full and partly refunded (by the merchant when the
edge has that role), each step waiting for the order to show its outcome. A request
answered 5xx, 429, 401 (token expired) or not at all is retried with the same
Idempotency-Key and correlation id; now and then a step is clicked twice, the second time
with a new key. Every attempt is recorded for the report. Step outcomes are read from the
worker's order views with the orchestrator's service token, so polling does not count
against the shopper's rate limit at the edge.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import httpx

from devstack.chaos.report import NO_ANSWER, Call, Sent
from devstack.dev_realm import (
    DEFAULT_USERS,
    ORCHESTRATOR_CLIENT_ID,
    ORCHESTRATOR_CLIENT_SECRET,
    SHOP_CLIENT_ID,
)

TOKEN_REFRESH_S: Final = 120.0  # well inside the dev issuer's five-minute tokens
POLL_S: Final = 0.5
RETRY_AFTER_CAP_S: Final = 2.0
# Fake nonces the simulator (like the sandbox) accepts any number of times.
CARD_NONCE: Final = "fake-valid-visa-nonce"
# Outcome states per step: the step is over when the order shows one of them or the
# request's correlation id turns up in its history (a refused capture keeps the state).
STEP_DONE: Final[dict[str, frozenset[str]]] = {
    "approve": frozenset({"AUTHORIZED", "DECLINED", "FAILED"}),
    "deposit": frozenset({"PAID"}),
    "refund": frozenset({"PARTIALLY_REFUNDED", "REFUNDED"}),
}


class Tokens:
    """Bearer tokens of the dev identity provider, renewed before they expire: the
    shopper's (password grant), the merchant back office's and the orchestrator's
    service token for the worker views (client credentials)."""

    def __init__(self, http: httpx.AsyncClient, token_endpoint: str) -> None:
        self._http = http
        self._endpoint = token_endpoint
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def _grant(who: str) -> dict[str, str]:
        if who == "shopper":
            user = DEFAULT_USERS[0]
            return {"grant_type": "password", "client_id": SHOP_CLIENT_ID,
                    "username": user.username, "password": user.password}
        if who == "merchant":
            from devstack.dev_realm import MERCHANT_CLIENT_ID, MERCHANT_CLIENT_SECRET

            return {"grant_type": "client_credentials", "client_id": MERCHANT_CLIENT_ID,
                    "client_secret": MERCHANT_CLIENT_SECRET}
        return {"grant_type": "client_credentials", "client_id": ORCHESTRATOR_CLIENT_ID,
                "client_secret": ORCHESTRATOR_CLIENT_SECRET}

    async def get(self, who: str, refresh: bool = False) -> str:
        token, at = self._tokens.get(who, ("", 0.0))
        if not (refresh or not token or time.monotonic() - at > TOKEN_REFRESH_S):
            return token
        async with self._lock:
            token, fetched = self._tokens.get(who, ("", 0.0))
            if fetched > at and token:
                return token  # another task renewed it while this one waited
            delay = 0.2
            while True:
                # The identity provider restarts too under chaos: keep asking, like a client.
                try:
                    resp = await self._http.post(self._endpoint, data=self._grant(who))
                    resp.raise_for_status()
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
            token = str(resp.json()["access_token"])
            self._tokens[who] = (token, time.monotonic())
            return token


def subject_of(token: str) -> str:
    """The `sub` claim of a JWT, unverified: the client only needs its own id."""
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return str(claims["sub"])


@dataclass
class TrafficConfig:
    edge_url: str
    token_endpoint: str
    worker_urls: list[str]
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
    # The edge has a merchant back office (orders registered before checkout, deposits
    # and refunds by the merchant); decided from its OpenAPI document.
    merchant_api: bool = False
    _rng: random.Random = field(init=False)
    _http: httpx.AsyncClient = field(init=False)
    _tokens: Tokens = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)
        # Thousands of orders poll at once: waiting for a pooled connection is normal
        # here, not a failure (pool=None), while reads and connects still time out.
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0, pool=None),
                                       limits=httpx.Limits(max_connections=200))
        self._tokens = Tokens(self._http, self.config.token_endpoint)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _now(self) -> float:
        return time.monotonic() - self.began

    async def _attempt(self, who: str, method: str, path: str, body: dict[str, Any] | None,
                       headers: dict[str, str]) -> httpx.Response | None:
        headers = {**headers, "Authorization": f"Bearer {await self._tokens.get(who)}"}
        try:
            resp = await self._http.request(method, self.config.edge_url + path, json=body,
                                            headers=headers)
        except httpx.TransportError:
            return None
        if resp.status_code == 401:
            await self._tokens.get(who, refresh=True)
        return resp

    async def request(self, op: str, method: str, path: str, body: dict[str, Any] | None,
                      key: str | None, cid: str, target_exists: bool,
                      order_id: str = "", who: str = "shopper") -> httpx.Response | None:
        """Send until an answer that is not worth retrying, or the deadline; the same key
        and correlation id on every attempt."""
        headers = {"X-Correlation-ID": cid}
        if key:
            headers["Idempotency-Key"] = key
        deadline = time.monotonic() + self.config.retry_deadline_s
        delay = 0.2
        while True:
            resp = await self._attempt(who, method, path, body, headers)
            status = resp.status_code if resp is not None else NO_ANSWER
            self.calls.append(Call(self._now(), op, status, target_exists, order_id,
                                   _problem(resp)))
            retry = status in (NO_ANSWER, 401, 429) or status >= 500
            if not retry or time.monotonic() > deadline:
                return resp
            wait = delay * (0.5 + self._rng.random())
            if resp is not None and resp.headers.get("Retry-After", "").isdigit():
                wait = max(wait, min(float(resp.headers["Retry-After"]), RETRY_AFTER_CAP_S))
            await asyncio.sleep(wait)
            delay = min(delay * 2, 2.0)

    async def discover(self) -> None:
        resp = await self._http.get(f"{self.config.edge_url}/openapi.json")
        resp.raise_for_status()
        self.merchant_api = "post" in resp.json().get("paths", {}).get("/v1/orders", {})

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

    async def order_view(self, order_id: str) -> dict[str, Any] | None:
        """The worker's view of the order (any worker routes to its owner); None while
        it is unknown or unreadable."""
        return await read_view(self._http, self.config.worker_urls, order_id,
                               await self._tokens.get("service"))

    async def service_token(self) -> str:
        return await self._tokens.get("service")

    async def _step(self, order_id: str, label: str, kind: str, path: str,
                    body: dict[str, Any], exists: bool) -> bool:
        """One step; True if it was accepted and the order shows its outcome."""
        cid = f"{label}-{kind}"
        op = "checkout" if kind == "approve" else kind
        who = "merchant" if self.merchant_api and kind != "approve" else "shopper"
        main = asyncio.create_task(self.request(op, "POST", path, body, uuid.uuid4().hex,
                                                cid, exists, order_id, who))
        click = None
        if self._rng.random() < self.config.double_click_share:
            click = asyncio.create_task(self.request(op, "POST", path, body, uuid.uuid4().hex,
                                                     cid + "-dbl", exists, order_id, who))
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
            view = await self.order_view(order_id)
            if view is not None and (view.get("state") in STEP_DONE[kind] or any(
                    h.get("correlation_id") == cid for h in view.get("history", []))):
                return view.get("state") in STEP_DONE[kind]
            await asyncio.sleep(POLL_S)
        return False

    async def register(self, label: str, price: dict[str, str]) -> str | None:
        """The merchant registers the order and its price; returns the issued id."""
        shopper = subject_of(await self._tokens.get("shopper"))
        resp = await self.request("register", "POST", "/v1/orders",
                                  {"customer_id": shopper, "amount": price,
                                   "merchant_reference": label},
                                  uuid.uuid4().hex, f"{label}-register", False, "", "merchant")
        if resp is None or resp.status_code != 201:
            return None
        return str(resp.json()["order_id"])

    async def one_order(self, index: int) -> None:
        label = f"chaos-{self.config.run_id}-{index:05d}"
        cents = self._rng.randint(1_000, 50_000)  # 10.00 .. 500.00: no decline amounts
        amount = Decimal(cents) / 100
        price = {"amount": str(amount), "currency": "USD"}
        if self.merchant_api:
            issued = await self.register(label, price)
            if issued is None:
                return
            order_id = issued
        else:
            order_id = label
        self.order_ids.append(order_id)
        checkout: dict[str, Any] = {"order_id": order_id, "amount": price}
        if self._rng.random() < self.config.nonce_share:
            checkout["payment_method_nonce"] = CARD_NONCE
            checkout["payment_method_type"] = "credit_card"
        else:
            checkout["payment_method_token"] = self.card_token
        if not await self._step(order_id, label, "approve", "/v1/checkouts", checkout,
                                self.merchant_api):
            return
        base = f"/v1/orders/{order_id}"
        if not await self._step(order_id, label, "deposit", f"{base}/deposits", {}, True):
            return
        part = (amount * Decimal(self._rng.randint(10, 60)) / 100).quantize(Decimal("0.01"))
        await self._step(order_id, label, "refund", f"{base}/refunds",
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


async def read_view(http: httpx.AsyncClient, worker_urls: list[str], order_id: str,
                    token: str) -> dict[str, Any] | None:
    """An order's view from the first worker that answers for it; None for 404 or while
    none can (recovering, restarting)."""
    for url in worker_urls:
        try:
            resp = await http.get(f"{url}/orders/{order_id}",
                                  headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError:
            continue
        if resp.status_code == 200:
            data: dict[str, Any] = resp.json()
            return data
        if resp.status_code == 404:
            return None
    return None
