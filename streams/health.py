"""Liveness, readiness and Prometheus metrics on the worker's own web server."""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def is_ready(app: faust.App) -> bool:
    """Partitions assigned and every table recovered from its changelog."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    return bool(
        app.consumer is not None
        and app.consumer.assignment()
        and not app.rebalancing
        and not app.in_recovery
        and recovery.completed.is_set()
    )


def register_health(app: faust.App) -> None:
    @app.page("/health/live")
    async def live(web: Any, request: Any) -> Any:
        return web.json({"live": True})

    @app.page("/health/ready")
    async def ready(web: Any, request: Any) -> Any:
        ok = is_ready(app)
        return web.json({"ready": ok}, status=200 if ok else 503)

    @app.page("/tables")
    async def tables(web: Any, request: Any) -> Any:
        # Sizes of the partitions this worker holds; with several workers, sum them.
        return web.json({name: len(table) for name, table in app.tables.items()})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
