"""`runwayc schema`, `runwayc version` and `runwayc completion`: facts about runwayc itself."""

from __future__ import annotations

from pathlib import Path

import click
from click.shell_completion import get_completion_class

from compiler.cli._common import say, tool_version


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
    from compiler.io.workspace import write_schemas  # builds every model: only here

    count = write_schemas(out)
    say(f"runwayc: {count} schema(s) in {out}")


@click.command("version")
def version_command() -> None:
    """Print runwayc's version (the same as --version)."""
    click.echo(f"runwayc {tool_version()}")


SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion_command(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL; e.g. `eval "$(runwayc completion bash)"`, or
    save it where your shell loads completions."""
    # click's own completion: the script calls back into runwayc through this variable.
    completion = get_completion_class(shell)
    assert completion is not None  # every name in SHELLS is one of click's
    root = ctx.find_root().command
    click.echo(completion(root, {}, "runwayc", "_RUNWAYC_COMPLETE").source())
