"""The `paystream` command: the product's services (worker, bridge, edge, simulator,
schemas), plus the commands installed tooling contributes.

Tooling (the local stack, `up`, `demo`, `status`, benchmarks, a dev identity provider)
registers itself under the `paystream.commands` entry-point group: each entry is a callable
that receives the root app and adds its commands. A production install without that
tooling simply has fewer commands; nothing here names it.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Final

import typer

COMMANDS_GROUP: Final = "paystream.commands"

app = typer.Typer(help="paystream: event-driven payment orchestration", no_args_is_help=True)


@app.command("worker")
def worker(loglevel: str = typer.Option("info", help="crit|error|warn|info|debug")) -> None:
    """Run a Faust worker: the executor agent, tables and web views."""
    from streams.worker import run_worker

    run_worker(loglevel=loglevel)


@app.command("bridge")
def bridge() -> None:
    """Run the SQS FIFO -> Kafka `payment-requests` bridge."""
    from bridge_sqs.service import run_bridge

    run_bridge()


def _register_product() -> None:
    from api_edge.cli import edge_app
    from gateway.cli import sim_app
    from schemas.cli import schemas_app
    from streams.reconcile_cli import register as register_reconcile

    app.add_typer(edge_app, name="edge", help="The HTTP edge: Payments-A and Payments-B")
    app.add_typer(sim_app, name="sim", help="The Braintree-compatible simulator")
    app.add_typer(schemas_app, name="schemas", help="JSON Schema and AsyncAPI documents")
    register_reconcile(app)


def _register_contributed() -> None:
    for entry in entry_points(group=COMMANDS_GROUP):
        entry.load()(app)


_register_product()
_register_contributed()

if __name__ == "__main__":
    app()
