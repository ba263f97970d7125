"""`paystream bench ...`: benchmark scripts that print and record their figures."""

from __future__ import annotations

from pathlib import Path

import typer

from devstack.bench.edge import edge_command

bench_app = typer.Typer(help="Benchmarks: print figures and record them as JSON",
                        no_args_is_help=True)


@bench_app.command("executor")
def executor(
    latency_ms: float = typer.Option(200.0, "--latency-ms", help="Simulator latency L"),
    in_flight: int = typer.Option(64, "--in-flight", help="Worker in-flight cap C"),
    requests: int = typer.Option(4000, "--requests", help="Payment requests N"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures here"),
    workers: int = typer.Option(1, "--workers", help="Worker processes sharing C"),
    executor_only: bool = typer.Option(False, "--executor-only",
                                       help="Run only the executor agent in the worker"),
    profile: Path | None = typer.Option(None, "--profile",
                                        help="Sample the worker with py-spy; collapsed "
                                             "stacks to this file, stages in the JSON"),
) -> None:
    """Executor throughput vs Little's limit C/L, latency, worker memory."""
    from devstack.bench.executor import run_executor_bench
    from streams.settings import ALL_ROLES

    roles = ("executor",) if executor_only else ALL_ROLES
    run_executor_bench(latency_ms, in_flight, requests, json_path, workers, roles, profile)


@bench_app.command("recovery")
def recovery(
    orders: int = typer.Option(100_000, "--orders", help="Orders in the changelog"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures here"),
    profile: Path | None = typer.Option(None, "--profile",
                                        help="Sample the rebuilding worker with py-spy; "
                                             "collapsed stacks to this file"),
) -> None:
    """Time and memory to rebuild the order table from its changelog."""
    from devstack.bench.recovery import run_recovery_bench

    run_recovery_bench(orders, json_path, profile_path=profile)


@bench_app.command("e2e")
def e2e(
    requests: int = typer.Option(200, "--requests"),
    gap_ms: float = typer.Option(20.0, "--gap-ms", help="Pause between checkouts"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures here"),
) -> None:
    """Edge 202 → order state visible in the order view, p50/p99, at light load."""
    from devstack.bench.e2e import run_e2e_bench

    run_e2e_bench(requests, gap_ms, json_path)


bench_app.command("edge", help="Authenticated approvals through A and B into SQS")(edge_command)
