"""The simulator's request plumbing: auth, faults, latency, idempotency keys, replies,
and the background work (settlement batches, webhook delivery, persistence)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from gateway.simulator import persistence, render, rules
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.faults import Fault, FaultPlan
from gateway.simulator.ledger import Ledger
from gateway.simulator.records import KeyRecord, Notification, TxnRecord, new_id
from gateway.simulator.rules import Violation
from gateway.simulator.webhooks import (
    SenderSettings,
    WebhookSender,
    notification_payload,
    outbox_entry,
)
from gateway.simulator.xmlcodec import XmlDecodeError, decode

log = logging.getLogger("gateway.simulator")

XML = "application/xml; charset=utf-8"
# Fields never echoed back in <params>: card data, nonces, tokens, keys.
_SECRET_FIELDS = frozenset({"number", "cvv", "payment_method_nonce", "payment_method_token",
                            "api_request_key", "cryptogram"})


def sanitize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: sanitize(v) for k, v in value.items() if k not in _SECRET_FIELDS}
    if isinstance(value, list):
        return [sanitize(v) for v in value]
    return value


@dataclass(slots=True)
class Reply:
    status: int
    body: str = ""


class SimBase:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._initial_faults = config.faults()
        self.faults = FaultPlan(config.faults(), seed=config.seed)
        self.ledger = Ledger(dict(config.merchant_accounts), config.default_merchant_account)
        outbox: list[dict[str, Any]] = []
        if config.persist_file:
            outbox = persistence.load(self.ledger, config.persist_file)
            # A restart is a fresh chance: what was owed is tried again at once.
            for entry in outbox:
                entry["next_attempt_at"] = time.time()
        self.webhooks = WebhookSender(outbox)
        token = f"{config.public_key}:{config.private_key}".encode()
        self._auth = b"Basic " + base64.b64encode(token)
        self._pending: set[asyncio.Task[Any]] = set()
        self._last_batch = time.time()

    # -- plumbing ---------------------------------------------------------------------

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def tick(self) -> None:
        """Time-driven work, run before each request and by the background loop."""
        now = self.now()
        cfg = self.faults.config
        self.ledger.auto_settle(cfg.auto_settle_seconds, now)
        if cfg.settlement_batch_seconds and \
                time.time() - self._last_batch >= cfg.settlement_batch_seconds:
            self._last_batch = time.time()
            self.ledger.run_batch(now)
        self.ledger.expire_disputes(now)
        self.emit_webhooks()

    def emit_webhooks(self) -> None:
        """Turn the ledger's notifications into signed webhooks, if anyone listens."""
        notes = self.ledger.drain_notifications()
        if not notes or not self.faults.config.webhook_url:
            return
        for note in notes:
            tag, subject = self._subject(note)
            payload = notification_payload(note.kind, self.now(), tag, subject)
            self.webhooks.enqueue(outbox_entry(new_id(12), note.kind, self.config.public_key,
                                               self.config.private_key, payload, time.time()))

    def _subject(self, note: Notification) -> tuple[str, dict[str, Any]]:
        if note.subject_type == "transaction":
            return "transaction", render.transaction(
                self.ledger.transactions[note.subject_id], self.ledger)
        if note.subject_type == "dispute":
            return "dispute", render.dispute_document(
                self.ledger.disputes[note.subject_id], self.ledger)
        x = note.extra
        return "disbursement", {
            "id": note.subject_id, "transaction_ids": x["transaction_ids"].split(","),
            "success": True, "retry": False,
            "merchant_account": {"id": x["merchant_account_id"],
                                 "currency_iso_code": x["currency"],
                                 "sub_merchant_account": False, "status": "active"},
            "amount": Decimal(x["amount"]),
            "disbursement_date": date.fromisoformat(x["disbursement_date"]),
            "exception_message": None, "follow_up_action": None,
        }

    def sender_settings(self) -> SenderSettings:
        c = self.faults.config
        return SenderSettings(c.webhook_url, c.webhook_max_attempts, c.webhook_backoff_seconds,
                              c.webhook_backoff_max_seconds, c.webhook_timeout_seconds)

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
        body = render.transaction_xml(txn, self.ledger, sanitize({"transaction": params}))
        return Reply(201 if (ok and created) else (200 if ok else 422), body)

    def _errors(self, violations: list[Violation], params: dict[str, Any]) -> Reply:
        return Reply(422, render.errors_xml(violations, sanitize({"transaction": params})))

    # -- the request pipeline -----------------------------------------------------------

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/merchants/") or "/client_api/" in request.path:
            # The client API authenticates by the client token's fingerprint, not the key.
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
            reply = work()
            self.emit_webhooks()
            return reply

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

    # -- background work -----------------------------------------------------------------

    async def background(self, app: web.Application) -> AsyncIterator[None]:
        path = self.config.persist_file

        async def loop() -> None:
            while True:
                await asyncio.sleep(0.2)
                self.tick()
                if path and (self.ledger.dirty or self.webhooks.changed):
                    self.save(path)

        tasks = [asyncio.create_task(loop()),
                 asyncio.create_task(self.webhooks.run(self.sender_settings))]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if path:
            self.save(path)

    def save(self, path: str) -> None:
        self.webhooks.changed = False
        persistence.save(self.ledger, path, self.webhooks.outbox)

