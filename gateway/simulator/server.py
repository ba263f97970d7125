"""aiohttp server speaking Braintree's XML gateway API, plus /__sim__/ admin endpoints."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from gateway.simulator import render, rules
from gateway.simulator.config import FaultConfig, SimulatorConfig
from gateway.simulator.faults import Fault, FaultPlan
from gateway.simulator.ledger import KeyRecord, Ledger, TxnRecord
from gateway.simulator.rules import Violation
from gateway.simulator.xmlcodec import XmlDecodeError, decode

log = logging.getLogger("gateway.simulator")

XML = "application/xml; charset=utf-8"
# Fields never echoed back in <params>: card data, nonces, tokens, keys.
_SECRET_FIELDS = frozenset({"number", "cvv", "payment_method_nonce", "payment_method_token",
                            "api_request_key", "cryptogram"})


def _sanitize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sanitize(v) for k, v in value.items() if k not in _SECRET_FIELDS}
    if isinstance(value, list):
        return [_sanitize(v) for v in value]
    return value


@dataclass(slots=True)
class Reply:
    status: int
    body: str = ""


class Simulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._initial_faults = config.faults()
        self.faults = FaultPlan(config.faults(), seed=config.seed)
        self.ledger = Ledger(dict(config.merchant_accounts), config.default_merchant_account)
        if config.persist_file:
            self.ledger.load(config.persist_file)
        token = f"{config.public_key}:{config.private_key}".encode()
        self._auth = b"Basic " + base64.b64encode(token)
        self._pending: set[asyncio.Task[Any]] = set()

    # -- plumbing ---------------------------------------------------------------------

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def tick(self) -> None:
        self.ledger.auto_settle(self.faults.config.auto_settle_seconds, self.now())

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(header, self._auth)

    @staticmethod
    def _xml(reply: Reply) -> web.Response:
        return web.Response(status=reply.status, body=reply.body.encode(),
                            content_type="application/xml", charset="utf-8")

    async def _params(self, request: web.Request, root: str) -> dict[str, Any]:
        body = await request.read()
        doc = decode(body)
        value = doc.get(root) if doc else None
        return value if isinstance(value, dict) else {}

    def _txn_reply(self, txn: TxnRecord, params: dict[str, Any], created: bool) -> Reply:
        ok = rules.is_success_status(txn.status)
        body = render.transaction_xml(txn, self.ledger, _sanitize({"transaction": params}))
        return Reply(201 if (ok and created) else (200 if ok else 422), body)

    def _errors(self, violations: list[Violation], params: dict[str, Any]) -> Reply:
        return Reply(422, render.errors_xml(violations, _sanitize({"transaction": params})))

    # -- the request pipeline -----------------------------------------------------------

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/merchants/"):
            return await handler(request)
        if not self._authorized(request):
            return web.Response(status=401)
        fault = self.faults.pick()
        delay = self.faults.latency_seconds()
        request["fault"] = fault
        request["delay"] = delay
        if fault in (Fault.ERROR_5XX, Fault.THROTTLE):
            if delay:
                await asyncio.sleep(delay)
            status = 429 if fault is Fault.THROTTLE else self.faults.config.error_5xx_status
            return web.Response(status=status)
        try:
            response = await handler(request)
        except XmlDecodeError:
            return web.Response(status=400)
        if fault is Fault.DROP_AFTER_APPLY and request.transport is not None:
            # The request has been applied; the caller never hears about it.
            request.transport.abort()
        return response

    async def _respond(self, request: web.Request, work: Callable[[], Reply]) -> web.Response:
        """Latency, timeout hold, then the work. Shielded so a caller that gave up does not
        cancel a request the gateway has accepted."""
        delay: float = request.get("delay", 0.0)
        hold = self.faults.config.timeout_hold_seconds if request.get("fault") is Fault.TIMEOUT \
            else 0.0

        async def run() -> Reply:
            if delay or hold:
                await asyncio.sleep(delay + hold)
            self.tick()
            return work()

        task = asyncio.ensure_future(run())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return self._xml(await asyncio.shield(task))

    async def _idempotent(
        self, request: web.Request, *, op: str, target: str | None, params: dict[str, Any],
        apply: Callable[[datetime], TxnRecord | list[Violation]], created: bool,
    ) -> web.Response:
        merchant = request.match_info["merchant_id"]
        key = params.get("api_request_key") or None
        if key is not None and len(key) > rules.MAX_KEY_LENGTH:
            return self._xml(self._errors([rules.KEY_TOO_LONG], params))
        record: KeyRecord | None = None
        if key is not None:
            fingerprint = json.dumps(
                {"op": op, "target": target,
                 "params": {k: v for k, v in params.items() if k != "api_request_key"}},
                sort_keys=True, default=str)
            existing = self.ledger.keys.get((merchant, key))
            if existing is not None:
                if existing.state == "in_flight":
                    return self._xml(self._errors([rules.KEY_IN_FLIGHT], params))
                if existing.fingerprint != fingerprint:
                    return self._xml(self._errors([rules.KEY_REUSED], params))
                replay = self.ledger.transactions.get(existing.transaction_id or "")
                if replay is not None:
                    # Braintree answers a replay with the original transaction as it is now.
                    return await self._respond(
                        request, lambda: self._txn_reply(replay, params, created))
            record = KeyRecord(merchant_id=merchant, key=key, operation=op,
                               fingerprint=fingerprint, state="in_flight", transaction_id=None,
                               created_at=self.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
            self.ledger.keys[(merchant, key)] = record

        def work() -> Reply:
            try:
                result = apply(self.now())
            except BaseException:
                if record is not None:
                    self.ledger.keys.pop((merchant, record.key), None)
                raise
            if isinstance(result, list):
                # A request rejected by validation created nothing: the key stays reusable.
                if record is not None:
                    self.ledger.keys.pop((merchant, record.key), None)
                return self._errors(result, params)
            if record is not None:
                record.state = "done"
                record.transaction_id = result.id
                self.ledger.dirty = True
            return self._txn_reply(result, params, created)

        return await self._respond(request, work)

    def _txn(self, request: web.Request) -> TxnRecord:
        txn = self.ledger.transactions.get(request.match_info["txn_id"])
        if txn is None:
            raise web.HTTPNotFound()
        return txn

    # -- transaction endpoints ------------------------------------------------------------

    async def create_transaction(self, request: web.Request) -> web.Response:
        params = await self._params(request, "transaction")
        return await self._idempotent(
            request, op="sale", target=None, params=params,
            apply=lambda now: self.ledger.sale(params, now), created=True)

    async def find_transaction(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        return await self._respond(
            request, lambda: Reply(200, render.encode_transaction(txn, self.ledger)))

    async def submit_for_settlement(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        params = await self._params(request, "transaction")
        return await self._idempotent(
            request, op="submit_for_settlement", target=txn.id, params=params,
            apply=lambda now: self.ledger.submit_for_settlement(txn, params, now),
            created=False)

    async def void(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        params = await self._params(request, "transaction")
        return await self._idempotent(
            request, op="void", target=txn.id, params=params,
            apply=lambda now: self.ledger.void(txn, now), created=False)

    async def refund(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        params = await self._params(request, "transaction")
        return await self._idempotent(
            request, op="refund", target=txn.id, params=params,
            apply=lambda now: self.ledger.refund(txn, params, now), created=True)

    async def settlement(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        action = request.match_info["action"]

        def work() -> Reply:
            result = self.ledger.settlement(txn, action, self.now())
            if isinstance(result, list):
                return self._errors(result, {})
            return self._txn_reply(result, {}, False)

        return await self._respond(request, work)

    async def search_ids(self, request: web.Request) -> web.Response:
        criteria = await self._params(request, "search")
        return await self._respond(
            request, lambda: Reply(200, render.search_ids_xml(self.ledger.search(criteria))))

    async def search(self, request: web.Request) -> web.Response:
        criteria = await self._params(request, "search")

        def work() -> Reply:
            ids = self.ledger.search(criteria)
            txns = [self.ledger.transactions[i] for i in ids]
            return Reply(200, render.transactions_xml(txns, self.ledger))

        return await self._respond(request, work)

    # -- customers and vault --------------------------------------------------------------

    async def create_customer(self, request: web.Request) -> web.Response:
        params = await self._params(request, "customer")

        def work() -> Reply:
            result = self.ledger.create_customer(params, self.now())
            if isinstance(result, list):
                return Reply(422, render.errors_xml(result, {"customer": _sanitize(params)}))
            return Reply(201, render.encode_customer(result, self.ledger))

        return await self._respond(request, work)

    async def find_customer(self, request: web.Request) -> web.Response:
        cust = self.ledger.customers.get(request.match_info["customer_id"])
        if cust is None:
            raise web.HTTPNotFound()
        return await self._respond(
            request, lambda: Reply(200, render.encode_customer(cust, self.ledger)))

    async def delete_customer(self, request: web.Request) -> web.Response:
        if not self.ledger.delete_customer(request.match_info["customer_id"]):
            raise web.HTTPNotFound()
        return await self._respond(request, lambda: Reply(200))

    async def create_payment_method(self, request: web.Request) -> web.Response:
        params = await self._params(request, "payment_method")

        def work() -> Reply:
            result = self.ledger.vault(params, self.now())
            if isinstance(result, list):
                return Reply(422, render.errors_xml(result, {"payment_method": _sanitize(params)}))
            return Reply(201, render.encode_payment_method(result, self.ledger))

        return await self._respond(request, work)

    async def find_payment_method(self, request: web.Request) -> web.Response:
        pm = self.ledger.payment_methods.get(request.match_info["token"])
        if pm is None:
            raise web.HTTPNotFound()
        return await self._respond(
            request, lambda: Reply(200, render.encode_payment_method(pm, self.ledger)))

    async def update_payment_method(self, request: web.Request) -> web.Response:
        pm = self.ledger.payment_methods.get(request.match_info["token"])
        if pm is None:
            raise web.HTTPNotFound()
        params = await self._params(request, "payment_method")
        return await self._respond(request, lambda: Reply(200, render.encode_payment_method(
            self.ledger.update_payment_method(pm, params, self.now()), self.ledger)))

    async def delete_payment_method(self, request: web.Request) -> web.Response:
        if not self.ledger.delete_payment_method(request.match_info["token"]):
            raise web.HTTPNotFound()
        return await self._respond(request, lambda: Reply(200))

    # -- admin ----------------------------------------------------------------------------

    async def admin_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def admin_ledger(self, request: web.Request) -> web.Response:
        self.tick()
        return web.json_response(self.ledger.dump())

    async def admin_get_config(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.config.model_dump())

    async def admin_set_config(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            merged = {**self.faults.config.model_dump(), **changes}
            self.faults.config = FaultConfig.model_validate(merged)
        except (ValueError, ValidationError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.faults.config.model_dump())

    async def admin_reset(self, request: web.Request) -> web.Response:
        self.ledger.reset()
        self.faults.config = self._initial_faults.model_copy()
        return web.json_response({"ok": True})

    # -- app ------------------------------------------------------------------------------

    async def _persist_loop(self, app: web.Application) -> AsyncIterator[None]:
        path = self.config.persist_file

        async def loop() -> None:
            while True:
                await asyncio.sleep(1.0)
                if path and self.ledger.dirty:
                    self.ledger.save(path)

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if path:
            self.ledger.save(path)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware], client_max_size=1024 * 1024)
        m = "/merchants/{merchant_id}"
        t = m + "/transactions/{txn_id:[A-Za-z0-9_-]+}"
        app.router.add_post(m + "/transactions", self.create_transaction)
        app.router.add_post(m + "/transactions/advanced_search_ids", self.search_ids)
        app.router.add_post(m + "/transactions/advanced_search", self.search)
        app.router.add_get(t, self.find_transaction)
        app.router.add_put(t + "/submit_for_settlement", self.submit_for_settlement)
        app.router.add_put(t + "/void", self.void)
        app.router.add_post(t + "/refund", self.refund)
        app.router.add_put(
            t + "/{action:settle|settlement_confirm|settlement_decline|settlement_pending}",
            self.settlement)
        app.router.add_post(m + "/customers", self.create_customer)
        app.router.add_get(m + "/customers/{customer_id}", self.find_customer)
        app.router.add_delete(m + "/customers/{customer_id}", self.delete_customer)
        app.router.add_post(m + "/payment_methods", self.create_payment_method)
        pm = m + "/payment_methods/any/{token}"
        app.router.add_get(pm, self.find_payment_method)
        app.router.add_put(pm, self.update_payment_method)
        app.router.add_delete(pm, self.delete_payment_method)
        app.router.add_get("/__sim__/health", self.admin_health)
        app.router.add_get("/__sim__/ledger", self.admin_ledger)
        app.router.add_get("/__sim__/config", self.admin_get_config)
        app.router.add_post("/__sim__/config", self.admin_set_config)
        app.router.add_post("/__sim__/reset", self.admin_reset)
        app.cleanup_ctx.append(self._persist_loop)
        return app


def serve(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8093) -> None:
    """Run the simulator in the foreground until interrupted."""
    sim = Simulator(config)
    log.info("braintree simulator listening on http://%s:%d", host, port)
    web.run_app(sim.app(), host=host, port=port, access_log=None, print=None,
                handle_signals=True, shutdown_timeout=5.0)
