"""`runwayc init`: a new models repository that checks, compiles and syncs as created."""

from __future__ import annotations

import os
from pathlib import Path

import click

from compiler.cli._common import runway_errors, tool_version


@click.command("init")
@click.argument(
    "repo",
    metavar="[DIR]",
    type=click.Path(path_type=Path),
    default=Path("."),
)
@runway_errors
def init_command(repo: Path) -> None:
    """Write a models repository into DIR (default: the current directory), which must be
    empty: runway.yaml with dev and prod, two ModelDeployments, overlays, the GitHub
    workflows, a pre-commit configuration and the JSON Schemas the files name."""
    from compiler.io.scaffold import init_repository

    source = init_repository(repo, tool_version())
    click.echo(f"runwayc: wrote a models repository to {repo}", err=True)
    steps = []
    if os.path.abspath(repo) != os.getcwd():
        steps.append(f"cd {repo}")
    steps += [
        "runwayc lock                        # providers, engines, image digests (registries)",
        "runwayc compile --env dev --locked  # and --env prod: rendered/<env>, what is synced",
        "git init -b main && git add -A && git commit -m 'models'",
    ]
    click.echo("next:\n" + "".join(f"  {step}\n" for step in steps), err=True, nl=False)
    if source is None:
        click.echo(
            "runwayc: this runwayc was not installed from a Git repository others can reach "
            "(https or ssh) at a commit, so set RUNWAYC_REPO and RUNWAYC_COMMIT in "
            ".github/workflows/*.yml, and repo and rev in .pre-commit-config.yaml, to the "
            "runwayc repository and commit your CI should install",
            err=True,
        )
