"""`runwayc schema`."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.io.workspace import write_schemas


@click.command("schema")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
)
def schema_command(out: Path) -> None:
    """Write the JSON Schemas of every input file."""
    count = write_schemas(out)
    click.echo(f"runwayc: {count} schema(s) in {out}", err=True)
