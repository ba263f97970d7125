"""`paystream issuer`: run the local OpenID Connect dev issuer in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from devstack.dev_issuer import DevIssuer
from devstack.dev_realm import DEFAULT_PORT, DEFAULT_REALM

issuer_app = typer.Typer(help="Local OpenID Connect issuer (Keycloak stand-in) for development.")


@issuer_app.callback(invoke_without_command=True)
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = DEFAULT_PORT,
    realm: Annotated[str, typer.Option(help="Realm name in the issuer URL.")] = DEFAULT_REALM,
    key_file: Annotated[
        Path | None,
        typer.Option(help="Keep signing keys in this file (0600) so restarts keep tokens valid."),
    ] = None,
) -> None:
    """Serve discovery, JWKS and token endpoints on 127.0.0.1 until interrupted."""
    issuer = DevIssuer(f"http://127.0.0.1:{port}", realm, key_file=key_file)
    typer.echo(f"issuer:  {issuer.issuer}")
    typer.echo(f"token:   {issuer.issuer}/protocol/openid-connect/token")
    typer.echo(f"users:   {', '.join(sorted(issuer.users))}")
    typer.echo(f"clients: {', '.join(sorted(issuer.clients))}")
    typer.echo("credentials: see the devstack.dev_issuer module docstring")
    # Loopback only: the issuer hands out tokens for well-known development passwords.
    uvicorn.run(issuer.app, host="127.0.0.1", port=port, log_level="info", access_log=False)
