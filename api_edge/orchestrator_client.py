"""Payments-A's client of Payments-B: one call with the service token and the shopper.

B's answers come back as they are, with B's problems re-stamped with A's path and
correlation id; B being unreachable becomes a 503/504 the client may retry.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import Request, Response
from pydantic import ValidationError

from api_edge.flow import Actor
from api_edge.http_common import IDEMPOTENCY_HEADER, MERCHANT_HEADER, SHOPPER_HEADER
from api_edge.idempotency import REPLAYED_HEADER
from api_edge.problems import (
    CORRELATION_HEADER,
    FieldError,
    ProblemException,
    correlation_id,
    problem_response,
    problem_type,
)
from api_edge.service_token import ServiceTokenError, ServiceTokenSource
from api_edge.upstream import (
    Upstream,
    UpstreamResponse,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

log = logging.getLogger(__name__)

_PASS_HEADERS: Final = ("location", REPLAYED_HEADER.lower(), "retry-after")


class OrchestratorClient:
    """Calls Payments-B for one request, with the service token and the shopper's identity."""

    def __init__(self, request: Request, tokens: ServiceTokenSource, upstream: Upstream,
                 actor: Actor) -> None:
        self.request = request
        self.tokens = tokens
        self.upstream = upstream
        self.actor = actor

    async def call(self, method: str, path: str, *, key: str | None = None,
                   body: Any = None) -> Response:
        headers = {MERCHANT_HEADER if self.actor.is_merchant else SHOPPER_HEADER: self.actor.id,
                   CORRELATION_HEADER: correlation_id(self.request)}
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        response: UpstreamResponse | None = None
        for attempt in (1, 2):
            try:
                token = await self.tokens.get()
            except ServiceTokenError as exc:
                log.error("no service token for the orchestrator: %s", exc)
                raise _unavailable("cannot be called right now", retry_after=2) from None
            headers["Authorization"] = f"Bearer {token}"
            try:
                response = await self.upstream.request(
                    method, path, json_body=body, headers=headers)
            except UpstreamTimeoutError:
                raise ProblemException(
                    504, "Payment service timeout",
                    "The payment service did not answer in time. The operation may or may "
                    "not have been accepted: retry with the same Idempotency-Key to find "
                    "out safely.", type=problem_type("upstream-timeout")) from None
            except UpstreamUnavailableError as exc:
                log.warning("orchestrator unreachable: %s", exc)
                raise _unavailable("cannot be reached", retry_after=1) from None
            if response.status == 401 and attempt == 1:
                # Our cached service token may have been invalidated (key rotation).
                self.tokens.invalidate()
                continue
            break
        assert response is not None
        return self._translate(response)

    def _translate(self, response: UpstreamResponse) -> Response:
        status = response.status
        passed = {name: response.headers[name] for name in _PASS_HEADERS
                  if name in response.headers}
        if status < 400:
            return Response(response.body, status_code=status, headers=passed,
                            media_type=response.headers.get("content-type"))
        problem = _problem_body(response)
        if status == 401 or (status == 403 and
                             problem.get("type") == problem_type("insufficient-scope")):
            log.error("the orchestrator refused the edge's service credential (%s)", status)
            raise ProblemException(
                502, "Payment service misconfigured",
                "The payment service refused this API's credentials. This is not caused by "
                "your request; quote the correlation id when reporting it.",
                type=problem_type("upstream-auth"))
        if status >= 500 and status != 503:
            raise ProblemException(
                502, "Payment service error",
                "The payment service failed to process the request; retry with the same "
                "Idempotency-Key, and quote the correlation id if it persists.",
                type=problem_type("upstream-error"))
        errors = None
        if isinstance(problem.get("errors"), list):
            try:
                errors = [FieldError.model_validate(e) for e in problem["errors"]]
            except ValidationError:
                errors = None
        return problem_response(self.request, ProblemException(
            status,
            str(problem.get("title") or "") or None,
            str(problem.get("detail") or "") or None,
            type=str(problem.get("type") or "about:blank"),
            errors=errors,
            headers={k: v for k, v in passed.items() if k != "location"}))


def _unavailable(why: str, *, retry_after: int) -> ProblemException:
    return ProblemException(
        503, "Payment service temporarily unavailable",
        f"The payment service {why}; retry shortly with the same Idempotency-Key.",
        type=problem_type("upstream-unavailable"), headers={"Retry-After": str(retry_after)})


def _problem_body(response: UpstreamResponse) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
