"""Analytics: outcome events counted in tumbling one-minute windows.

Two small agents. `analytics-rekey` turns each outcome (keyed by order id) into an
`AnalyticsFact` keyed by its minute on `analytics-facts`; `analytics-windows` folds
the facts of a minute into one row of the windows table. See `tables.analytics`.
"""

from __future__ import annotations

from typing import Any

import faust
from pydantic import ValidationError

from schemas.outcomes import parse_outcome
from streams.logs import get_logger
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

    return store
