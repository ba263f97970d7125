"""Analytics: outcome events counted in tumbling one-minute windows.

Two small agents. `analytics-rekey` turns each outcome (keyed by order id) into an
`AnalyticsFact` keyed by its minute on `analytics-facts`; `analytics-windows` folds
the facts of a minute into one row of the windows table. See `tables.analytics`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import ValidationError

from agents import metrics
from schemas.dead_letter import DeadLetter
from schemas.outcomes import parse_outcome
from streams.channels import ANALYTICS_FACTS
from streams.logs import get_logger
from streams.publisher import send_and_wait
from streams.settings import WorkerSettings
from streams.topics import Topics
from tables.analytics import AnalyticsFact, AnalyticsWindow, add_fact, fact_of, window_key
from tables.model_table import ModelTable
from tables.worker_tables import analytics_table

log = get_logger("paystream.analytics")


def register_analytics(app: faust.App, topics: Topics,
                       settings: WorkerSettings) -> ModelTable[AnalyticsWindow]:
    """Declare the windows table and both agents; returns the table."""
    store = analytics_table(app, settings.partitions)
    facts = topics.analytics_facts

    @app.agent(topics.all_outcomes, name="analytics-rekey", concurrency=1)
    async def rekey(stream: Any) -> None:
        async for raw in stream:
            try:
                fact = fact_of(parse_outcome(raw))
            except ValidationError as exc:
                log.warning("analytics.undecodable", error=type(exc).__name__)
                continue
            # Not awaiting the broker's ack per record: faust flushes the producer
            # before it commits the source offsets, which keeps this at-least-once.
            await facts.send(key=window_key(fact.occurred_at).encode("utf-8"),
                             value=fact.model_dump_json().encode("utf-8"))

    @app.agent(facts, name="analytics-windows", concurrency=1)
    async def windows(stream: Any) -> None:
        async for event in stream.events():
            try:
                fact = AnalyticsFact.model_validate_json(event.value)
                key = window_key(fact.occurred_at)
                store.put(key, add_fact(store.get(key), fact))
            except (ValidationError, ValueError) as exc:
                log.warning("analytics.bad_fact", error=type(exc).__name__)
                metrics.DEAD_LETTERS.labels(source=ANALYTICS_FACTS).inc()
                await send_and_wait(topics.dead_letters, None, DeadLetter(
                    source=ANALYTICS_FACTS, reason=f"undecodable analytics fact: {exc}",
                    payload=event.value, error_type=type(exc).__name__,
                    first_seen_at=datetime.now(UTC), attempts=1))

    return store
