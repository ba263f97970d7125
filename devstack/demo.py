"""`paystream demo`: a scripted retail checkout through the HTTP edge, with real tokens.

Two callers, as in a shop: the merchant's back office (client credentials, scope
`merchant:payments`) registers each order with its price and later captures and refunds
it; the shopper (password grant) adds a card, a PayPal account, Apple Pay and Google Pay
to the wallet, checks the orders out at their registered prices and cancels one before
capture. Five orders run concurrently (approve, partial and full deposits, partial and
full refunds, a shopper's reverse, and one processor decline), showing their lifecycle
live. It ends with every
order's final state and amounts checked against the Braintree simulator's ledger, and
exits non-zero if any order ends elsewhere or disagrees with the ledger.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import braintree
import httpx
import jwt
from rich.console import Console
from rich.live import Live
from rich.table import Table

from devstack.demo_after_capture import run_after_capture
from devstack.dev_realm import MERCHANT_CLIENT_ID, MERCHANT_CLIENT_SECRET

CAPTURED = {"submitted_for_settlement", "settling", "settled", "settlement_pending",
            "settlement_confirmed"}


class DemoError(RuntimeError):
    pass


@dataclass
class DemoOrder:
    label: str
    method: str
    expected: str
    price: str
    order_id: str = "—"
    state: str = "—"
    steps: list[str] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)


def _money(view: dict[str, Any], key: str) -> Decimal:
    value = view.get(key)
    return Decimal(value["amount"]) if value else Decimal(0)


class Demo:
    def __init__(self, edge_url: str, token_endpoint: str, simulator_url: str,
                 username: str = "shopper1", password: str = "shopper1-password",
                 timeout_s: float = 60.0) -> None:
        self.edge_url = edge_url.rstrip("/")
        self.token_endpoint = token_endpoint
        self.simulator_url = simulator_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        self.run_id = uuid.uuid4().hex[:8]
        self.orders: list[DemoOrder] = []
        self.http = httpx.AsyncClient(timeout=15)
        self.headers: dict[str, str] = {}
        self.merchant: dict[str, str] = {}
        self.customer_id = ""

    async def token(self) -> str:
        resp = await self.http.post(self.token_endpoint, data={
            "grant_type": "password", "client_id": "paystream-shop",
            "username": self.username, "password": self.password})
        if resp.status_code != 200:
            raise DemoError(f"could not get a shopper token: {resp.status_code} {resp.text}")
        return str(resp.json()["access_token"])

    async def merchant_token(self) -> str:
        resp = await self.http.post(self.token_endpoint, data={"grant_type": "client_credentials"},
                                    auth=(MERCHANT_CLIENT_ID, MERCHANT_CLIENT_SECRET))
        if resp.status_code != 200:
            raise DemoError(f"could not get a merchant token: {resp.status_code} {resp.text}")
        return str(resp.json()["access_token"])

    async def register(self, order: DemoOrder) -> None:
        """The merchant's back office registers the order; paystream issues its id."""
        registered = await self.call("POST", "/v1/orders", {
            "customer_id": self.customer_id, "amount": {"amount": order.price, "currency": "USD"},
            "merchant_reference": f"demo-{self.run_id}-{order.label[:40]}"},
            expect=201, as_merchant=True)
        order.order_id = registered["order_id"]

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   expect: int = 202, *, as_merchant: bool = False) -> dict[str, Any]:
        headers = dict(self.merchant if as_merchant else self.headers)
        if method != "GET":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        headers["X-Correlation-ID"] = f"demo-{self.run_id}-{uuid.uuid4().hex[:8]}"
        # A careful client: 503 (a dependency away, e.g. workers rebalancing) and 429 are
        # retried after Retry-After with the same Idempotency-Key, so nothing runs twice.
        deadline = time.monotonic() + self.timeout_s
        while True:
            resp = await self.http.request(method, self.edge_url + path, json=body,
                                           headers=headers)
            if resp.status_code not in (429, 503) or time.monotonic() > deadline:
                break
            await asyncio.sleep(min(float(resp.headers.get("retry-after", "1")), 5.0))
        if resp.status_code != expect:
            raise DemoError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else {}

    async def add_methods(self) -> dict[str, str]:
        nonces = {"credit_card": "fake-valid-visa-nonce",
                  "paypal": "fake-paypal-billing-agreement-nonce",
                  "apple_pay": "fake-apple-pay-visa-nonce",
                  "google_pay": "fake-android-pay-visa-nonce"}
        tokens = {}
        for i, (kind, nonce) in enumerate(nonces.items()):
            method = await self.call("POST", "/v1/wallet/methods",
                                     {"nonce": nonce, "make_default": i == 0}, expect=201)
            if method["type"] != kind:
                raise DemoError(f"vaulted {kind} came back as {method['type']}")
            tokens[kind] = method["token"]
        return tokens

    async def wait_state(self, order: DemoOrder, states: set[str]) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            resp = await self.http.get(f"{self.edge_url}/v1/orders/{order.order_id}",
                                       headers=self.headers)
            if resp.status_code == 200:
                order.view = resp.json()
                order.state = order.view["state"]
                if order.state in states:
                    return order.view
            if resp.status_code == 429:  # polling too fast for the shopper's rate limit
                await asyncio.sleep(float(resp.headers.get("retry-after", "1")))
            await asyncio.sleep(0.2)
        raise DemoError(f"{order.order_id} stuck in {order.state}, wanted {sorted(states)}")

    def settle(self, order_id: str) -> None:
        """Settle the order's capture via the sandbox testing endpoint (nightly batch)."""
        sale = next(t for t in self.ledger()["transactions"] if t["order_id"] == order_id)
        parts = urlsplit(self.simulator_url)
        gateway = braintree.BraintreeGateway(braintree.Configuration(
            environment=braintree.Environment("simulator", parts.hostname, str(parts.port), "",
                                              False, None),
            merchant_id="sim_merchant", public_key="sim_public", private_key="sim_private"))
        result = gateway.testing.settle_transaction(sale["id"])
        if not result.is_success:
            raise DemoError(f"settling {order_id} failed: {result.message}")

    def ledger(self) -> dict[str, Any]:
        resp = httpx.get(f"{self.simulator_url}/__sim__/ledger", timeout=10)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data

    async def step(self, order: DemoOrder, label: str, method: str, path: str,
                   body: dict[str, Any] | None, states: set[str]) -> None:
        # Capture and refund are the merchant's; checkout and an early cancel the shopper's.
        as_merchant = path.endswith(("/deposits", "/refunds"))
        order.steps.append(f"{'merchant' if as_merchant else 'shopper'}: {label}")
        await self.call(method, path, body, as_merchant=as_merchant)
        await self.wait_state(order, states)

    async def script(self, order: DemoOrder, tokens: dict[str, str]) -> None:
        oid = order.order_id
        base = f"/v1/orders/{oid}"

        def usd(amount: str) -> dict[str, str]:
            return {"amount": amount, "currency": "USD"}

        def checkout(amount: str) -> dict[str, Any]:
            return {"order_id": oid, "amount": usd(amount),
                    "payment_method_token": tokens[order.method]}

        if order.label == "card: partial then full refund":
            await self.step(order, "approve 120.00", "POST", "/v1/checkouts",
                            checkout("120.00"), {"AUTHORIZED"})
            await self.step(order, "deposit", "POST", f"{base}/deposits", {}, {"PAID"})
            await asyncio.to_thread(self.settle, oid)
            await self.step(order, "refund 20.00", "POST", f"{base}/refunds",
                            {"amount": usd("20.00")}, {"PARTIALLY_REFUNDED"})
            await self.step(order, "refund the rest", "POST", f"{base}/refunds", {},
                            {"REFUNDED"})
        elif order.label == "PayPal: partial capture, full refund":
            await self.step(order, "approve 80.00", "POST", "/v1/checkouts",
                            checkout("80.00"), {"AUTHORIZED"})
            await self.step(order, "deposit 50.00 (final)", "POST", f"{base}/deposits",
                            {"amount": usd("50.00"), "final_capture": True}, {"PAID"})
            await asyncio.to_thread(self.settle, oid)
            await self.step(order, "refund", "POST", f"{base}/refunds", {}, {"REFUNDED"})
        elif order.label == "Apple Pay: reverse the approval":
            await self.step(order, "approve 45.00", "POST", "/v1/checkouts",
                            checkout("45.00"), {"AUTHORIZED"})
            await self.step(order, "reverse", "POST", f"{base}/reversals", {}, {"REVERSED"})
        elif order.label == "Google Pay: deposit":
            await self.step(order, "approve 60.00", "POST", "/v1/checkouts",
                            checkout("60.00"), {"AUTHORIZED"})
            await self.step(order, "deposit", "POST", f"{base}/deposits", {}, {"PAID"})
        else:
            await self.step(order, "approve 2001.00", "POST", "/v1/checkouts",
                            checkout("2001.00"), {"DECLINED", "AUTHORIZED"})

    def live_table(self) -> Table:
        table = Table(title=f"paystream demo {self.run_id}")
        for col in ("order (issued by paystream)", "scenario", "steps", "state"):
            table.add_column(col)
        for o in self.orders:
            table.add_row(o.order_id, o.label, " → ".join(o.steps), o.state)
        return table

    def final_table(self) -> tuple[Table, list[str]]:
        ledger = self.ledger()
        problems = []
        table = Table(title="final state (edge) vs simulator ledger")
        for col in ("order", "method", "state", "authorized", "captured", "refunded",
                    "ledger"):
            table.add_column(col)
        for o in self.orders:
            sale = next((t for t in ledger["transactions"] if t["order_id"] == o.order_id),
                        None)
            refunds = sum(Decimal(r["amount"]) for r in ledger["refunds"]
                          if sale and r["refunded_transaction_id"] == sale["id"])
            authorized = _money(o.view, "authorized_amount")
            captured = _money(o.view, "captured_amount")
            refunded = _money(o.view, "refunded_amount")
            ok = o.state == o.expected
            if sale is None:
                ok = False
            elif o.expected == "DECLINED":
                ok = ok and sale["status"] == "processor_declined"
            else:
                ledger_captured = (Decimal(sale["amount"]) if sale["status"] in CAPTURED
                                   else Decimal(0))
                # A final capture of less releases the rest: the order then shows what
                # the authorization still holds, the captured amount.
                ledger_authorized = Decimal(sale["authorized_amount"])
                ok = ok and authorized in (ledger_authorized, ledger_captured) \
                    and ledger_captured == captured and refunds == refunded
            if not ok:
                problems.append(f"{o.order_id} ({o.label}): state {o.state}, ledger {sale}")
            table.add_row(o.order_id, o.method, o.state, str(authorized), str(captured),
                          str(refunded),
                          f"{sale['status'] if sale else 'missing'} "
                          f"{'✓' if ok else '✗'}")
        return table, problems

    async def run(self, console: Console) -> int:
        try:
            shopper_token = await self.token()
            self.headers = {"Authorization": f"Bearer {shopper_token}"}
            # Whose orders the merchant registers: the shopper's id is the token's subject
            # (read, not trusted: the edge verifies the token itself).
            self.customer_id = str(jwt.decode(shopper_token,
                                              options={"verify_signature": False})["sub"])
            self.merchant = {"Authorization": f"Bearer {await self.merchant_token()}"}
            console.print(f"shopper and merchant tokens obtained from {self.token_endpoint}")
            tokens = await self.add_methods()
            console.print(f"wallet: {', '.join(tokens)} vaulted")
            scenarios = [("card: partial then full refund", "credit_card", "REFUNDED", "120.00"),
                         ("PayPal: partial capture, full refund", "paypal", "REFUNDED",
                          "80.00"),
                         ("Apple Pay: reverse the approval", "apple_pay", "REVERSED", "45.00"),
                         ("Google Pay: deposit", "google_pay", "PAID", "60.00"),
                         ("card: processor decline", "credit_card", "DECLINED", "2001.00")]
            self.orders = [DemoOrder(label, method, expected, price)
                           for label, method, expected, price in scenarios]
            for order in self.orders:
                await self.register(order)
            console.print(f"merchant registered {len(self.orders)} orders")
            with Live(self.live_table(), console=console, refresh_per_second=8) as live:
                tasks = [asyncio.create_task(self.script(o, tokens)) for o in self.orders]
                while not all(t.done() for t in tasks):
                    live.update(self.live_table())
                    await asyncio.sleep(0.1)
                live.update(self.live_table())
                errors = [t.exception() for t in tasks if t.exception()]
            for err in errors:
                console.print(f"[red]{err}[/red]")
            table, problems = self.final_table()
            console.print(table)
            problems += await run_after_capture(self, console, tokens["credit_card"])
            for problem in problems:
                console.print(f"[red]mismatch: {problem}[/red]")
            if errors or problems:
                return 1
            console.print("[green]every order ended as expected and matches the ledger[/green]")
            return 0
        finally:
            await self.http.aclose()


def run_demo(edge_url: str, token_endpoint: str, simulator_url: str) -> int:
    console = Console()
    return asyncio.run(Demo(edge_url, token_endpoint, simulator_url).run(console))
