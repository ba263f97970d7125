"""Request limits at the public edge: body size (413) and request rates (429).

The body limit is an ASGI middleware, so an oversized body is refused before anything
reads it; FastAPI reads and parses a route's body before its dependencies (and so before
the bearer token is checked) run. Rates are counted per token subject and per OAuth client
with the `limits` library's moving window, in this process's memory: each edge instance
enforces its own share, which bounds what one caller can make any instance do.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_edge.auth import Principal
from api_edge.errors import RateLimitedError
from api_edge.problems import ProblemException, problem_response, problem_type


def _too_large(limit: int) -> ProblemException:
    return ProblemException(413, "Request body too large",
                            f"Request bodies are limited to {limit} bytes.",
                            type=problem_type("body-too-large"))


class BodyLimitMiddleware:
    """413 for a declared Content-Length over the limit; a body without one (chunked) is
    read here up to the limit first, and refused once it grows past it (the rest is never
    read). The server holds a declared length to its word."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away; let the app see it as it would have.
                await self.app(scope, _replay([message]), send)
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": bytes(body),
                                        "more_body": False}], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(Request(scope), _too_large(self.max_bytes))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


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


class RateLimits:
    """Moving-window limits per token subject and per OAuth client (azp / client_id)."""

    def __init__(self, per_subject: str = "50/second", per_client: str = "500/second") -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_subject: RateLimitItem = parse(per_subject)
        self.per_client: RateLimitItem = parse(per_client)

    async def check(self, principal: Principal) -> None:
        """Count one request; RateLimitedError (429 with Retry-After) once over a limit."""
        for who, limit, identity in (("subject", self.per_subject, principal.subject),
                                     ("client", self.per_client, principal.client_id or "")):
            if not identity:
                continue
            if not await self._limiter.hit(limit, who, identity):
                stats = await self._limiter.get_window_stats(limit, who, identity)
                raise RateLimitedError(who, max(1, math.ceil(stats.reset_time - time.time())))
