"""Never skip a record: a step that raises is tried again on the same record.

When an agent raises, faust's supervisor restarts it in the same process without
rewinding the stream, so the record is silently skipped (faust-streaming #315). The steps
our agents run are idempotent (deduplicated by idempotency key or event id), so trying
the same record again is always safe, and it is what a broker outage needs anyway: the
record waits, later records of the same order wait behind it, and nothing is acknowledged
past it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agents import metrics
from streams.logs import get_logger
from tables.pending import PendingPolicy, retry_delay

log = get_logger("paystream.agents")

T = TypeVar("T")

# The pending operations' back-off, capped lower: a failed step is our side (a broker
# away, a bug), not the gateway's 60 s.
BACK_OFF = PendingPolicy(base_s=0.2, cap_s=30.0)


def record_key(key: bytes | None) -> str | None:
    """A record's key as text for logs (the order id on every keyed topic)."""
    return key.decode("utf-8", "replace") if key else None


async def until_done(step: Callable[[], Awaitable[T]], *, agent: str, order_id: str | None,
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    attempt = 0
    while True:
        try:
            return await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            attempt += 1
            metrics.RECORD_RETRIES.labels(agent).inc()
            log.error("record_failed_retrying", agent=agent, order_id=order_id,
                      attempt=attempt, error=type(exc).__name__, detail=str(exc)[:200])
            await sleep(retry_delay(attempt - 1, BACK_OFF, random.random()))
