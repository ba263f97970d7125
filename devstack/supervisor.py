"""Keeps the platform's processes running: the brokers (Kafka, ElasticMQ) and the Python
services alike. One that exits is started again on the same data directory and port, after
a back-off that doubles per consecutive crash and resets once it has stayed up for a
healthy period, so a crash loop cannot spin the machine and one crash a day costs seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from streams.logs import get_logger

log = get_logger("paystream.platform")


class Supervisable(Protocol):
    """A child process that can be launched again after it exited."""

    @property
    def log_path(self) -> Path: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def exit_code(self) -> int | None: ...

    def alive(self) -> bool: ...

    def launch(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class RestartPolicy:
    base_s: float = 1.0
    cap_s: float = 30.0
    # This long up without a crash and the next crash counts as the first again.
    healthy_s: float = 60.0


def consecutive_after_crash(consecutive: int, up_for_s: float, policy: RestartPolicy) -> int:
    """Crashes in a row, this one included: a healthy run before it starts a new count."""
    return 1 if up_for_s >= policy.healthy_s else consecutive + 1


def backoff_s(consecutive: int, policy: RestartPolicy) -> float:
    """How long after the restart for crash number `consecutive` (1-based) the next restart
    may happen: the first crash is restarted at once and then waits base_s, doubling."""
    return min(policy.cap_s, policy.base_s * 2 ** max(0, consecutive - 1))


@dataclass
class Supervised:
    name: str
    process: Supervisable
    ready: Callable[[], bool]
    restarts: int = 0  # in total, as reported
    consecutive: int = 0  # crashes in a row; drives the back-off
    started_at: float = 0.0
    next_restart_at: float = 0.0

    def started(self, now: float) -> None:
        self.started_at = now


def supervise_once(services: list[Supervised], policy: RestartPolicy,
                   now: float | None = None) -> list[str]:
    """Restart every service that exited and whose back-off has passed; returns their
    names. Services are visited in start order, so a broker comes back before its users."""
    now = time.monotonic() if now is None else now
    restarted = []
    for svc in services:
        if svc.process.alive():
            if svc.consecutive and now - svc.started_at >= policy.healthy_s:
                svc.consecutive = 0
                svc.next_restart_at = 0.0
            continue
        if now < svc.next_restart_at:
            continue
        svc.consecutive = consecutive_after_crash(svc.consecutive, now - svc.started_at, policy)
        svc.restarts += 1
        svc.next_restart_at = now + backoff_s(svc.consecutive, policy)
        log.warning("component_restarted", component=svc.name, exit_code=svc.process.exit_code,
                    restarts=svc.restarts, consecutive=svc.consecutive,
                    log=str(svc.process.log_path))
        svc.process.launch()
        svc.started(now)
        restarted.append(svc.name)
    return restarted
