"""`paystream reconcile`: ask every worker to compare its ledger with the gateway.

Prints one JSON report (per worker and totals) and exits 1 when drift remains, so it can
run from cron or CI. With views behind service tokens it authenticates as the edge does
(`PAYSTREAM_EDGE_SERVICE_CLIENT_ID` / `_SECRET` against `PAYSTREAM_AUTH_ISSUER`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import typer


async def _token() -> str | None:
    from api_edge.service_token import service_token_source
    from api_edge.settings import EdgeSettings

    settings = EdgeSettings()
    if settings.service_client_secret is None:
        return None  # views open on loopback (development)
    return await service_token_source(settings).get()


async def reconcile_workers(urls: list[str], *, repair: bool,
                            since: str | None) -> dict[str, Any]:
    token = await _token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"repair": "1" if repair else "0", **({"since": since} if since else {})}
    reports: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=300) as client:
        for url in urls:
            response = await client.post(f"{url.rstrip('/')}/reconcile", params=params,
                                         headers=headers)
            reports[url] = (response.json() if response.status_code == 200 else
                            {"error": response.status_code, "body": response.text[:500]})
    ok = [r for r in reports.values() if "error" not in r]
    return {
        "workers": reports,
        "checked": sum(r["checked"] for r in ok),
        "drift": sum(r["drift"] for r in ok),
        "repaired": sum(r["repaired"] for r in ok),
        "unreachable": len(reports) - len(ok),
    }


def register(app: typer.Typer) -> None:
    @app.command("reconcile")
    def reconcile(
        worker: list[str] = typer.Option(
            ["http://127.0.0.1:6066"], "--worker", help="worker web URL (repeat per worker)"),
        repair: bool = typer.Option(False, "--repair", help="carry out the clear repairs"),
        since: str | None = typer.Option(None, "--since",
                                         help="only orders changed since (ISO-8601, UTC)"),
    ) -> None:
        """Compare every open order (and a sample of final ones) with the gateway."""
        report = asyncio.run(reconcile_workers(worker, repair=repair, since=since))
        typer.echo(json.dumps(report, indent=2))
        remaining = report["drift"] - report["repaired"]
        raise typer.Exit(1 if remaining or report["unreachable"] else 0)
