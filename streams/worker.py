"""`paystream worker`: runs one Faust worker of the paystream app."""

from __future__ import annotations

import asyncio

import faust

from streams.app import create_app
from streams.logs import configure_logging
from streams.provision import ensure_topics
from streams.settings import WorkerSettings


def run_worker(settings: WorkerSettings | None = None, loglevel: str = "info") -> None:
    configure_logging("worker", loglevel.upper())
    paystream = create_app(settings)
    asyncio.run(ensure_topics(paystream.settings.kafka_bootstrap_servers,
                              paystream.settings.partitions,
                              paystream.settings.replication_factor))
    worker = faust.Worker(paystream.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
