"""The executor agent: consumes `payment-requests`, one RequestHandler call per record.

Thin on purpose: ordering, concurrency and acks live in OrderedDispatcher, payment rules
in the handler and its pure core.
"""

from __future__ import annotations

from typing import Any

import faust

from agents.ordered_dispatch import OrderedDispatcher
from agents.record_retry import record_key, until_done
from agents.request_handler import RequestHandler
from streams.logs import get_logger

log = get_logger("paystream.executor")


def register_executor(app: faust.App, source: faust.TopicT, handler_factory: Any,
                      in_flight_limit: int) -> Any:
    @app.agent(source, name="payment-executor", concurrency=1)
    async def execute(stream: Any) -> None:
        handler: RequestHandler = handler_factory()
        # Acks are ours: a record is acknowledged only after it and every earlier record
        # of its partition finished, so a commit never skips unfinished work.
        stream.enable_acks = False
        dispatcher: OrderedDispatcher[Any] = OrderedDispatcher(in_flight_limit, stream.ack)
        try:
            async for event in stream.events():
                message = event.message
                key = message.key
                order_key = key if key is not None else message.offset
                raw = event.value

                async def work(raw: bytes = raw, key: bytes | None = key) -> None:
                    await until_done(lambda: handler.handle(raw, key), agent="executor",
                                     order_id=record_key(key))

                await dispatcher.submit(order_key, message.tp, event, work)
                if dispatcher.failures:
                    # A failure here means publishing itself failed (the broker is away):
                    # stop consuming so nothing later is acked; the worker's restart
                    # redelivers from the last committed offset.
                    raise dispatcher.failures[0]
        finally:
            await dispatcher.drain()

    return execute
