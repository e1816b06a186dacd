"""What every command shares: the version, printing diagnostics, exit codes and options."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import click

from compiler.core.diagnostics import (
    Diagnostic,
    Location,
    error,
    format_json,
    format_sarif,
    format_text,
    sort_diagnostics,
)
from compiler.core.errors import FlagError, RepositoryNotFoundError, RunwayError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE = 0, 1, 2
FORMATS = click.Choice(["text", "json", "sarif"])


def tool_version() -> str:
    try:
        return version("runwayc")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def report(diagnostics: Sequence[Diagnostic], output_format: str) -> None:
    """Print diagnostics: text to stderr (humans), json/sarif to stdout (machines)."""
    ordered = sort_diagnostics(diagnostics)
    if output_format == "json":
        click.echo(format_json(ordered), nl=False)
    elif output_format == "sarif":
        click.echo(format_sarif(ordered, tool_version()), nl=False)
    elif ordered:
        click.echo(format_text(ordered), nl=False, err=True)


def runway_errors(func: F) -> F:
    """The one place a RunwayError turns into printed diagnostics and exit code 1 (and bad
    usage the edge found into click's usage error, exit 2)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FlagError as exc:
            if exc.param_hint is not None:
                raise click.BadParameter(exc.message, param_hint=exc.param_hint) from None
            raise click.UsageError(exc.message) from None
        except RunwayError as exc:
            output_format = kwargs.get("output_format", "text")
            found = list(exc.diagnostics) or [
                error("RUNWAY_ERROR", exc.message, Location(str(kwargs.get("repo", "."))))
            ]
            report(found, output_format)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def repository(path: Path) -> Path:
    """The repository of a command given `path`: it, or its nearest parent with runway.yaml
    (as git finds its own); none is exit 2 with the reason, in the diagnostic format."""
    from compiler.io.workspace import find_repository

    try:
        return find_repository(path)
    except RepositoryNotFoundError as exc:
        report([error("NO_REPOSITORY", exc.message, Location(exc.where))], "text")
        raise click.exceptions.Exit(EXIT_USAGE) from None


def find_repository_callback(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path:
    del ctx, param
    return repository(Path(".") if value is None else value)


# REPO is found like git's repository (`repository`), while the command line is parsed: every
# command that takes one works on the same root, and none runs on a directory without one.
# Relative defaults the commands derive (compile's rendered/<env>, the cache) are under that
# root; a relative path given on the command line (`--out`) is relative to the current
# directory, as for any program.
repo_argument = click.argument(
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    callback=find_repository_callback,
)
format_option = click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="text",
    show_default=True,
    help="Diagnostics as text (stderr), JSON or SARIF 2.1.0 (stdout).",
)


no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Compile every file afresh and leave the cache alone (default: reuse the outcome of "
    "files whose content hashes are unchanged; cache in .runwayc_cache/ or $RUNWAYC_CACHE_DIR).",
)
jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes for compiling many files (0: one per CPU on more than 2 CPUs, else one; "
    "small repos run inline).",
)
