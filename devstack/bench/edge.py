"""`paystream bench edge`: authenticated checkouts through Payments-A and B into SQS.

Starts what it needs itself: ElasticMQ, the dev OIDC issuer, a fake of the worker's web
views (wallet and order lookups), and A and B as two uvicorn processes. No Kafka: the edge
enqueues everything it accepts (order registrations and payment requests) on SQS, and the
bridge, not benchmarked here, forwards it to Kafka. An open-loop load generator then sends
`rps` approve requests per second for `seconds`: each request is scheduled at its arrival
time whether or not earlier ones have finished, and its latency is measured from that
scheduled time, so a stalled server shows up in the percentiles instead of silently
slowing the generator down (coordinated omission). Every request carries its own order
id and Idempotency-Key; the shoppers' bearer tokens are minted once, as a real client
would reuse its access token.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import typer

from api_edge.http_common import INTERNAL
from devstack.bench.common import (
    calibration_ms,
    calibration_wall_and_cpu_ms,
    cpu_seconds,
    emit,
    histogram_totals,
    machine,
    percentile,
)
from devstack.bench.edge_max import find_max
from devstack.bench.profile import Profiler
from devstack.dev_issuer import DevIssuer
from devstack.dev_issuer_server import run_dev_issuer
from devstack.dev_realm import ORCHESTRATOR_CLIENT_SECRET
from devstack.paths import REPO_ROOT, logs_dir
from devstack.ports import free_port
from devstack.process import ManagedProcess
from devstack.sqs import ElasticMQServer, sqs_client
from streams.channels import PAYMENT_QUEUE

SHOPPERS = 20
WARMUP_SECONDS = 10.0
METHOD_TOKEN = "pm_bench"
PRICE = "19.99"
BENCH_RATE_LIMIT = "1000000/second"
CHECKOUT_ROUTE = "/v1/checkouts"


def _spawn(name: str, args: list[str], env: dict[str, str]) -> ManagedProcess:
    proc = ManagedProcess(name, [sys.executable, *args], logs_dir() / f"bench-edge-{name}.log",
                          env=env, cwd=REPO_ROOT)
    proc.start()
    return proc


def _wait_ready(url: str, procs: list[ManagedProcess], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited during start-up:\n{proc.tail()}")
        try:
            resp = httpx.get(url, timeout=3)
            if resp.status_code == 200:
                return
            last = resp.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise RuntimeError(f"edge not ready after {timeout:.0f}s: {last}")


async def _load(facade_url: str, tokens: list[str], rps: float, seconds: float,
                record: bool) -> dict[str, Any]:
    total = int(rps * seconds)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    # aiohttp, not httpx: httpx costs 1-5 ms of CPU per request here (see
    # api_edge/upstream.py), which on a 2-core machine would be taken from the servers
    # under test and measure the load generator instead of the edge.
    connector = aiohttp.TCPConnector(limit=1024)
    timeout = aiohttp.ClientTimeout(total=10.0)
    async with aiohttp.ClientSession(base_url=facade_url, connector=connector,
                                     timeout=timeout) as client:

        async def one(i: int, due: float) -> None:
            # A fresh order of this shopper, registered at PRICE (the fake views answer
            # bench_<shopper>_<suffix> as one): checkouts need a registered order.
            body = {"order_id": f"bench_{i % len(tokens)}_{uuid.uuid4().hex[:24]}",
                    "amount": {"amount": PRICE, "currency": "USD"},
                    "payment_method_token": METHOD_TOKEN}
            headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}",
                       "Idempotency-Key": uuid.uuid4().hex}
            try:
                async with client.post(CHECKOUT_ROUTE, json=body, headers=headers) as resp:
                    await resp.read()
                    outcome = None if resp.status == 202 else str(resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = type(exc).__name__
            latencies.append(time.perf_counter() - due)
            if outcome is not None:
                errors[outcome] = errors.get(outcome, 0) + 1

        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter() + 0.05
        for i in range(total):
            due = start + i / rps
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    if not record:
        return {}
    ok = total - sum(errors.values())
    ms = sorted(latency * 1000 for latency in latencies)
    return {
        "requests": total,
        "ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "elapsed_s": round(elapsed, 3),
        "achieved_rps": round(ok / elapsed, 1),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(ms[-1], 2) if ms else None,
    }


def _server_times(a_port: int, b_port: int) -> dict[str, tuple[float, float]]:
    """(seconds, count) of answered checkouts so far, from A's and B's own histograms;
    `a_port` is A's internal (ops) port, where its metrics are served."""
    routes = (("facade", a_port, CHECKOUT_ROUTE), ("orchestrator", b_port, f"{INTERNAL}/payments"))
    times = {}
    for name, port, route in routes:
        try:
            times[name] = histogram_totals(f"http://127.0.0.1:{port}/metrics",
                                           "paystream_http_request_seconds", route=route)
        except OSError:
            # A server still drowning in an overload's backlog: its own figure is lost,
            # the run's figures are not.
            times[name] = (float("nan"), float("nan"))
    return times


def _mean_ms(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    mean = (after[0] - before[0]) * 1000 / max(1.0, after[1] - before[1])
    return None if mean != mean else round(mean, 2)  # NaN: a scrape failed


def _queue_depth(endpoint: str) -> int:
    client = sqs_client(endpoint)
    url = client.get_queue_url(QueueName=PAYMENT_QUEUE)["QueueUrl"]
    attrs = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def run_edge_bench(rps: float, seconds: float, json_path: Path | None,
                   find_max_step_s: float | None = None,
                   profile_dir: Path | None = None) -> dict[str, Any]:
    """A fixed-rate run; or, with `find_max_step_s`, the highest rate within the p99
    limit for the edge and for the bare JWT endpoint (devstack.bench.edge_max). With
    `profile_dir`, py-spy samples A and B during the fixed-rate run (their collapsed
    stacks go there, their breakdown into the result as `profiles`)."""
    tmp = Path(tempfile.mkdtemp(prefix="paystream-bench-edge-"))
    sqs = ElasticMQServer(tmp / "elasticmq")
    procs: list[ManagedProcess] = []
    sqs.start()
    try:
        with run_dev_issuer() as issuer:
            result = _run(issuer, sqs, procs, rps, seconds, find_max_step_s, profile_dir)
    finally:
        for proc in procs:
            proc.stop()
        sqs.stop()
    return emit(result, json_path)


def _run(issuer: DevIssuer, sqs: ElasticMQServer, procs: list[ManagedProcess], rps: float,
         seconds: float, find_max_step_s: float | None = None,
         profile_dir: Path | None = None) -> dict[str, Any]:
    views_port, a_port, b_port, ops_port = free_port(), free_port(), free_port(), free_port()
    shoppers = [f"cust-bench-{i}" for i in range(SHOPPERS)]
    procs.append(_spawn("views", [
        "-m", "devstack.bench.fake_views", "--port", str(views_port),
        *[arg for s in shoppers for arg in ("--customer", f"{s}:{METHOD_TOKEN}")],
        "--bench-order-price", PRICE,
    ], {}))
    env = {
        "PAYSTREAM_AUTH_ISSUER": issuer.issuer,
        "SQS_ENDPOINT_URL": sqs.endpoint_url,
        "PAYSTREAM_EDGE_WORKER_URL": f"http://127.0.0.1:{views_port}",
        "PAYSTREAM_EDGE_SERVICE_CLIENT_SECRET": ORCHESTRATOR_CLIENT_SECRET,
        "PAYSTREAM_EDGE_ORCHESTRATOR_PORT": str(b_port),
        "PAYSTREAM_EDGE_PUBLIC_PORT": str(a_port),
        "PAYSTREAM_EDGE_OPS_PORT": str(ops_port),
        # The request limits are policy, not capacity: 600 checkouts/s from one client
        # would be refused above its 500/s, so the bench measures with them lifted.
        "PAYSTREAM_EDGE_RATE_LIMIT_PER_SUBJECT": BENCH_RATE_LIMIT,
        "PAYSTREAM_EDGE_RATE_LIMIT_PER_CLIENT": BENCH_RATE_LIMIT,
        "PYTHONUNBUFFERED": "1",
    }
    common = ["-m", "api_edge.cli", "--log-level", "warning"]
    procs.append(_spawn("orchestrator", [*common, "--only", "orchestrator"], env))
    procs.append(_spawn("facade", [*common, "--only", "facade"], env))
    facade_url = f"http://127.0.0.1:{a_port}"
    _wait_ready(f"{facade_url}/readyz", procs)

    tokens = [issuer.mint(subject=s, username=s.removeprefix("cust-"), expires_in=3600)
              for s in shoppers]
    if find_max_step_s is not None:
        return _find_max(issuer, procs, facade_url, tokens, rps, find_max_step_s)
    asyncio.run(_load(facade_url, tokens, rps, WARMUP_SECONDS, record=False))
    before = _queue_depth(sqs.endpoint_url)
    # Where the time and the CPU go: on two shared cores the percentiles are mostly
    # queueing for CPU, so each process's CPU per request is recorded with them.
    pids = {proc.name: proc.pid for proc in procs}
    pids |= {"elasticmq": sqs.process.pid if sqs.process else 0,
             "load_generator": os.getpid()}
    wall, cpu = calibration_wall_and_cpu_ms()
    calibration, calibration_cpu = [wall], [cpu]
    cpu_before = {name: cpu_seconds(pid, children=False) for name, pid in pids.items() if pid}
    server_before = _server_times(ops_port, b_port)
    # Sampled from outside (--nonblocking): the profilers' own CPU is their processes',
    # not A's or B's, but it is taken from the same two cores.
    profilers = ({name: Profiler(pids[name], profile_dir / f"edge-{name}.txt", edge=True).start()
                  for name in ("facade", "orchestrator")} if profile_dir is not None else {})
    figures = asyncio.run(_load(facade_url, tokens, rps, seconds, record=True))
    profiles = {name: profiler.stop() for name, profiler in profilers.items()}
    cpu_ms = {name: round((cpu_seconds(pids[name], children=False) - used) * 1000
                          / max(1, figures["requests"]), 3)
              for name, used in cpu_before.items()}
    server_after = _server_times(ops_port, b_port)
    wall, cpu = calibration_wall_and_cpu_ms()
    calibration.append(wall)
    calibration_cpu.append(cpu)
    time.sleep(1.0)
    enqueued = _queue_depth(sqs.endpoint_url) - before
    return {
        "benchmark": "edge",
        "target_rps": rps,
        "seconds": seconds,
        **figures,
        "enqueued_in_sqs": enqueued,
        "cpu_ms_per_request": cpu_ms,
        "calibration_ms_before_after": calibration,
        "calibration_cpu_ms_before_after": calibration_cpu,
        "server_mean_ms": {
            name: _mean_ms(server_before[name], server_after[name]) for name in server_after},
        **({"profiles": profiles} if profiles else {}),
        "setup": {
            "facade": "1 uvicorn process (uvloop, httptools)",
            "orchestrator": "1 uvicorn process; wallet + order lookups via HTTP to a fake "
                            "of the worker views; SendMessageBatch to ElasticMQ "
                            "(payment-requests.fifo); no Kafka",
            "shoppers": SHOPPERS,
            "load_generator": "open loop, aiohttp, same machine",
        },
        "machine": machine(),
        "cpu_count": os.cpu_count(),
    }


def _find_max(issuer: DevIssuer, procs: list[ManagedProcess], facade_url: str,
              tokens: list[str], start_rps: float, step_s: float) -> dict[str, Any]:
    floor_port = free_port()
    floor = _spawn("jwt-floor", ["-m", "devstack.bench.jwt_floor", "--port", str(floor_port)],
                   {"PAYSTREAM_AUTH_ISSUER": issuer.issuer})
    procs.append(floor)
    floor_url = f"http://127.0.0.1:{floor_port}"
    _wait_ready(f"{floor_url}/readyz", [floor])
    calibration = [calibration_ms()]
    # The reference first, then stopped so it takes nothing from the edge's run.
    asyncio.run(_load(floor_url, tokens, start_rps, WARMUP_SECONDS, record=False))
    reference = find_max(_load, floor_url, tokens, start_rps=start_rps, step_seconds=step_s)
    floor.stop()
    calibration.append(calibration_ms())
    asyncio.run(_load(facade_url, tokens, start_rps, WARMUP_SECONDS, record=False))
    edge = find_max(_load, facade_url, tokens, start_rps=start_rps, step_seconds=step_s)
    calibration.append(calibration_ms())
    ratio = (round(edge["max_rps"] / reference["max_rps"], 3)
             if edge["max_rps"] and reference["max_rps"] else None)
    return {
        "benchmark": "edge-find-max", "edge": edge, "bare_jwt_endpoint": reference,
        "achieved_over_reference": ratio,
        "calibration_ms_before_between_after": calibration,
        "setup": {"edge": "A and B as two uvicorn processes, as in the fixed-rate run",
                  "bare_jwt_endpoint": "one uvicorn process (uvloop) that reads the body, "
                                       "verifies the same token with the edge's "
                                       "TokenVerifier and answers 202"},
        "machine": machine(),
    }


def edge_command(
    rps: float = typer.Option(300.0, "--rps", help="Arrival rate, requests per second"),
    seconds: float = typer.Option(30.0, "--seconds", help="Duration of the measured run"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures here"),
    find_max: bool = typer.Option(False, "--find-max",
                                  help="Search the highest rate with p99 < 100 ms, for the "
                                       "edge and for a bare JWT endpoint; --rps is the "
                                       "first step"),
    step_seconds: float = typer.Option(10.0, "--step-seconds",
                                       help="Length of each --find-max step"),
    profile_dir: Path | None = typer.Option(None, "--profile",
                                            help="py-spy A and B during the fixed-rate run; "
                                                 "collapsed stacks go to this directory"),
) -> None:
    """Authenticated approve requests through A and B into SQS: rate and latency."""
    result = run_edge_bench(rps, seconds, json_path, step_seconds if find_max else None,
                            profile_dir)
    if result.get("errors"):
        raise typer.Exit(1)
