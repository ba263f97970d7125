"""`paystream schemas ...`: publish the wire contract."""

from __future__ import annotations

from pathlib import Path

import typer

from schemas.generate import GENERATED_DIR, stale_files, write

schemas_app = typer.Typer(help="Wire schemas: JSON Schema and AsyncAPI.", no_args_is_help=True)


@schemas_app.callback()
def _group() -> None:
    """Wire schemas: JSON Schema and AsyncAPI."""
    # A callback keeps this a command group even with one command, so the
    # invocation is `schemas generate` whether mounted or run directly.


@schemas_app.command()
def generate(
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 if the generated files are stale."
    ),
    out: Path = typer.Option(GENERATED_DIR, "--out", help="Output directory."),
) -> None:
    """Write schemas/generated/*.schema.json and asyncapi.yaml."""
    if check:
        stale = stale_files(out)
        if stale:
            typer.echo("stale generated schemas (run `paystream schemas generate`):", err=True)
            for name in stale:
                typer.echo(f"  {name}", err=True)
            raise typer.Exit(code=1)
        typer.echo(f"generated schemas are up to date in {out}")
        return
    changed = write(out)
    typer.echo(f"wrote {len(changed)} file(s) in {out}" if changed else "nothing to do")
    for name in changed:
        typer.echo(f"  {name}")


if __name__ == "__main__":
    schemas_app()
