"""Shared pieces of the benchmark scripts: machine description, percentiles, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def calibration_wall_and_cpu_ms() -> tuple[float, float]:
    """Milliseconds one core takes for a fixed pure-Python loop (median of three), in wall
    time and in the loop's CPU time, from the same runs.

    This machine's speed drifts by up to 2x from minute to minute (a shared VM): the same
    loop took 224-408 ms on an idle machine within one minute. Each benchmark records
    this figure before and after its run so a reader can tell a slow period from a slow
    change. The CPU time is what other processes on the cores do not inflate: the speed
    of the cores alone; where the two part, something else was running."""
    walls, cpus = [], []
    for _ in range(3):
        began, began_cpu = time.perf_counter(), time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i * i
        walls.append((time.perf_counter() - began) * 1000)
        cpus.append((time.process_time() - began_cpu) * 1000)
    return round(statistics.median(walls), 1), round(statistics.median(cpus), 1)


def calibration_ms() -> float:
    """The calibration's wall time (`calibration_wall_and_cpu_ms`)."""
    return calibration_wall_and_cpu_ms()[0]


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=1000, method="inclusive")
    index = min(len(cuts) - 1, max(0, round(pct * 10) - 1))
    return cuts[index]


def rss_mb(pid: int, children: bool = True) -> float:
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    if children:
        total += sum(c.memory_info().rss for c in proc.children(recursive=True))
    return round(total / 2**20, 1)


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU time a process (and its children) has used so far."""
    proc = psutil.Process(pid)
    procs = [proc, *(proc.children(recursive=True) if children else [])]
    return sum(t.user + t.system for t in (p.cpu_times() for p in procs))


def histogram_totals(metrics_url: str, metric: str, **labels: str) -> tuple[float, float]:
    """(sum, count) of a Prometheus histogram served at `metrics_url`, over the series
    whose labels match `labels`."""
    # Generous: on a saturated machine a metrics scrape can wait seconds for a turn.
    with urllib.request.urlopen(metrics_url, timeout=30) as resp:
        text = resp.read().decode()
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != metric:
            continue
        for sample in family.samples:
            if any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            if sample.name == f"{metric}_sum":
                total += sample.value
            elif sample.name == f"{metric}_count":
                count += sample.value
    return total, count


def emit(result: dict[str, Any], json_path: Path | None) -> dict[str, Any]:
    """Print the figures and record them (the benchmark's output is its record)."""
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text + "\n")
    return result
