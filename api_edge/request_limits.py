"""Request limits at the public edge: body size (413) and request rates (429).

The body limit is an ASGI middleware, so an oversized body is refused before anything
reads it; FastAPI reads and parses a route's body before its dependencies (and so before
the bearer token is checked) run. A route with a larger allowance reads its own body after
its checks, so there a chunked body is counted as the route reads it instead. Rates are
counted per token subject and per OAuth client in a moving window, in this process's
memory: each edge instance enforces its own share, which bounds what one caller can make
any instance do.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping

from limits import RateLimitItem, parse
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_edge.auth import Principal
from api_edge.errors import RateLimitedError
from api_edge.problems import ProblemException, problem_response, problem_type


def _too_large(limit: int) -> ProblemException:
    return ProblemException(413, "Request body too large",
                            f"Request bodies are limited to {limit} bytes.",
                            type=problem_type("body-too-large"))


class BodyTooLargeError(Exception):
    """Raised by the counted `receive` once a body has grown past its route's limit.

    Not a ValueError (nor any error a route turns into a 400 for an unreadable body): it
    must leave the route so that BodyLimitMiddleware answers the 413. No exception handler
    of the app is registered for it, so it passes ExceptionMiddleware; the app's handler
    for Exception sits in ServerErrorMiddleware, outside BodyLimitMiddleware."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


class _CountedBody:
    """The request's `receive`, raising BodyTooLargeError once the body read so far is over
    `limit`, and at every read after that."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.read = 0

    @property
    def over(self) -> bool:
        return self.read > self.limit

    async def __call__(self) -> Message:
        if self.over:
            raise BodyTooLargeError(self.limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.over:
                raise BodyTooLargeError(self.limit)
        return message


class BodyLimitMiddleware:
    """413 for a declared Content-Length over the limit; a body without one (chunked) is
    refused once it grows past it (the rest is never read). The server holds a declared
    length to its word.

    `max_bytes` holds for every request but those `allowances` name: a (method, route
    template) such as ("POST", "/v1/disputes/{dispute_id}/evidence") with its own limit,
    declared by the module that serves the route. The template is matched as Starlette
    matches it (a `{param}` is one path segment), before any route reads the body.

    On a route held to `max_bytes` (or to a smaller allowance) a chunked body is read here,
    up to the limit, before the app runs, so a route that has FastAPI read its body never
    sees one over the limit. A chunked body to a route with a larger allowance is not:
    such a route reads its body itself after checking the caller
    (`api_edge.disputes.read_body`), and reading ahead here would hold up to the allowance
    for a caller it then refuses. The app reads it through a counted `receive`
    instead; once the body is past the limit the answer is the 413, unless the app has
    already started its response."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 allowances: Mapping[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._allowances: list[tuple[str, re.Pattern[str], int]] = [
            (method.upper(), compile_path(path)[0], limit)
            for (method, path), limit in (allowances or {}).items()]

    def limit_for(self, scope: Scope) -> int:
        """The body limit of this request's method and path."""
        method, path = scope.get("method", ""), _route_path(scope)
        for allowed_method, pattern, limit in self._allowances:
            if method == allowed_method and pattern.match(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > limit:
                await self._refuse(scope, receive, send, limit)
                return
            await self.app(scope, receive, send)
            return
        if limit > self.max_bytes:
            await self._counted(scope, receive, send, limit)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away; let the app see it as it would have.
                await self.app(scope, _replay([message]), send)
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await self._refuse(scope, receive, send, limit)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": bytes(body),
                                        "more_body": False}], receive), send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        body = _CountedBody(receive, limit)
        started = False
        # Set when the app answered a read that was cut off: its answer is dropped.
        refused = False

        async def send_until_over(message: Message) -> None:
            nonlocal started, refused
            if refused:
                return
            if message["type"] == "http.response.start" and not started:
                started = True
                if body.over:
                    # The app caught the cut-off read as a bad body (FastAPI does so
                    # for a body it reads itself) and answered it: the answer is the 413.
                    refused = True
                    await self._refuse(scope, receive, send, limit)
                    return
            await send(message)

        try:
            await self.app(scope, body, send_until_over)
        except Exception:
            # BodyTooLargeError, or whatever the app made of it (wrapped, in a group):
            # once the body is over the limit, nothing else is the request's answer.
            if started or not body.over:
                raise
            await self._refuse(scope, receive, send, limit)
            return
        if body.over and not started:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(Request(scope), _too_large(limit))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path routes are matched against: without the root path the app is mounted at."""
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("/", ""):
        return path[len(root):]
    return path


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive that hands out `messages`, then defers to `then` (disconnects)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


class MovingWindow:
    """At most `limit.amount` hits per identity in any `limit.get_expiry()` seconds; a
    refused hit is not counted. Memory: at most `amount` timestamps per active identity;
    identities idle for a whole window are swept out as time passes.

    Not the `limits` library's async memory storage: at every hit that one schedules an
    expiry pass which sends each identity's list through the thread pool
    (`asyncio.to_thread`) while holding that identity's lock, so on a busy edge a thread
    fought the event loop for the GIL all the time and checks queued behind the pass.
    Here a check is a few deque operations on the event loop, nothing awaited.
    """

    def __init__(self, limit: RateLimitItem, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.amount = limit.amount
        self.seconds = float(limit.get_expiry())
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._swept = clock()

    def hit(self, identity: str) -> float | None:
        """None if admitted (and counted); else the seconds until a hit would be."""
        now = self._clock()
        if now - self._swept > self.seconds:
            self._sweep(now)
        hits = self._hits.get(identity)
        if hits is None:
            hits = self._hits[identity] = deque()
        horizon = now - self.seconds
        while hits and hits[0] <= horizon:
            hits.popleft()
        if len(hits) >= self.amount:
            return hits[0] - horizon
        hits.append(now)
        return None

    def _sweep(self, now: float) -> None:
        horizon = now - self.seconds
        for identity in [i for i, hits in self._hits.items() if not hits or hits[-1] <= horizon]:
            del self._hits[identity]
        self._swept = now


class RateLimits:
    """Moving-window limits per token subject and per OAuth client (azp / client_id)."""

    def __init__(self, per_subject: str = "50/second", per_client: str = "500/second") -> None:
        self.per_subject = MovingWindow(parse(per_subject))
        self.per_client = MovingWindow(parse(per_client))

    def check(self, principal: Principal) -> None:
        """Count one request; RateLimitedError (429 with Retry-After) once over a limit."""
        for who, window, identity in (("subject", self.per_subject, principal.subject),
                                      ("client", self.per_client, principal.client_id or "")):
            if not identity:
                continue
            wait = window.hit(identity)
            if wait is not None:
                raise RateLimitedError(who, max(1, math.ceil(wait)))
