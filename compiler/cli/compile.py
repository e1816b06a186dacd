"""`runwayc compile` and `runwayc check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from compiler.cli._common import (
    EXIT_DIAGNOSTICS,
    detail,
    env_option,
    format_option,
    jobs_option,
    no_cache_option,
    repo_argument,
    report,
    runway_errors,
    say,
)

if TYPE_CHECKING:  # the pipeline and its models load when a command runs, not for --help
    from compiler.core.pipeline import CompileResult
    from compiler.io.compile import CompileReport

# `--out -`: stdout, as `helm template` and `kustomize build` print (`./-` is a directory).
STDOUT = "-"


@click.command("compile")
@repo_argument
@env_option("Environment to compile (default: runway.yaml's default).")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, allow_dash=True),
    help="Output directory (default: <repo>/rendered/<env>). `-`: print the environment's "
    "objects to stdout as one YAML stream and write nothing (./- for a directory named -).",
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
    out: str | None,
    locked: bool,
    allow_empty: bool,
    no_cache: bool,
    jobs: int,
    output_format: str,
) -> None:
    """Render REPO's ModelDeployments for one environment.

    runwayc writes only into an output directory it owns: new, empty, or holding exactly the
    files its `.runwayc-tree` record names; anything else is refused (exit 2). With
    `--out -` the objects go to stdout instead (diagnostics to stderr) and nothing is written,
    not even the cache.
    """
    from compiler.io.compile import compile_in_memory, compile_to_disk

    if out == STDOUT:
        if output_format != "text":
            raise click.UsageError(
                f"--format {output_format} prints to stdout, where --out - streams the "
                "manifests: give one (with --out -, diagnostics go to stderr as text)"
            )
        if allow_empty:
            raise click.UsageError(
                "--allow-empty only applies when a tree is written; --out - writes none"
            )
        streamed = compile_in_memory(repo, env, locked=locked, use_cache=not no_cache, jobs=jobs)
        _stream(repo, streamed)
        return
    compiled = compile_to_disk(
        repo,
        env,
        None if out is None else Path(out),
        locked=locked,
        use_cache=not no_cache,
        jobs=jobs,
        allow_empty=allow_empty,
        on_wait=_waiting,
    )
    result = compiled.result
    report(result.diagnostics, output_format)
    _cache_detail(repo, compiled)
    if compiled.target is None:
        say(f"runwayc: {compiled.env}: {_counts(result)}; nothing written")
        sys.exit(EXIT_DIAGNOSTICS)
    state = "written to" if compiled.changed else "unchanged in"
    from compiler.core.stream import object_files

    detail(
        f"runwayc: {compiled.env}: {len(object_files(result.files))} manifest file(s), "
        f"{len(result.files)} file(s) in all, {state} {compiled.target}"
    )
    reused = f"; {compiled.reused} file(s) from cache" if compiled.reused else ""
    say(
        f"runwayc: {compiled.env}: {len(result.deployments)} ModelDeployment(s) {state} "
        f"{compiled.target} ({_counts(result)}{reused})"
    )


def _stream(repo: Path, compiled: CompileReport) -> None:
    from compiler.core.stream import environment_stream

    result = compiled.result
    report(result.diagnostics, "text")
    _cache_detail(repo, compiled)
    if not result.ok:
        say(f"runwayc: {compiled.env}: {_counts(result)}; nothing printed")
        sys.exit(EXIT_DIAGNOSTICS)
    click.echo(environment_stream(result.files), nl=False)
    say(
        f"runwayc: {compiled.env}: {len(result.deployments)} ModelDeployment(s) printed to "
        f"stdout ({_counts(result)})"
    )


def _cache_detail(repo: Path, compiled: CompileReport) -> None:
    from compiler.io.cache_store import cache_directory

    update = compiled.result.cache
    if update is None:
        detail(f"runwayc: {compiled.env}: cache not used (--no-cache): every file compiled")
        return
    total = len(update.entries)
    detail(
        f"runwayc: {compiled.env}: cache {cache_directory(repo)}: {update.reused} of {total} "
        f"source file(s) reused, {total - update.reused} compiled"
    )


@click.command("check")
@repo_argument
@env_option("Check one environment (default: every one in runway.yaml).")
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

    diagnostics = check_environments(
        repo, env, locked=locked, use_cache=not no_cache, jobs=jobs, on_compiled=_checked
    )
    report(diagnostics, output_format)
    errors = sum(1 for d in diagnostics if d.is_error)
    # One line either way, on stderr (a machine format on stdout stays clean): silence on
    # success read like a check that never ran.
    verdict = "failed" if errors else "passed"
    where = f"environment {env}" if env else "every environment"
    say(
        f"runwayc: check {verdict} for {where} ({errors} error(s), "
        f"{len(diagnostics) - errors} warning(s))"
    )
    if errors:
        sys.exit(EXIT_DIAGNOSTICS)


def _checked(env: str, result: CompileResult) -> None:
    reused = result.cache.reused if result.cache is not None else 0
    detail(
        f"runwayc: check: {env}: {len(result.deployments)} ModelDeployment(s), "
        f"{_counts(result)}; {reused} source file(s) from cache"
    )


def _waiting(lock: Path, holder: str) -> None:
    who = f"pid {holder}" if holder else "another process"
    say(f"runwayc: {lock} is held by {who} (another compile); waiting for it")


def _counts(result: CompileResult) -> str:
    errors = sum(1 for d in result.diagnostics if d.is_error)
    warnings = len(result.diagnostics) - errors
    return f"{errors} error(s), {warnings} warning(s)"
