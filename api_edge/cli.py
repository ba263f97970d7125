"""`paystream edge`: run Payments-A (public facade) and Payments-B (orchestrator).

Both run in one process by default (two uvicorn servers on one event loop); `--only`
runs one of them, e.g. to put them on different hosts or give each its own CPU.
Every option defaults to the `PAYSTREAM_EDGE_*` / `PAYSTREAM_AUTH_*` settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Annotated, Any

import typer
import uvicorn

from api_edge.settings import EdgeSettings
from streams.gc_tuning import freeze_startup_objects, tune_collector
from streams.logs import configure_logging


class Which(StrEnum):
    both = "both"
    facade = "facade"
    orchestrator = "orchestrator"


edge_app = typer.Typer(help="The HTTP edge: Payments-A facade and Payments-B orchestrator.")


@edge_app.callback(invoke_without_command=True)
def serve(
    only: Annotated[Which, typer.Option(help="Run both apps, or only one.")] = Which.both,
    public_host: Annotated[str | None, typer.Option(help="Payments-A bind host.")] = None,
    public_port: Annotated[int | None, typer.Option(help="Payments-A port.")] = None,
    orchestrator_host: Annotated[str | None, typer.Option(help="Payments-B bind host.")] = None,
    orchestrator_port: Annotated[int | None, typer.Option(help="Payments-B port.")] = None,
    orchestrator_url: Annotated[
        str | None, typer.Option(help="Where A reaches B (default: B's host and port).")
    ] = None,
    worker_url: Annotated[str | None, typer.Option(help="The worker's web views.")] = None,
    log_level: Annotated[str, typer.Option(help="debug|info|warning|error")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve the edge until interrupted."""
    overrides = {
        name: value for name, value in {
            "public_host": public_host, "public_port": public_port,
            "orchestrator_host": orchestrator_host, "orchestrator_port": orchestrator_port,
            "orchestrator_url": orchestrator_url, "worker_url": worker_url,
        }.items() if value is not None
    }
    settings = EdgeSettings(**overrides)  # type: ignore[arg-type]
    configure_logging("edge", log_level.upper())
    # uvloop (from uvicorn[standard]) when present: its loop and transports are C, which
    # takes a noticeable share of the per-request CPU off each edge process.
    run = _uvloop_run()
    run(run_edge(settings, only, log_level=log_level, access_log=access_log))


def _uvloop_run() -> Callable[[Coroutine[Any, Any, None]], None]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run
    return uvloop.run


async def run_edge(settings: EdgeSettings, only: Which = Which.both, *,
                   log_level: str = "info", access_log: bool = False) -> None:
    tune_collector()
    servers = build_servers(settings, only, log_level=log_level, access_log=access_log)
    for server in servers:
        typer.echo(f"serving {server.config.app.title} on "  # type: ignore[union-attr]
                   f"http://{server.config.host}:{server.config.port}")
    await asyncio.gather(*(server.serve() for server in servers), _freeze_when_started(servers))


async def _freeze_when_started(servers: list[uvicorn.Server]) -> None:
    while not all(server.started for server in servers):
        if any(server.should_exit for server in servers):
            return
        await asyncio.sleep(0.05)
    freeze_startup_objects()


def build_servers(settings: EdgeSettings, only: Which = Which.both, *,
                  log_level: str = "info", access_log: bool = False) -> list[uvicorn.Server]:
    servers: list[uvicorn.Server] = []
    if only in (Which.both, Which.orchestrator):
        from api_edge.orchestrator import create_orchestrator_app

        servers.append(uvicorn.Server(uvicorn.Config(
            create_orchestrator_app(settings), host=settings.orchestrator_host,
            port=settings.orchestrator_port, log_level=log_level, access_log=access_log,
            # Seconds, not minutes: A keeps its connections to B alive and reconnects.
            timeout_keep_alive=30)))
    if only in (Which.both, Which.facade):
        from api_edge.facade import create_facade_app

        facade = create_facade_app(settings)
        servers.append(uvicorn.Server(uvicorn.Config(
            facade, host=settings.public_host,
            port=settings.public_port, log_level=log_level, access_log=access_log,
            server_header=False)))
        if settings.ops_port is not None:
            servers.append(uvicorn.Server(uvicorn.Config(
                facade.state.ops, host=settings.ops_host, port=settings.ops_port,
                log_level=log_level, access_log=False, server_header=False)))
    return servers


if __name__ == "__main__":
    edge_app()
