"""Webhooks out: Braintree's signed notifications, and a sender that retries with back-off.

Format and signing as the SDK's `webhook_testing_gateway.py` builds them and
`webhook_notification_gateway.py` checks them: the payload is the base64 (MIME, with line
breaks) of a `<notification>` document; the signature is `public_key|hex(HMAC-SHA1 keyed by
SHA1(private_key))` of that payload. Delivery is an HTTP POST, form-encoded
`bt_signature` and `bt_payload`, as Braintree sends them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from gateway.simulator.xmlcodec import encode

log = logging.getLogger("gateway.simulator.webhooks")


def signature(public_key: str, private_key: str, payload: bytes) -> str:
    key = hashlib.sha1(private_key.encode()).digest()
    return f"{public_key}|{hmac.new(key, payload, hashlib.sha1).hexdigest()}"


def notification_payload(kind: str, timestamp: datetime, subject_tag: str,
                         subject: dict[str, Any]) -> bytes:
    xml = encode("notification", {"timestamp": timestamp, "kind": kind,
                                  "subject": {subject_tag: subject}})
    return base64.encodebytes(xml.encode())


def outbox_entry(notification_id: str, kind: str, public_key: str, private_key: str,
                 payload: bytes, now: float) -> dict[str, Any]:
    """What is queued and persisted: the signed form, ready to send as it stands."""
    return {"id": notification_id, "kind": kind,
            "bt_signature": signature(public_key, private_key, payload),
            "bt_payload": payload.decode(), "attempts": 0, "next_attempt_at": now,
            "last_error": None}


def backoff(attempts: int, initial: float, ceiling: float) -> float:
    """Seconds before the next try after `attempts` failures: doubling, capped."""
    return float(min(ceiling, initial * (2 ** max(0, attempts - 1))))


@dataclass(slots=True)
class SenderSettings:
    url: str | None
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    timeout_seconds: float


class WebhookSender:
    """Delivers the outbox in order of due time; a 2xx answer is delivery."""

    def __init__(self, outbox: list[dict[str, Any]]) -> None:
        self.outbox = outbox
        self.failed: list[dict[str, Any]] = []
        self.delivered = 0
        self.changed = False
        self._wake = asyncio.Event()

    def enqueue(self, entry: dict[str, Any]) -> None:
        self.outbox.append(entry)
        self.changed = True
        self._wake.set()

    async def run(self, settings: Callable[[], SenderSettings]) -> None:
        """Forever: `settings` is read on every round, so run-time changes apply."""
        async with aiohttp.ClientSession() as session:
            while True:
                self._wake.clear()
                await self._round(session, settings())
                with_due = [e["next_attempt_at"] for e in self.outbox]
                wait = max(0.0, min(with_due) - time.time()) if with_due else 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(wait, 1.0))

    async def _round(self, session: aiohttp.ClientSession, cfg: SenderSettings) -> None:
        if not cfg.url:
            return
        now = time.time()
        for entry in sorted(self.outbox, key=lambda e: e["next_attempt_at"]):
            if entry["next_attempt_at"] > now:
                break
            ok, error = await self._post(session, cfg, entry)
            if entry not in self.outbox:
                continue  # the simulator was reset while this one was on the wire
            entry["attempts"] += 1
            self.changed = True
            if ok:
                self.outbox.remove(entry)
                self.delivered += 1
                continue
            entry["last_error"] = error
            if entry["attempts"] >= cfg.max_attempts:
                self.outbox.remove(entry)
                self.failed.append(entry)
                log.warning("webhook %s (%s) given up after %d attempts: %s",
                            entry["id"], entry["kind"], entry["attempts"], error)
            else:
                entry["next_attempt_at"] = time.time() + backoff(
                    entry["attempts"], cfg.backoff_seconds, cfg.backoff_max_seconds)

    @staticmethod
    async def _post(session: aiohttp.ClientSession, cfg: SenderSettings,
                    entry: dict[str, Any]) -> tuple[bool, str | None]:
        form = {"bt_signature": entry["bt_signature"], "bt_payload": entry["bt_payload"]}
        try:
            async with session.post(cfg.url or "", data=form,
                                    timeout=aiohttp.ClientTimeout(total=cfg.timeout_seconds)
                                    ) as resp:
                if 200 <= resp.status < 300:
                    return True, None
                return False, f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return False, type(exc).__name__
