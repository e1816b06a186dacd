"""`runwayc compile` and `runwayc check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from compiler.cli._common import (
    EXIT_DIAGNOSTICS,
    format_option,
    jobs_option,
    no_cache_option,
    repo_argument,
    report,
    runway_errors,
)

if TYPE_CHECKING:  # the pipeline and its models load when a command runs, not for --help
    from compiler.core.pipeline import CompileResult


@click.command("compile")
@repo_argument
@click.option("--env", "env", help="Environment to compile (default: runway.yaml's default).")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (default: <repo>/rendered/<env>).",
)
@click.option("--locked", is_flag=True, help="Fail on anything not pinned in runway.lock.")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Write a tree with no ModelDeployment over one that had some (GitOps prunes them all).",
)
@no_cache_option
@jobs_option
@format_option
@runway_errors
def compile_command(
    repo: Path,
    env: str | None,
    out: Path | None,
    locked: bool,
    allow_empty: bool,
    no_cache: bool,
    jobs: int,
    output_format: str,
) -> None:
    """Render REPO's ModelDeployments for one environment.

    runwayc writes only into an output directory it owns: new, empty, or holding exactly the
    files its `.runwayc-tree` record names; anything else is refused (exit 2).
    """
    from compiler.io.compile import compile_to_disk

    compiled = compile_to_disk(
        repo,
        env,
        out,
        locked=locked,
        use_cache=not no_cache,
        jobs=jobs,
        allow_empty=allow_empty,
        on_wait=_waiting,
    )
    result = compiled.result
    report(result.diagnostics, output_format)
    if compiled.target is None:
        click.echo(f"runwayc: {compiled.env}: {_counts(result)}; nothing written", err=True)
        sys.exit(EXIT_DIAGNOSTICS)
    state = "written to" if compiled.changed else "unchanged in"
    reused = f"; {compiled.reused} file(s) from cache" if compiled.reused else ""
    click.echo(
        f"runwayc: {compiled.env}: {len(result.deployments)} ModelDeployment(s) {state} "
        f"{compiled.target} ({_counts(result)}{reused})",
        err=True,
    )


@click.command("check")
@repo_argument
@click.option("--env", "env", help="Check one environment (default: every one in runway.yaml).")
@click.option("--locked", is_flag=True, help="Also fail on anything not pinned in runway.lock.")
@no_cache_option
@jobs_option
@format_option
@runway_errors
def check_command(
    repo: Path, env: str | None, locked: bool, no_cache: bool, jobs: int, output_format: str
) -> None:
    """Validate REPO without writing anything (but the cache)."""
    from compiler.io.compile import check_environments

    diagnostics = check_environments(repo, env, locked=locked, use_cache=not no_cache, jobs=jobs)
    report(diagnostics, output_format)
    errors = sum(1 for d in diagnostics if d.is_error)
    # One line either way, on stderr (a machine format on stdout stays clean): silence on
    # success read like a check that never ran.
    verdict = "failed" if errors else "passed"
    where = f"environment {env}" if env else "every environment"
    click.echo(
        f"runwayc: check {verdict} for {where} ({errors} error(s), "
        f"{len(diagnostics) - errors} warning(s))",
        err=True,
    )
    if errors:
        sys.exit(EXIT_DIAGNOSTICS)


def _waiting(lock: Path, holder: str) -> None:
    who = f"pid {holder}" if holder else "another process"
    click.echo(f"runwayc: {lock} is held by {who} (another compile); waiting for it", err=True)


def _counts(result: CompileResult) -> str:
    errors = sum(1 for d in result.diagnostics if d.is_error)
    warnings = len(result.diagnostics) - errors
    return f"{errors} error(s), {warnings} warning(s)"
