"""`paystream bridge`: the bridge as a long-running process with graceful shutdown."""

from __future__ import annotations

import asyncio
import signal

from prometheus_client import start_http_server

from bridge_sqs.bridge import SqsKafkaBridge
from bridge_sqs.settings import BridgeSettings
from streams.channels import QUEUED_TOPICS
from streams.logs import configure_logging, get_logger


async def serve(settings: BridgeSettings | None = None) -> None:
    bridge = SqsKafkaBridge(settings)
    if bridge.settings.metrics_port:
        start_http_server(bridge.settings.metrics_port, addr="127.0.0.1")
    await bridge.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # SIGTERM lets in-flight batches finish: their messages are then deleted, or
        # left for redelivery if Kafka did not acknowledge them.
        loop.add_signal_handler(sig, bridge.request_stop)
    get_logger("paystream.bridge").info("bridge_started", queue=bridge.settings.queue_name,
                                        topics=list(QUEUED_TOPICS))
    try:
        await bridge.run()
    finally:
        await bridge.stop()
        get_logger("paystream.bridge").info("bridge_stopped")


def run_bridge(settings: BridgeSettings | None = None) -> None:
    configure_logging("bridge")
    asyncio.run(serve(settings))
