"""Liveness, readiness and Prometheus metrics on the worker's own web server.

These answer without a token (the process supervisor, Prometheus and `paystream status`
poll them): they hold booleans, table sizes and counters, never an order, a customer or a
payment method. Every data view needs a service token (`streams.view_auth`).
"""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

CONSUMER_LAG = Gauge("paystream_worker_consumer_lag",
                     "Records behind the partition's end, per topic, for this worker",
                     ["topic"])


def update_consumer_lag(app: faust.App) -> None:
    """Lag = high watermark - committed offset, summed per topic over this worker's
    partitions; computed at scrape time from what the consumer already knows."""
    consumer = app.consumer
    if consumer is None:
        return
    per_topic: dict[str, int] = {}
    for tp in consumer.assignment():
        try:
            high = consumer.highwater(tp)
        except Exception:  # no fetch yet for this partition
            continue
        committed = consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
        if high is None:
            continue
        lag = max(0, high - (committed or 0))
        per_topic[tp.topic] = per_topic.get(tp.topic, 0) + lag
    for topic, lag in per_topic.items():
        CONSUMER_LAG.labels(topic).set(lag)


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
        update_consumer_lag(app)
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
