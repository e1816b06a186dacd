"""What every command shares: the version, printing diagnostics, exit codes and options."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from compiler.core.diagnostics import (
    Diagnostic,
    Location,
    Severity,
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


# --- global options: -q/-v and colour (every command takes them; see `global_options`) ------


class Verbosity(IntEnum):
    QUIET = 0  # -q: errors only; nothing at all on success
    NORMAL = 1
    VERBOSE = 2  # -v: also what runwayc did (files written, cache hits)


@dataclass(slots=True)
class OutputSettings:
    """What -q, -v and --color said, wherever on the command line they were given."""

    verbosity: Verbosity = Verbosity.NORMAL
    color: str = "auto"  # auto | always | never


_SETTINGS = "runwayc.output"


def output_settings(ctx: click.Context | None = None) -> OutputSettings:
    """The run's output settings (the defaults outside a command, e.g. in a library call)."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return OutputSettings()
    meta = ctx.find_root().meta
    settings = meta.get(_SETTINGS)
    if not isinstance(settings, OutputSettings):
        settings = meta[_SETTINGS] = OutputSettings()
    return settings


def verbosity(ctx: click.Context | None = None) -> Verbosity:
    """How much to say: QUIET under -q, VERBOSE under -v, else NORMAL."""
    return output_settings(ctx).verbosity


def say(message: str) -> None:
    """A line about what happened, on stderr (a summary, a notice); silent under -q."""
    if verbosity() >= Verbosity.NORMAL:
        click.echo(message, err=True)


def detail(message: str) -> None:
    """A line only -v prints: what runwayc did on the way (cache hits, files written)."""
    if verbosity() >= Verbosity.VERBOSE:
        click.echo(message, err=True)


def show_progress(stream: TextIO | None = None) -> bool:
    """Whether a progress line may be drawn on `stream` (default stderr): a terminal, and not
    under -q. A log file or a CI job gets no redrawn line, only the summary after it."""
    return verbosity() >= Verbosity.NORMAL and (stream or sys.stderr).isatty()


def use_colour(err: bool = True) -> bool:
    """Colour for stderr (or stdout): `--color always|never` decides; with `auto` (the
    default), NO_COLOR (https://no-color.org) turns it off, FORCE_COLOR on, else a terminal
    gets colour and a pipe or file gets none."""
    chosen = output_settings().color
    if chosen != "auto":
        return chosen == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "") not in ("", "0", "false"):
        return True
    return (sys.stderr if err else sys.stdout).isatty()


_SEVERITY_COLOUR = {Severity.ERROR: "red", Severity.WARNING: "yellow"}


def _paint(text: str, severity: Severity) -> str:
    return click.style(text, fg=_SEVERITY_COLOUR[severity], bold=True)


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    _set_verbosity(ctx, value, Verbosity.QUIET)


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    _set_verbosity(ctx, value, Verbosity.VERBOSE)


def _set_verbosity(ctx: click.Context, given: bool, level: Verbosity) -> None:
    if not given:
        return
    settings = output_settings(ctx)
    if settings.verbosity not in (Verbosity.NORMAL, level):
        raise click.UsageError("-q/--quiet and -v/--verbose contradict each other: give one", ctx)
    settings.verbosity = level


def _set_color(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        output_settings(ctx).color = value


def global_options() -> list[click.Option]:
    """-q, -v and --color, fresh for one command: the root group and every command take them,
    so `runwayc -q check` and `runwayc check -q` are the same. They set the run's
    `output_settings` and never reach the command's function."""
    return [
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_set_quiet,
            help="Print errors only: nothing at all on success.",
        ),
        click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            callback=_set_verbose,
            help="Also say what runwayc did (cache hits, files written).",
        ),
        click.Option(
            ["--color", "--colour", "color"],
            type=click.Choice(["auto", "always", "never"]),
            default=None,
            expose_value=False,
            callback=_set_color,
            help="Colour diagnostics: auto (a terminal, unless NO_COLOR is set), always, never.",
        ),
    ]


def report(diagnostics: Sequence[Diagnostic], output_format: str) -> None:
    """Print diagnostics: text to stderr (humans), json/sarif to stdout (machines). Under -q
    text keeps its errors only; a machine format is what was asked for, and stays whole."""
    ordered = sort_diagnostics(diagnostics)
    if output_format == "json":
        click.echo(format_json(ordered), nl=False)
    elif output_format == "sarif":
        click.echo(format_sarif(ordered, tool_version()), nl=False)
    else:
        if verbosity() is Verbosity.QUIET:
            ordered = [d for d in ordered if d.is_error]
        if ordered:
            colour = use_colour()
            text = format_text(ordered, _paint) if colour else format_text(ordered)
            click.echo(text, nl=False, err=True, color=colour)


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


def given_options(*names: str) -> list[str]:
    """Which of the current command's options `names` (parameter names) the user gave on the
    command line (or through their environment variable), as `--help` spells them: an option
    with a default cannot tell "given" by its value."""
    ctx = click.get_current_context()
    found = []
    for param in ctx.command.params:
        if param.name in names and ctx.get_parameter_source(param.name) in (
            click.core.ParameterSource.COMMANDLINE,
            click.core.ParameterSource.ENVIRONMENT,
        ):
            found.append(max(param.opts, key=len))
    return found


def only_with(flag: str, present: bool, *names: str) -> None:
    """Refuse (exit 2) options `names` that only mean something with `flag` when it is not
    `present`: given alone they would be ignored without a word."""
    if present:
        return
    extra = given_options(*names)
    if extra:
        verb = "applies" if len(extra) == 1 else "apply"
        raise click.UsageError(f"{', '.join(extra)} only {verb} with {flag}")


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


def _one_environment(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> str | None:
    del ctx
    if len(value) > 1:
        raise click.BadParameter(
            f"given {len(value)} times ({', '.join(value)}); this command works on one "
            "environment: run it once for each",
            param=param,
        )
    return value[0] if value else None


def env_option(help: str, *, required: bool = False) -> Callable[[F], F]:
    """`--env NAME` for a command that works on one environment. click keeps the last of a
    repeated option without a word, so `--env dev --env prod` would quietly mean prod: refused."""
    return click.option(
        "--env",
        "env",
        multiple=True,
        required=required,
        metavar="NAME",
        callback=_one_environment,
        help=help,
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


# `--format` of a command that prints a table (images, recipe list): defined here, not in
# tables, so that declaring the option loads no model.
TABLE_FORMATS = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A table for people, or the same rows as JSON with stable keys (see the README).",
)
