"""Idempotency-Key handling for Payments-B: a replay gets the original answer.

Keys are scoped to the shopper, so two shoppers picking the same key never see each
other's responses. A key is bound to the fingerprint of the first request made with it
(method, route and the validated body); the same key with another request is refused.

Only successful (2xx) answers are remembered. A refusal (409, 422 from the wallet, a 503
while a dependency is down) releases the key so the client can retry with it once the
cause is fixed: a remembered refusal would otherwise outlive its reason.

This store lives in one process's memory (bounded, with a TTL) and is the first level
only. Payment requests carry their fingerprint to the order agent, which keeps the key in
the order's changelogged record for 24 hours (`tables.request_keys`); an instance that
misses here (restarted, or not the one that took the first request) finds the key in the
order view and replays the original 202, or refuses another body with 422. Between the
202 and the order agent recording the key (the bridge and the agent, usually well under
a second) only this store knows it. Even a replay that misses both is not a double
charge: the downstream keys (SQS deduplication id, payment id, the gateway's
api_request_key) derive from the same (caller, key) pair. Wallet writes pass the key on
to the wallet agent, which answers a repeated command with its first result.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

# Marks an answer replayed from the store rather than produced now.
REPLAYED_HEADER: Final = "Idempotent-Replayed"


def fingerprint(method: str, route: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method}\x1f{route}\x1f{canonical}".encode()).hexdigest()


def downstream_key(customer_id: str, key: str) -> str:
    """A globally unique key for (shopper, Idempotency-Key), safe for SQS and Braintree.

    43 characters of [A-Za-z0-9_-]: fits SQS's MessageDeduplicationId (128) and the
    IdempotencyKey wire type (64) that doubles as Braintree's api_request_key.
    """
    digest = hashlib.sha256(f"{customer_id}\x1f{key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    media_type: str | None


class IdempotencyMismatchError(Exception):
    """The key was first used for a different request."""


class IdempotencyInProgressError(Exception):
    """A request with this key is still being processed."""


@dataclass
class _Entry:
    fingerprint: str
    created: float
    response: StoredResponse | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Reservation:
    scope_key: tuple[str, str]
    entry: _Entry


class IdempotencyStore:
    def __init__(
        self,
        *,
        ttl_seconds: float = 24 * 3600.0,
        max_entries: int = 100_000,
        wait_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.wait_seconds = wait_seconds
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def reserve(
        self, customer_id: str, key: str, request_fingerprint: str
    ) -> Reservation | StoredResponse:
        """Claim the key, or get the remembered response of an earlier identical request.

        A concurrent duplicate waits for the first request's outcome rather than running
        twice. Raises IdempotencyMismatchError or IdempotencyInProgressError.
        """
        scope_key = (customer_id, key)
        while True:
            self._expire()
            entry = self._entries.get(scope_key)
            if entry is None:
                entry = _Entry(request_fingerprint, self._clock())
                self._entries[scope_key] = entry
                self._bound()
                return Reservation(scope_key, entry)
            if entry.fingerprint != request_fingerprint:
                raise IdempotencyMismatchError(key)
            if entry.response is not None:
                return entry.response
            try:
                await asyncio.wait_for(entry.done.wait(), self.wait_seconds)
            except TimeoutError:
                raise IdempotencyInProgressError(key) from None
            # Completed: the loop replays it. Released: the loop claims the key anew.

    def complete(self, reservation: Reservation, response: StoredResponse) -> None:
        entry = reservation.entry
        if 200 <= response.status < 300 and self._entries.get(reservation.scope_key) is entry:
            entry.response = response
        else:
            self._drop(reservation)
        entry.done.set()

    def release(self, reservation: Reservation) -> None:
        self._drop(reservation)
        reservation.entry.done.set()

    def _drop(self, reservation: Reservation) -> None:
        if self._entries.get(reservation.scope_key) is reservation.entry:
            del self._entries[reservation.scope_key]

    def _expire(self) -> None:
        # Insertion order is creation order, so expired entries sit at the front.
        horizon = self._clock() - self.ttl_seconds
        while self._entries:
            scope_key, entry = next(iter(self._entries.items()))
            if entry.created > horizon:
                break
            del self._entries[scope_key]
            entry.done.set()

    def _bound(self) -> None:
        while len(self._entries) > self.max_entries:
            _, entry = self._entries.popitem(last=False)
            entry.done.set()


def request_fingerprint(request: Request, body: Any) -> str:
    route = getattr(request.scope.get("route"), "path", request.url.path)
    # The path's ids are part of the request: the same key on another order is another
    # request, even with an identical body.
    return fingerprint(request.method, f"{route}|{request.url.path}", body)


async def run_idempotent(
    request: Request, store: IdempotencyStore, customer_id: str, key: str, body: Any,
    handler: Callable[[], Awaitable[Response]], *, fp: str | None = None,
) -> Response:
    """Run a write once per (caller, key): a replay gets the remembered answer.

    Raises IdempotencyMismatchError or IdempotencyInProgressError (see `reserve`).
    """
    fp = fp or request_fingerprint(request, body)
    claim = await store.reserve(customer_id, key, fp)
    if isinstance(claim, StoredResponse):
        return Response(claim.body, status_code=claim.status, media_type=claim.media_type,
                        headers={REPLAYED_HEADER: "true"})
    try:
        response = await handler()
    except BaseException:
        store.release(claim)
        raise
    store.complete(claim, StoredResponse(response.status_code, bytes(response.body),
                                         response.media_type))
    return response
