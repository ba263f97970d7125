"""The demo's second part: the life of an order after capture, through the edge.

Four orders, one after the other, each checked against the simulator's ledger:

* a split shipment: 100.00 authorized, captured as 40.00 and then the final 60.00 (two
  child transactions of the authorization, `submit_for_partial_settlement`);
* a same-day refund: the full refund of an unsettled capture becomes a void, so the
  order ends REVERSED and nothing ever moves;
* a partial refund before settlement: it waits on the order (pending) until the
  settlement batch runs and its webhook arrives, then the refund runs;
* a dispute: a sale on Braintree's chargeback test card settles, the bank opens a
  dispute (webhook), the merchant contests it with evidence and finalizes, and loses it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import braintree
import httpx
from braintree.test.credit_card_numbers import CreditCardNumbers
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from devstack.demo import Demo, DemoOrder


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


class AfterCapture:
    def __init__(self, demo: Demo, console: Console) -> None:
        self.demo = demo
        self.console = console
        self.rows: list[tuple[str, str, str, bool]] = []

    async def view_until(self, order: DemoOrder, what: str,
                         check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + self.demo.timeout_s
        while time.monotonic() < deadline:
            resp = await self.demo.http.get(f"{self.demo.edge_url}/v1/orders/{order.order_id}",
                                            headers=self.demo.headers)
            if resp.status_code == 200:
                order.view = resp.json()
                order.state = order.view["state"]
                if check(order.view):
                    return order.view
            await asyncio.sleep(0.3)
        raise RuntimeError(f"{order.order_id}: {what} never happened; last view {order.view}")

    async def new_order(self, label: str, price: str, token: str) -> DemoOrder:
        from devstack.demo import DemoOrder

        order = DemoOrder(label, "credit_card", "", price)
        await self.demo.register(order)
        await self.demo.call("POST", "/v1/checkouts", {
            "order_id": order.order_id, "amount": usd(price), "payment_method_token": token})
        await self.view_until(order, "authorization", lambda v: v["state"] == "AUTHORIZED")
        return order

    async def merchant(self, path: str, body: dict[str, Any] | None = None,
                       expect: int = 202) -> dict[str, Any]:
        return await self.demo.call("POST", path, body, expect=expect, as_merchant=True)

    def batch(self) -> None:
        httpx.post(f"{self.demo.simulator_url}/__sim__/settlement_batch",
                   timeout=10).raise_for_status()

    def check(self, label: str, order: DemoOrder, detail: str, ok: bool) -> None:
        self.rows.append((label, order.order_id, detail, ok))
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        self.console.print(f"  {mark} {label}: {detail}")

    async def split_shipment(self, token: str) -> None:
        order = await self.new_order("split shipment", "100.00", token)
        base = f"/v1/orders/{order.order_id}"
        await self.merchant(f"{base}/deposits", {"amount": usd("40.00")})
        view = await self.view_until(order, "first capture",
                                     lambda v: len(v["settlement"]["captures"]) == 1)
        still = view["still_authorized"]["amount"]
        await self.merchant(f"{base}/deposits", {"amount": usd("60.00"), "final_capture": True})
        view = await self.view_until(order, "second capture",
                                     lambda v: len(v["settlement"]["captures"]) == 2)
        ledger = self.demo.ledger()
        auth = next(t for t in ledger["transactions"] if t["order_id"] == order.order_id
                    and not t.get("authorized_transaction_id"))
        children = sorted(Decimal(str(t["amount"])) for t in ledger["transactions"]
                          if t.get("authorized_transaction_id") == auth["id"])
        self.check("split shipment", order,
                   f"captures 40.00 + 60.00 (40.00 left {still} authorized), ledger children "
                   f"{', '.join(map(str, children))}",
                   children == [Decimal("40.00"), Decimal("60.00")]
                   and view["captured_amount"]["amount"] == "100.00"
                   and view["still_authorized"]["amount"] == "0.00")

    async def same_day_refund(self, token: str) -> None:
        order = await self.new_order("same-day refund", "30.00", token)
        base = f"/v1/orders/{order.order_id}"
        await self.merchant(f"{base}/deposits", {})
        await self.view_until(order, "capture", lambda v: v["state"] == "PAID")
        await self.merchant(f"{base}/refunds", {})
        await self.view_until(order, "void", lambda v: v["state"] == "REVERSED")
        sale = next(t for t in self.demo.ledger()["transactions"]
                    if t["order_id"] == order.order_id)
        self.check("same-day refund", order, f"refund before settlement became a void: "
                   f"order REVERSED, ledger {sale['status']}", sale["status"] == "voided")

    async def refund_after_settlement(self, token: str) -> None:
        order = await self.new_order("refund after settlement", "70.00", token)
        base = f"/v1/orders/{order.order_id}"
        await self.merchant(f"{base}/deposits", {})
        await self.view_until(order, "capture", lambda v: v["state"] == "PAID")
        await self.merchant(f"{base}/refunds", {"amount": usd("25.00")})
        view = await self.view_until(order, "refund held",
                                     lambda v: v["pending_operation"] is not None)
        waiting = view["pending_operation"]["last_error"]
        self.batch()
        view = await self.view_until(order, "refund after settlement",
                                     lambda v: v["state"] == "PARTIALLY_REFUNDED")
        ledger = self.demo.ledger()
        sale = next(t for t in ledger["transactions"] if t["order_id"] == order.order_id)
        refunds = [Decimal(str(r["amount"])) for r in ledger["refunds"]
                   if r["refunded_transaction_id"] == sale["id"]]
        self.check("partial refund", order, f"held ({waiting}), ran after the settlement "
                   f"webhook; ledger sale {sale['status']}, refunds {refunds}",
                   sale["status"] == "settled" and refunds == [Decimal("25.00")]
                   and view["settlement"]["settled"])

    async def dispute(self) -> None:
        token = await self.chargeback_card()
        order = await self.new_order("dispute", "83.00", token)
        base = f"/v1/orders/{order.order_id}"
        await self.merchant(f"{base}/deposits", {})
        await self.view_until(order, "capture", lambda v: v["state"] == "PAID")
        self.batch()
        view = await self.view_until(order, "dispute opened", lambda v: v["open_dispute"])
        dispute_id = view["disputes"][0]["dispute_id"]
        await self.merchant(f"/v1/disputes/{dispute_id}/evidence",
                            {"text": "losing_evidence"}, expect=201)
        await self.merchant(f"/v1/disputes/{dispute_id}/finalize", expect=200)
        view = await self.view_until(order, "dispute lost",
                                     lambda v: v["disputes"][0]["state"] == "lost")
        ledger_dispute = next(d for d in self.demo.ledger()["disputes"] if d["id"] == dispute_id)
        lost = view["disputes"][0]["chargeback_amount"]
        self.check("dispute", order, f"opened on settlement, contested, lost: chargeback "
                   f"{lost['amount']} {lost['currency']}, ledger {ledger_dispute['status']}",
                   ledger_dispute["status"] == "lost" and lost["amount"] == "83.00")

    async def chargeback_card(self) -> str:
        """Braintree's chargeback test card, tokenized as a client would and vaulted."""
        nonce = await asyncio.to_thread(self._tokenize, CreditCardNumbers.Disputes.Chargeback)
        method = await self.demo.call("POST", "/v1/wallet/methods", {"nonce": nonce},
                                      expect=201)
        return str(method["token"])

    def _tokenize(self, number: str) -> str:
        parts = urlsplit(self.demo.simulator_url)
        gateway = braintree.BraintreeGateway(braintree.Configuration(
            environment=braintree.Environment("simulator", parts.hostname, str(parts.port), "",
                                              False, None),
            merchant_id="sim_merchant", public_key="sim_public", private_key="sim_private"))
        token = json.loads(base64.b64decode(gateway.client_token.generate()))
        resp = httpx.post(token["clientApiUrl"] + "/v1/payment_methods/credit_cards", json={
            "authorization_fingerprint": token["authorizationFingerprint"],
            "credit_card": {"number": number, "expiration_date": "12/2030"}}, timeout=10)
        resp.raise_for_status()
        return str(resp.json()["creditCards"][0]["nonce"])

    async def run(self, card_token: str) -> list[str]:
        self.console.print("[bold]after capture[/bold]")
        for scenario in (self.split_shipment(card_token), self.same_day_refund(card_token),
                         self.refund_after_settlement(card_token)):
            await scenario
        await self.dispute()
        table = Table(title="after capture vs simulator ledger")
        for col in ("scenario", "order", "what happened", "ledger"):
            table.add_column(col)
        for label, oid, detail, ok in self.rows:
            table.add_row(label, oid, detail, "✓" if ok else "✗")
        self.console.print(table)
        return [f"{oid} ({label}): {detail}" for label, oid, detail, ok in self.rows if not ok]


async def run_after_capture(demo: Demo, console: Console, card_token: str) -> list[str]:
    """Run the after-capture scenarios; the mismatches (empty when all agree)."""
    try:
        return await AfterCapture(demo, console).run(card_token)
    except (RuntimeError, httpx.HTTPError) as exc:
        return [f"after capture: {exc}"]
