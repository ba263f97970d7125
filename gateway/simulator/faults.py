"""Fault injection: latency and the ways a real gateway call goes wrong.

One uniform draw per API request picks at most one fault, so the configured fractions
are exact shares of the traffic.
"""

from __future__ import annotations

import random
from enum import StrEnum

from gateway.simulator.config import FaultConfig


class Fault(StrEnum):
    NONE = "none"
    TIMEOUT = "timeout"          # held past the client's timeout, then applied
    ERROR_5XX = "error_5xx"      # answered 5xx, not applied
    THROTTLE = "throttle"        # answered 429, not applied
    DROP_AFTER_APPLY = "drop"    # applied, then the connection is dropped unanswered


class FaultPlan:
    def __init__(self, config: FaultConfig, seed: int | None = None) -> None:
        self.config = config
        self._rng = random.Random(seed)

    def pick(self) -> Fault:
        c = self.config
        u = self._rng.random()
        for fraction, fault in (
            (c.timeout_fraction, Fault.TIMEOUT),
            (c.error_5xx_fraction, Fault.ERROR_5XX),
            (c.throttle_fraction, Fault.THROTTLE),
            (c.drop_after_apply_fraction, Fault.DROP_AFTER_APPLY),
        ):
            if u < fraction:
                return fault
            u -= fraction
        return Fault.NONE

    def latency_seconds(self) -> float:
        c = self.config
        if c.latency_ms <= 0:
            return 0.0
        if c.latency_distribution == "uniform":
            ms = self._rng.uniform(0, 2 * c.latency_ms)
        elif c.latency_distribution == "exponential":
            ms = self._rng.expovariate(1 / c.latency_ms)
        else:
            ms = c.latency_ms
        return min(ms, c.latency_max_ms) / 1000.0
