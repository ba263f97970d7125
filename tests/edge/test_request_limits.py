"""The edge's moving-window rate limit, on a controlled clock; the body limit's handling of
a chunked body, at the ASGI level (the edge's routes: tests/settlement/test_dispute_routes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse
from limits import parse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_edge.problems import install_problem_handlers
from api_edge.request_limits import BodyLimitMiddleware, BodyTooLargeError, MovingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_admits_the_limit_per_window_and_says_when_the_next_is_admitted() -> None:
    clock = Clock()
    window = MovingWindow(parse("3/second"), clock=clock)
    assert [window.hit("a") for _ in range(3)] == [None, None, None]
    clock.now += 0.25
    wait = window.hit("a")
    assert wait is not None and abs(wait - 0.75) < 1e-9
    # Another identity has its own window.
    assert window.hit("b") is None
    # The window moves: once the first hits are a second old, there is room again.
    clock.now += 0.75
    assert window.hit("a") is None
    assert window.hit("a") is None
    assert window.hit("a") is None
    assert window.hit("a") is not None


def test_a_refused_hit_is_not_counted() -> None:
    clock = Clock()
    window = MovingWindow(parse("1/minute"), clock=clock)
    assert window.hit("a") is None
    for _ in range(10):
        clock.now += 1
        assert window.hit("a") is not None
    clock.now = 1000.0 + 60.0
    assert window.hit("a") is None


def test_idle_identities_are_swept() -> None:
    clock = Clock()
    window = MovingWindow(parse("5/second"), clock=clock)
    for i in range(100):
        window.hit(f"shopper-{i}")
    clock.now += 2.0
    window.hit("active")
    assert list(window._hits) == ["active"]


# ------------------------------------------------------------------ body limit, chunked

LIMIT = 1024
ALLOWANCE = 8 * 1024
PIECE = 256


class Chunked:
    """An ASGI `receive` handing out `body` in PIECE-byte messages, counting what it handed."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.handed = 0

    async def __call__(self) -> Message:
        piece = self.body[self.handed:self.handed + PIECE]
        self.handed += len(piece)
        return {"type": "http.request", "body": piece,
                "more_body": self.handed < len(self.body)}


ALLOWANCES = {("POST", "/big/{kind}"): ALLOWANCE}


def limited(app: ASGIApp) -> BodyLimitMiddleware:
    return BodyLimitMiddleware(app, LIMIT, ALLOWANCES)


async def post_chunked(app: ASGIApp, path: str, body: bytes, *, token: bool = False
                       ) -> tuple[list[Message], Chunked]:
    """POST `body` without a Content-Length to `app`: what was sent, and how much of the
    body was taken."""
    receive = Chunked(body)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"host", b"edge.test"), (b"content-type", b"application/json"),
               (b"transfer-encoding", b"chunked")]
    if token:
        headers.append((b"authorization", b"Bearer t"))
    await app({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
               "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
               "root_path": "", "query_string": b"", "server": ("edge.test", 80),
               "client": ("127.0.0.1", 50000), "headers": headers}, receive, send)
    return sent, receive


def answer(sent: list[Message]) -> tuple[int, dict[str, str], Any]:
    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]},
            json.loads(content))


def assert_too_large(sent: list[Message], limit: int) -> None:
    status, headers, problem = answer(sent)
    assert status == 413, problem
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert problem["type"] == "urn:paystream:problem:body-too-large"
    assert str(limit) in problem["detail"]


def edge_like_app() -> FastAPI:
    """The body limit (LIMIT; ALLOWANCE on every path under /big) where the edge has it:
    a middleware of the app, with the edge's problem handlers (one for Exception)."""
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=LIMIT, allowances=ALLOWANCES)

    @app.post("/small")
    async def small(request: Request) -> JSONResponse:
        return JSONResponse({"read": len(await request.body())})

    @app.post("/big/raw")
    async def raw(request: Request) -> JSONResponse:
        if request.headers.get("authorization") is None:
            return JSONResponse({"detail": "no token"}, status_code=401)
        return JSONResponse({"read": len(await request.body())})

    @app.post("/big/declared")
    async def declared(body: Any = Body(...)) -> JSONResponse:
        return JSONResponse({})

    return app


async def test_a_chunked_body_over_the_default_limit_is_refused_before_the_app_runs() -> None:
    ran: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        ran.append(scope["path"])

    sent, taken = await post_chunked(limited(app), "/small", b"x" * (4 * LIMIT))
    assert_too_large(sent, LIMIT)
    assert ran == []
    assert LIMIT < taken.handed <= LIMIT + PIECE
    # Within the limit: read here, then handed to the app whole, in one message.
    sent, taken = await post_chunked(edge_like_app(), "/small", b"x" * LIMIT)
    assert answer(sent)[0::2] == (200, {"read": LIMIT})


async def test_on_a_route_with_an_allowance_the_app_reads_a_chunked_body_itself() -> None:
    """Nothing is read ahead for the route: a caller it refuses before reading has none of
    its body read, whether within the allowance or past it."""
    app = edge_like_app()
    for size in (ALLOWANCE, 4 * ALLOWANCE):
        sent, taken = await post_chunked(app, "/big/raw", b"x" * size)
        assert answer(sent)[0] == 401
        assert taken.handed == 0


async def test_a_chunked_body_over_the_allowance_is_413_as_the_route_reads_it() -> None:
    """Out of the route, past the app's exception handling: its handler for Exception sits
    outside the body limit (Starlette's ServerErrorMiddleware), so the 413 is not a 500."""
    app = edge_like_app()
    sent, taken = await post_chunked(app, "/big/raw", b"x" * ALLOWANCE, token=True)
    assert answer(sent)[0::2] == (200, {"read": ALLOWANCE})
    assert taken.handed == ALLOWANCE
    sent, taken = await post_chunked(app, "/big/raw", b"x" * (4 * ALLOWANCE), token=True)
    assert_too_large(sent, ALLOWANCE)
    assert ALLOWANCE < taken.handed <= ALLOWANCE + PIECE


async def test_a_cut_off_read_the_app_makes_its_own_answer_of_is_still_413() -> None:
    # FastAPI reads a declared body itself and answers any error reading it with a 400.
    sent, taken = await post_chunked(edge_like_app(), "/big/declared", b"x" * (4 * ALLOWANCE))
    assert_too_large(sent, ALLOWANCE)
    assert taken.handed <= ALLOWANCE + PIECE

    async def swallowing(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except BodyTooLargeError:
            return

    sent, _ = await post_chunked(limited(swallowing), "/big/raw", b"x" * (4 * ALLOWANCE))
    assert_too_large(sent, ALLOWANCE)


async def test_past_the_allowance_after_the_answer_started_the_error_is_raised() -> None:
    """A 413 cannot follow a started answer; the server ends the connection instead."""

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive()).get("more_body"):
            await send({"type": "http.response.body", "body": b".", "more_body": True})

    with pytest.raises(BodyTooLargeError):
        await post_chunked(limited(streaming), "/big/raw", b"x" * (4 * ALLOWANCE))
