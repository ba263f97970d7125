"""The floor of any Python edge on this machine: uvicorn answering 202 after checking the
same bearer token the edge checks, and nothing else.

The edge bench measures it in the same run as the edge (`paystream bench edge
--find-max`), so the edge's figure is also a ratio to what one Python process can do here
at all, which survives a slow period of the machine. It uses the edge's own
`TokenVerifier` (same JWKS cache, same RS256 check), the same uvloop and the same
collector settings; it reads the body but does not validate it, calls nothing, writes
nothing. Run: `python -m devstack.bench.jwt_floor --port N` with PAYSTREAM_AUTH_ISSUER set.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from api_edge.auth import AuthError, AuthSettings, TokenVerifier
from streams.gc_tuning import freeze_startup_objects, tune_collector

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ACCEPTED = b'{"status":"accepted"}'
UNAUTHORIZED = b'{"status":401}'


def floor_app(verifier: TokenVerifier) -> Callable[[dict[str, Any], Receive, Send],
                                                   Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # the request body, read as any endpoint would
            message = await receive()
            more = bool(message.get("more_body"))
        auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        status, body = 202, ACCEPTED
        if scope["path"] == "/readyz":
            status, body = 200, b"{}"
        else:
            try:
                await verifier.verify(auth.removeprefix("Bearer "))
            except AuthError:
                status, body = 401, UNAUTHORIZED
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


async def _serve(port: int) -> None:
    tune_collector()
    server = uvicorn.Server(uvicorn.Config(floor_app(TokenVerifier(AuthSettings())),
                                           host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, server_header=False))
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    freeze_startup_objects()
    await serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(_serve(args.port))


if __name__ == "__main__":
    main()
