"""`POST /v1/webhooks/braintree`: Braintree's signed notifications in, Kafka events out.

No shopper auth: the SDK's signature check (`gateway.notifications`) is the
authentication. The answer is fast: verify, parse, produce one `GatewayNotification` to
`gateway-notifications` (acks=all) and answer 200; nothing else happens on this path.
A forged or tampered notification is 403, a request without the two form fields 400, both
problem+json; when Kafka does not acknowledge, 503 so that Braintree delivers it again.
Replays are produced again and deduplicated by the consumers (`notification_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api_edge.problems import ProblemException, problem_responses
from api_edge.settings import EdgeSettings
from gateway.notifications import InvalidNotification, NotificationParser
from schemas.codec import json_bytes
from schemas.notifications import GatewayNotification
from streams.channels import GATEWAY_NOTIFICATIONS

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/v1/webhooks/braintree"
# Braintree's payloads are a few KiB; anything much larger is not one of them.
MAX_FORM_BYTES = 256 * 1024

Sink = Callable[[GatewayNotification], Awaitable[None]]


class NotificationProducer:
    """Produces notifications to Kafka; connects on first use, so the edge starts without it."""

    def __init__(self, bootstrap_servers: str, *, timeout_seconds: float = 5.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout_seconds = timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers, acks="all",
                    enable_idempotence=True,
                    request_timeout_ms=int(self.timeout_seconds * 1000))
                try:
                    await asyncio.wait_for(producer.start(), self.timeout_seconds)
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def __call__(self, notification: GatewayNotification) -> None:
        producer = await self._ready()
        await asyncio.wait_for(producer.send_and_wait(
            GATEWAY_NOTIFICATIONS, json_bytes(notification),
            key=notification.partition_key.encode("utf-8")), self.timeout_seconds)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def install_webhooks(app: FastAPI, settings: EdgeSettings, *,
                     parser: NotificationParser | None = None,
                     sink: Sink | None = None) -> None:
    """Add the webhook route to the public app (and close its producer with the app)."""
    parse = parser or NotificationParser()
    producer: NotificationProducer | None = None
    if sink is None:
        producer = NotificationProducer(settings.kafka_bootstrap_servers,
                                        timeout_seconds=settings.kafka_timeout_seconds)
        sink = producer
    deliver: Sink = sink

    @app.post(WEBHOOK_PATH, tags=["webhooks"], summary="Braintree webhook notifications",
              responses=problem_responses(400, 403, 413, 503),
              openapi_extra={"requestBody": {"content": {
                  "application/x-www-form-urlencoded": {"schema": {
                      "type": "object", "required": ["bt_signature", "bt_payload"],
                      "properties": {"bt_signature": {"type": "string"},
                                     "bt_payload": {"type": "string"}}}}}}})
    async def braintree_webhook(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise ProblemException(413, detail="webhook body too large")
        form = parse_qs(body.decode("ascii", errors="replace"), keep_blank_values=True)
        signature = (form.get("bt_signature") or [""])[0]
        payload = (form.get("bt_payload") or [""])[0]
        if not signature or not payload:
            raise ProblemException(400, detail="bt_signature and bt_payload are required")
        try:
            notification = parse.parse(signature, payload)
        except InvalidNotification as exc:
            if exc.forged:
                log.warning("webhook refused: %s", exc)
                raise ProblemException(403, detail="signature does not verify") from None
            raise ProblemException(400, detail=str(exc)) from None
        try:
            await deliver(notification)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("webhook not produced (%s); Braintree will deliver it again",
                        type(exc).__name__)
            raise ProblemException(503, detail="could not record the notification") from None
        log.info("webhook %s %s", notification.kind, notification.notification_id)
        return JSONResponse({"status": "accepted", "kind": notification.kind,
                             "notification_id": notification.notification_id})

    if producer is not None:
        closing = producer
        original = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(a: Any) -> AsyncIterator[Any]:
            async with original(a) as state:
                try:
                    yield state
                finally:
                    await closing.stop()

        app.router.lifespan_context = lifespan


__all__ = ["WEBHOOK_PATH", "NotificationProducer", "install_webhooks"]
