"""The edge's client of the worker views: a 503 (tables recovering, owner unknown) stays a
retryable unavailability, never a "not found"; with several workers the next one is asked
when one is down or recovering, and a write goes to another only when that is safe."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from api_edge.errors import DependencyUnavailableError
from api_edge.problems import problem_for
from api_edge.upstream import UpstreamResponse, UpstreamTimeoutError, UpstreamUnavailableError
from api_edge.worker_views import WorkerUnavailableError, WorkerViews
from tables.order_lifecycle import order_view
from tables.order_record import new_order

RECOVERING = UpstreamResponse(
    503, {"retry-after": "1", "content-type": "application/problem+json"},
    json.dumps({"type": "about:blank", "title": "Tables recovering", "status": 503,
                "detail": "retry shortly", "retry_after": 1}).encode())
NOT_FOUND = UpstreamResponse(404, {}, json.dumps({"error": {"status": 404}}).encode())


def _order(order_id: str) -> UpstreamResponse:
    body = order_view(new_order(order_id, "cust-1", datetime.now(UTC)))
    return UpstreamResponse(200, {}, json.dumps(body, default=str).encode())


class ScriptedUpstream:
    """One worker: answers (or fails) from a script, and records what it was asked."""

    def __init__(self, *answers: UpstreamResponse | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      headers: Mapping[str, str] | None = None,
                      timeout: float | None = None) -> UpstreamResponse:
        self.calls.append(method)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        return None


def _views(*workers: ScriptedUpstream) -> WorkerViews:
    views = WorkerViews(",".join(f"http://127.0.0.1:{6066 + i}" for i in range(len(workers))))
    views._upstreams = list(workers)
    return views


async def test_a_recovering_worker_is_unavailable_not_not_found() -> None:
    views = _views(ScriptedUpstream(RECOVERING))
    with pytest.raises(WorkerUnavailableError):
        await views.get_order("order-1")
    with pytest.raises(WorkerUnavailableError):
        await views.get_method("cust-1", "pm_1")
    with pytest.raises(WorkerUnavailableError):
        await views.list_methods("cust-1")


def test_the_edge_answers_an_unavailable_view_with_a_retryable_503() -> None:
    problem = problem_for(DependencyUnavailableError("order table"))
    assert problem.status == 503
    assert "Retry-After" in problem.headers


async def test_the_next_worker_answers_when_one_is_recovering_or_down() -> None:
    recovering = ScriptedUpstream(RECOVERING)
    down = ScriptedUpstream(UpstreamUnavailableError("ClientConnectorError"))
    ready = ScriptedUpstream(_order("order-1"))
    views = _views(recovering, down, ready)
    order = await views.get_order("order-1")
    assert order is not None and order.order_id == "order-1"
    # The worker that answered is asked first next time.
    await views.get_order("order-1")
    assert (len(recovering.calls), len(down.calls), len(ready.calls)) == (1, 1, 2)


async def test_a_404_from_a_recovered_worker_is_final() -> None:
    views = _views(ScriptedUpstream(NOT_FOUND), ScriptedUpstream(_order("order-1")))
    assert await views.get_order("order-1") is None


async def test_every_worker_recovering_stays_unavailable() -> None:
    views = _views(ScriptedUpstream(RECOVERING), ScriptedUpstream(
        UpstreamTimeoutError("GET timed out")))
    with pytest.raises(WorkerUnavailableError):
        await views.get_order("order-1")


async def test_a_write_is_not_sent_twice_unless_keyed_or_never_sent() -> None:
    timed_out = ScriptedUpstream(UpstreamTimeoutError("PATCH timed out"))
    other = ScriptedUpstream(_order("x"))
    views = _views(timed_out, other)
    with pytest.raises(WorkerUnavailableError):
        await views.update_method("cust-1", "pm_1", {"make_default": True}, key="k-1")
    assert other.calls == []

    unkeyed = ScriptedUpstream(RECOVERING)
    other = ScriptedUpstream(_order("x"))
    with pytest.raises(WorkerUnavailableError):
        await _views(unkeyed, other).delete_method("cust-1", "pm_1")
    assert other.calls == []

    refused = ScriptedUpstream(UpstreamUnavailableError("ClientConnectorError"))
    deleted = ScriptedUpstream(UpstreamResponse(204, {}, b""))
    assert await _views(refused, deleted).delete_method("cust-1", "pm_1") is True
