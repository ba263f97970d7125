"""`paystream sim`: run the Braintree simulator, or dump its ledger."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

import typer

sim_app = typer.Typer(help="Braintree-compatible sandbox simulator.", add_completion=False)


@sim_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    port: int = typer.Option(8093, help="TCP port (not 443: the SDK would switch to TLS)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    latency_ms: float | None = typer.Option(None, help="Added latency per API request."),
    latency_distribution: str | None = typer.Option(None, help="fixed | uniform | exponential"),
    timeout_fraction: float | None = typer.Option(None, help="Share held past the timeout."),
    timeout_hold_seconds: float | None = typer.Option(None, help="How long a timeout holds."),
    error_5xx_fraction: float | None = typer.Option(None, help="Share answered 5xx."),
    throttle_fraction: float | None = typer.Option(None, help="Share answered 429."),
    drop_fraction: float | None = typer.Option(
        None, help="Share applied, then answered by a dropped connection."),
    auto_settle_seconds: float | None = typer.Option(
        None, help="Settle submitted transactions after this delay."),
    settlement_batch_seconds: float | None = typer.Option(
        None, help="Run a settlement batch this often (seconds)."),
    webhook_url: str | None = typer.Option(
        None, help="POST signed Braintree webhook notifications here."),
    webhook_max_attempts: int | None = typer.Option(
        None, help="Delivery attempts per webhook before it is given up."),
    webhook_backoff_seconds: float | None = typer.Option(
        None, help="First retry delay; doubles per attempt, capped at 60 s by default."),
    persist_file: str | None = typer.Option(
        None, help="JSON file the state (and undelivered webhooks) survive in."),
    seed: int | None = typer.Option(None, help="Seed for latency and fault draws."),
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from gateway.simulator.config import SimulatorConfig
    from gateway.simulator.server import serve as run

    overrides: dict[str, Any] = {
        "latency_ms": latency_ms, "latency_distribution": latency_distribution,
        "timeout_fraction": timeout_fraction, "timeout_hold_seconds": timeout_hold_seconds,
        "error_5xx_fraction": error_5xx_fraction, "throttle_fraction": throttle_fraction,
        "drop_after_apply_fraction": drop_fraction,
        "auto_settle_seconds": auto_settle_seconds, "persist_file": persist_file, "seed": seed,
        "settlement_batch_seconds": settlement_batch_seconds, "webhook_url": webhook_url,
        "webhook_max_attempts": webhook_max_attempts,
        "webhook_backoff_seconds": webhook_backoff_seconds,
    }
    config = SimulatorConfig(**{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run(config, host=host, port=port)


@sim_app.command()
def ledger(
    url: str = typer.Option("http://127.0.0.1:8093", help="Simulator base URL."),
) -> None:
    """Print every transaction, refund and idempotency key as JSON."""
    with urllib.request.urlopen(url.rstrip("/") + "/__sim__/ledger", timeout=10) as resp:
        data = json.load(resp)
    typer.echo(json.dumps(data, indent=2, sort_keys=True))
