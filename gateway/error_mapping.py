"""SDK and transport exceptions -> the gateway port's error taxonomy.

What matters is whether a call may have been applied: an answer that never arrived after
the request was sent is an unknown outcome (never a refusal), a connection that was never
made is a plain transient error, and only Braintree's own validation answer refuses.
"""

from __future__ import annotations

from typing import Any

import requests
from braintree import exceptions as bt_exc
from braintree.exceptions.http import connection_error as bt_conn
from braintree.exceptions.http import timeout_error as bt_timeout

from gateway.errors import (
    AuthenticationGatewayError,
    GatewayError,
    NotFoundGatewayError,
    OutcomeUnknownError,
    TransientGatewayError,
)


def classify(exc: BaseException, operation: str, *, mutating: bool) -> GatewayError:
    """Map an SDK / transport exception to the port's error taxonomy."""
    maybe_applied = OutcomeUnknownError if mutating else TransientGatewayError
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, requests.exceptions.ConnectTimeout | bt_timeout.ConnectTimeoutError):
        return TransientGatewayError("connect timeout", operation=operation)
    if isinstance(exc, requests.exceptions.ReadTimeout | bt_timeout.ReadTimeoutError):
        return maybe_applied("read timeout: the request may have been applied",
                             operation=operation)
    if isinstance(exc, requests.exceptions.ConnectionError | bt_conn.ConnectionError):
        if _never_connected(exc):
            return TransientGatewayError("connection refused", operation=operation)
        return maybe_applied("connection lost before the answer arrived", operation=operation)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | bt_timeout.TimeoutError):
        return maybe_applied("incomplete answer", operation=operation)
    if isinstance(exc, TimeoutError):
        return maybe_applied("no answer within the timeout", operation=operation)
    if isinstance(exc, bt_exc.AuthenticationError | bt_exc.AuthorizationError):
        return AuthenticationGatewayError(
            f"{type(exc).__name__}: check merchant id and keys", operation=operation)
    if isinstance(exc, bt_exc.NotFoundError):
        return NotFoundGatewayError("not found", operation=operation)
    if isinstance(exc, bt_exc.TooManyRequestsError):
        return TransientGatewayError("throttled (429)", operation=operation, status=429)
    if isinstance(exc, bt_exc.ServiceUnavailableError):
        return TransientGatewayError("service unavailable (503)", operation=operation,
                                     status=503)
    if isinstance(exc, bt_exc.ServerError):
        return _status(maybe_applied, "server error (500)", operation, 500)
    if isinstance(exc, bt_exc.GatewayTimeoutError):
        return _status(maybe_applied, "gateway timeout (504)", operation, 504)
    if isinstance(exc, bt_exc.RequestTimeoutError):
        return TransientGatewayError("request timeout (408)", operation=operation, status=408)
    if isinstance(exc, bt_exc.UnexpectedError) and "HTTP_RESPONSE 5" in str(exc):
        return _status(maybe_applied, str(exc), operation, None)
    if isinstance(exc, requests.exceptions.RequestException):
        return maybe_applied(f"transport error: {type(exc).__name__}", operation=operation)
    # Anything else (a malformed answer, an SDK error we do not know) came after the
    # request may have been sent: for a mutating call that is an unknown outcome, never
    # a refusal, because a refusal would be published as a decline.
    return maybe_applied(f"unexpected {type(exc).__name__}: {exc}", operation=operation)


def _status(
    cls: type[TransientGatewayError], message: str, operation: str, status: int | None
) -> TransientGatewayError:
    return cls(message, operation=operation, status=status)


def _never_connected(exc: BaseException) -> bool:
    """True when the TCP connection was never established, so nothing was sent."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        name = type(cur).__name__
        if name in ("NewConnectionError", "ConnectionRefusedError", "NameResolutionError",
                    "ClientConnectorError", "NeverConnectedError"):
            return True
        stack.extend([getattr(cur, "reason", None), cur.__cause__, cur.__context__])
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    return False
