"""Correlation ids, request metrics (Prometheus) and the health/metrics routes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.telemetry import TelemetryConfig
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_edge.problems import CORRELATION_HEADER, correlation_id

# Observability here is Prometheus metrics and JSON logs with correlation ids. FastAPI's
# built-in OpenTelemetry hooks look up the global providers on every request even when
# none is configured (~4 % of an edge process's CPU at 300 requests/s), so they are off.
FASTAPI_TELEMETRY = TelemetryConfig(tracing=False, metrics=False, logs=False)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class EdgeMetrics:
    """One registry per app, so A and B can share a process (tests) without clashing."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "paystream_http_requests", "HTTP requests answered",
            ["service", "method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "paystream_http_request_seconds", "Time to answer an HTTP request",
            ["service", "method", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.payments = Counter(
            "paystream_edge_payment_requests", "Payment requests by kind and outcome",
            ["service", "kind", "outcome"], registry=self.registry)
        self.service = service

    def payment(self, kind: str, outcome: str) -> None:
        self.payments.labels(self.service, kind, outcome).inc()

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class EdgeMiddleware:
    """Pure ASGI (BaseHTTPMiddleware would cost more per request than the route itself).

    Assigns the correlation id before anything else runs, echoes it on every response,
    and records count and latency per route template (never the raw path: ids in paths
    would give the metrics unbounded cardinality).
    """

    def __init__(self, app: ASGIApp, metrics: EdgeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        cid = correlation_id(request)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-correlation-id"]
                headers.append((CORRELATION_HEADER.lower().encode(), cid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(self.metrics.service, method, route,
                                         str(status)).inc()
            self.metrics.latency.labels(self.metrics.service, method, route).observe(
                time.perf_counter() - started)


ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]


def install_observability(app: FastAPI, service: str, *,
                          metrics_route: bool = True) -> EdgeMetrics:
    """Metrics middleware; the /metrics route too unless the app faces the public (the
    public facade serves its metrics on its internal ops port, `create_ops_app`)."""
    metrics = EdgeMetrics(service)
    app.add_middleware(EdgeMiddleware, metrics=metrics)
    app.state.metrics = metrics
    if metrics_route:
        install_metrics_route(app, metrics)
    return metrics


def install_metrics_route(app: FastAPI, metrics: EdgeMetrics) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return metrics.render()


def readiness_body(checks: dict[str, str]) -> tuple[int, dict[str, Any]]:
    ready = all(value == "ok" for value in checks.values())
    return (200 if ready else 503), {"status": "ready" if ready else "not ready",
                                     "checks": checks}
