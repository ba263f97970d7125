"""The development commands of `paystream`: the local stack, the whole platform (`up`),
`demo`, `status`, benchmarks and the dev identity provider.

The product's command (streams/cli.py) loads `register` through the `paystream.commands`
entry point declared in pyproject.toml.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import typer
from rich.console import Console
from rich.table import Table

from devstack.jars import SetupError
from devstack.process import group_alive
from devstack.stack import LocalStack, down, read_state, write_state

stack_app = typer.Typer(help="The local Kafka + SQS stack (real servers on 127.0.0.1)",
                        no_args_is_help=True)
console = Console()


def _print_components(stack: LocalStack) -> None:
    table = Table(title="paystream local stack")
    for col in ("component", "pid", "address", "start-up", "log"):
        table.add_column(col)
    for comp in stack.components():
        table.add_row(comp.name, str(comp.pid), comp.address, f"{comp.started_in_s:.1f}s",
                      comp.log)
    console.print(table)
    for key, value in stack.env.items():
        console.print(f"export {key}={value}")


def _running() -> bool:
    state = read_state()
    if state is None:
        return False
    comps = state.get("components", [])
    assert isinstance(comps, list)
    return any(group_alive(int(c["pid"])) for c in comps)


@stack_app.command("up")
def stack_up(
    foreground: bool = typer.Option(False, help="Stay attached; Ctrl-C stops the stack."),
) -> None:
    """Start Kafka (KRaft) and ElasticMQ, fetching their jars on first use."""
    if _running():
        console.print("[yellow]stack already running[/yellow]; `paystream stack status`")
        raise typer.Exit(0)
    began = time.monotonic()
    stack = LocalStack()
    try:
        stack.start()
    except SetupError as exc:
        console.print(f"[red]stack failed to start:[/red] {exc}")
        raise typer.Exit(1) from exc
    total = time.monotonic() - began
    write_state(stack)
    _print_components(stack)
    console.print(f"stack up in {total:.1f}s (including any first-time jar download)")
    if not foreground:
        return
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print("running; Ctrl-C stops everything")
    stop.wait()
    stack.stop()
    down()
    console.print("stack stopped")


@stack_app.command("down")
def stack_down() -> None:
    """Stop every server `stack up` started."""
    stopped = down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@stack_app.command("status")
def stack_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """What runs, on which ports, and how long start-up took."""
    state = read_state()
    if state is None:
        console.print("stack is not running")
        raise typer.Exit(1)
    comps = state.get("components", [])
    assert isinstance(comps, list)
    for comp in comps:
        comp["alive"] = group_alive(int(comp["pid"]))
    if as_json:
        print(json.dumps(state, indent=2))
        return
    table = Table(title="paystream local stack")
    for col in ("component", "pid", "alive", "address", "start-up", "log"):
        table.add_column(col)
    for comp in comps:
        table.add_row(comp["name"], str(comp["pid"]), "yes" if comp["alive"] else "NO",
                      comp["address"], f"{comp['started_in_s']:.1f}s", comp["log"])
    console.print(table)


def up(
    keycloak: bool = typer.Option(False, "--keycloak",
                                  help="Use a real Keycloak instead of the dev issuer"),
    free_ports: bool = typer.Option(False, "--free-ports",
                                    help="Never use the default ports (8080, 6066, ...)"),
    fresh: bool = typer.Option(False, "--fresh",
                               help="Wipe the data directory first: no earlier order, "
                                    "wallet, queued message or ledger entry survives"),
    workers: int = typer.Option(1, "--workers", min=1, max=8,
                                help="Faust workers, each with its own web port and tables"),
) -> None:
    """Run the whole platform in the foreground; Ctrl-C stops everything, and the next `up`
    starts with the same orders, wallets, queues and ledger."""
    from devstack.platform import run_platform

    run_platform(keycloak=keycloak, free_ports=free_ports, fresh=fresh, workers=workers)


def demo(
    edge_url: str | None = typer.Option(None, help="Default: the running `paystream up`"),
    token_endpoint: str | None = typer.Option(None),
    simulator_url: str | None = typer.Option(None),
) -> None:
    """A scripted checkout through the edge: wallet, five orders, ledger check."""
    from devstack.demo import run_demo
    from devstack.platform import read_platform_state

    state = read_platform_state() or {}
    edge = edge_url or state.get("edge")
    token = token_endpoint or state.get("token_endpoint")
    sim = simulator_url or state.get("simulator")
    if not (edge and token and sim):
        console.print("[red]no running platform found[/red]: start `paystream up` (or "
                      "`make run`) first, or pass --edge-url/--token-endpoint/--simulator-url")
        raise typer.Exit(2)
    raise typer.Exit(run_demo(edge, token, sim))


def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """What runs, consumer lag per group, queue depths, table sizes, dead-letter counts."""
    from devstack.platform import read_platform_state
    from devstack.status import collect

    state = read_platform_state()
    if state is None:
        console.print("paystream is not running (start it with `paystream up`)")
        raise typer.Exit(1)
    report = collect(state)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table(title="paystream status")
    table.add_column("what")
    table.add_column("value")
    for name, alive in report["running"].items():
        restarts = report["restarts"].get(name, 0)
        table.add_row(f"process {name}", ("running" if alive else "DOWN")
                      + (f" (restarted {restarts}x)" if restarts else ""))
    for group, topics in report.get("consumer_lag", {}).items():
        table.add_row(f"lag {group}", ", ".join(f"{t}={n}" for t, n in sorted(topics.items())
                                                if n) or "0")
    for queue, depth in report.get("queue_depths", {}).items():
        table.add_row(f"queue {queue}", str(depth))
    for name, size in report.get("table_sizes", {}).items():
        table.add_row(f"table {name}", str(size))
    for channel, parked in report.get("dead_letters", {}).items():
        table.add_row(f"dead letters ({channel})",
                      f"{parked['count']}, oldest {parked['oldest_age_s']:.0f}s ago"
                      if parked["count"] else "0")
    drift = report.get("drift")
    if drift is not None:
        table.add_row("drift (ledger vs gateway)",
                      f"{drift['drift']} found, {drift['repaired']} repaired in the last pass "
                      f"({drift['checked']} orders checked)")
    for key in ("kafka_error", "sqs_error", "dlq_error", "worker_error", "drift_error"):
        if key in report:
            table.add_row(key, report[key])
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the development commands to the `paystream` root app."""
    from devstack.bench.cli import bench_app
    from devstack.chaos.run import chaos
    from devstack.dlq import dlq_app
    from devstack.issuer_cli import issuer_app

    app.add_typer(stack_app, name="stack")
    app.command("up")(up)
    app.command("demo")(demo)
    app.command("status")(status)
    app.add_typer(bench_app, name="bench")
    app.command("chaos")(chaos)
    app.add_typer(dlq_app, name="dlq", help="Dead letters: list, show and replay them")
    app.add_typer(issuer_app, name="issuer", help="The local OpenID Connect dev issuer")
