"""A test double of the worker's Faust web views (order table and wallet snapshots).

Implements the HTTP contract `api_edge.worker_views` documents, over in-memory dicts, so
the edge can be tested and benchmarked without a Faust worker. It is not the worker:
nothing here consumes Kafka; tests put orders in it directly.

Run standalone (for the edge benchmark): `python -m devstack.bench.fake_views --port N`.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from devstack.dev_realm import MERCHANT_CLIENT_ID
from schemas.money import Money
from schemas.orders import OrderCreated
from tables.order_lifecycle import apply_order_created
from tables.order_record import Order

_NONCE_TYPES = (
    ("fake-paypal", "paypal"),
    ("fake-apple-pay", "apple_pay"),
    ("fake-android-pay", "google_pay"),
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeWorkerViews:
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        # For the edge benchmark: `bench_<i>_<anything>` is a registered order of the
        # i-th of these customers at this price (see `synthesize_orders`).
        self.bench_customers: list[str] = []
        self.bench_price: str | None = None
        self.wallets: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.app = self._build()

    # ----------------------------------------------------------- test helpers

    def put_order(self, order: Order) -> None:
        self.orders[order.order_id] = order

    def put_method(self, customer_id: str, method_type: str = "credit_card",
                   token: str | None = None, make_default: bool = False) -> dict[str, Any]:
        wallet = self.wallets.setdefault(customer_id, [])
        now = _now()
        method: dict[str, Any] = {
            "token": token or f"tok_{uuid.uuid4().hex[:16]}", "type": method_type,
            "is_default": make_default or not wallet,
            "card_brand": "Visa" if method_type == "credit_card" else None,
            "last_4": "1111" if method_type == "credit_card" else None,
            "expiration_month": "12" if method_type == "credit_card" else None,
            "expiration_year": "2030" if method_type == "credit_card" else None,
            "email": "shopper@paystream.test" if method_type == "paypal" else None,
            "created_at": now, "updated_at": now,
        }
        if method["is_default"]:
            for other in wallet:
                other["is_default"] = False
        wallet.append(method)
        return method

    # ------------------------------------------------------------------ views

    def _build(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/orders/{order_id}", self._get_order)
        app.router.add_get("/wallets/{customer_id}", self._get_wallet)
        app.router.add_post("/wallets/{customer_id}/methods", self._add_method)
        app.router.add_get("/wallets/{customer_id}/methods/{token}", self._get_method)
        app.router.add_patch("/wallets/{customer_id}/methods/{token}", self._update_method)
        app.router.add_delete("/wallets/{customer_id}/methods/{token}", self._delete_method)
        return app

    def _note(self, request: web.Request) -> None:
        if len(self.requests) < 10_000:
            self.requests.append((request.method, request.path))

    async def _get_order(self, request: web.Request) -> web.Response:
        self._note(request)
        order_id = request.match_info["order_id"]
        order = self.orders.get(order_id) or self._synthesized(order_id)
        if order is None:
            return web.json_response({"detail": "order not found"}, status=404)
        return web.json_response(order.model_dump(mode="json"))

    def synthesize_orders(self, customers: list[str], price: str) -> None:
        """Answer `bench_<i>_<suffix>` as a CREATED order of customers[i] at `price`, as if
        the merchant had registered it: the benchmark's checkouts each need a fresh
        registered order, and this double does not consume order-created from Kafka."""
        self.bench_customers = customers
        self.bench_price = price

    def _synthesized(self, order_id: str) -> Order | None:
        parts = order_id.split("_", 2)
        if self.bench_price is None or len(parts) != 3 or parts[0] != "bench" \
                or not parts[1].isdigit() or int(parts[1]) >= len(self.bench_customers):
            return None
        return apply_order_created(None, OrderCreated(
            order_id=order_id, customer_id=self.bench_customers[int(parts[1])],
            amount=Money.of(self.bench_price, "USD"), merchant_id=MERCHANT_CLIENT_ID,
            correlation_id="bench", occurred_at=datetime.now(UTC)))

    async def _get_wallet(self, request: web.Request) -> web.Response:
        self._note(request)
        customer = request.match_info["customer_id"]
        if customer not in self.wallets:
            return web.json_response({"detail": "wallet not found"}, status=404)
        return web.json_response({"customer_id": customer, "methods": self.wallets[customer]})

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        wallet = self.wallets.get(request.match_info["customer_id"], [])
        token = request.match_info["token"]
        return next((m for m in wallet if m["token"] == token), None)

    async def _get_method(self, request: web.Request) -> web.Response:
        self._note(request)
        method = self._find(request)
        if method is None:
            return web.json_response({"detail": "payment method not found"}, status=404)
        return web.json_response(method)

    async def _add_method(self, request: web.Request) -> web.Response:
        self._note(request)
        body = await request.json()
        nonce = body.get("nonce")
        if not isinstance(nonce, str) or not nonce.startswith("fake-"):
            return web.json_response({"detail": "the nonce is unknown or already used"},
                                     status=422)
        method_type = next((t for prefix, t in _NONCE_TYPES if nonce.startswith(prefix)),
                           "credit_card")
        method = self.put_method(request.match_info["customer_id"], method_type,
                                 make_default=bool(body.get("make_default")))
        return web.json_response(method, status=201)

    async def _update_method(self, request: web.Request) -> web.Response:
        self._note(request)
        method = self._find(request)
        if method is None:
            return web.json_response({"detail": "payment method not found"}, status=404)
        body = await request.json()
        for name in ("expiration_month", "expiration_year"):
            if body.get(name) is not None:
                method[name] = body[name]
        if body.get("make_default"):
            for other in self.wallets[request.match_info["customer_id"]]:
                other["is_default"] = other is method
        method["updated_at"] = _now()
        return web.json_response(method)

    async def _delete_method(self, request: web.Request) -> web.Response:
        self._note(request)
        method = self._find(request)
        if method is None:
            return web.json_response({"detail": "payment method not found"}, status=404)
        self.wallets[request.match_info["customer_id"]].remove(method)
        return web.Response(status=204)


@contextmanager
def run_fake_views(port: int = 0) -> Iterator[tuple[FakeWorkerViews, str]]:
    """Serve a FakeWorkerViews on 127.0.0.1 in a background thread; yields (fake, url)."""
    fake = FakeWorkerViews()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app, access_log=None)
    started = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", port)
        loop.run_until_complete(site.start())
        server: Any = site._server
        holder["port"] = server.sockets[0].getsockname()[1]
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="fake-worker-views", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("fake worker views did not start")
    try:
        yield fake, f"http://127.0.0.1:{holder['port']}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--customer", action="append", default=[],
                        help="customer_id:token to pre-load a saved card")
    parser.add_argument("--bench-order-price", default=None,
                        help="answer bench_<i>_<suffix> as the i-th customer's order at "
                             "this USD price")
    args = parser.parse_args()
    fake = FakeWorkerViews()
    customers = []
    for spec in args.customer:
        customer, _, token = spec.partition(":")
        fake.put_method(customer, token=token or None)
        customers.append(customer)
    if args.bench_order_price is not None:
        fake.synthesize_orders(customers, args.bench_order_price)
    web.run_app(fake.app, host="127.0.0.1", port=args.port, access_log=None,
                print=lambda *_: None)


if __name__ == "__main__":
    main()
