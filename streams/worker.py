"""`paystream worker`: runs one Faust worker of the paystream app."""

from __future__ import annotations

import asyncio
import sys

import faust
import uvloop

from streams.app import create_app
from streams.gc_tuning import freeze_startup_objects, tune_collector
from streams.logs import configure_logging
from streams.provision import ensure_topics
from streams.settings import WorkerSettings


def run_worker(settings: WorkerSettings | None = None, loglevel: str = "info") -> None:
    # By default the gateway SDK runs on the event loop's own thread (see
    # gateway.async_transport); with `transport="threads"` it runs on a thread pool, and
    # a shorter GIL switch interval lets a thread whose HTTP answer arrived resume sooner,
    # which is latency a gateway call would otherwise sit through.
    sys.setswitchinterval(0.001)
    # uvloop's loop and socket transports are C: on asyncio's Python loop, its scheduling
    # and the socket writes of every produce request and gateway call were about a sixth
    # of the worker's CPU per payment (docs/benchmarks.md). Faust's consumer thread makes
    # its own loop through the same policy.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    configure_logging("worker", loglevel.upper())
    paystream = create_app(settings)
    asyncio.run(ensure_topics(paystream.settings.kafka_bootstrap_servers,
                              paystream.settings.partitions,
                              paystream.settings.replication_factor))
    worker = faust.Worker(paystream.app, loglevel=loglevel, quiet=True)
    # Everything imported and declared so far lives as long as the process.
    tune_collector()
    freeze_startup_objects()
    worker.execute_from_commandline()
