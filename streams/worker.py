"""`paystream worker`: runs one Faust worker of the paystream app."""

from __future__ import annotations

import faust

from streams.app import create_app
from streams.logs import configure_logging
from streams.settings import WorkerSettings


def run_worker(settings: WorkerSettings | None = None, loglevel: str = "info") -> None:
    configure_logging("worker", loglevel.upper())
    paystream = create_app(settings)
    worker = faust.Worker(paystream.app, loglevel=loglevel, quiet=True,
                          web_host=paystream.settings.web_host,
                          web_port=paystream.settings.web_port)
    worker.execute_from_commandline()
