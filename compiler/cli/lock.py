"""`runwayc lock` and `runwayc images`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from compiler.cli._common import (
    EXIT_DIAGNOSTICS,
    format_option,
    repo_argument,
    report,
    runway_errors,
)
from compiler.core.diagnostics import has_errors

# compiler.io.lock (the registry client, the pipeline) loads inside the two commands.
LOCK_FILE = "runway.lock"  # compiler.io.workspace.LOCK_FILE, without importing the workspace


@click.command("lock")
@repo_argument
@click.option(
    "--forget",
    "forget",
    multiple=True,
    metavar="NAMESPACE/NAME",
    help="Drop the recorded provider of a ModelDeployment (delete and recreate).",
)
@click.option(
    "--update",
    "update",
    multiple=True,
    metavar="IMAGE",
    help="Re-resolve this image reference even though it is pinned (the only way to move a pin).",
)
@click.option(
    "--skip-images", is_flag=True, help="Record providers only; leave image pins as they are."
)
@click.option("--env", "env", help="Environment whose policy applies (default: runway.yaml's).")
@format_option
@runway_errors
def lock_command(
    repo: Path,
    forget: tuple[str, ...],
    update: tuple[str, ...],
    skip_images: bool,
    env: str | None,
    output_format: str,
) -> None:
    """Record each ModelDeployment's provider and image digests in runway.lock."""
    from compiler.io.lock import lock_repository

    for key in forget:
        if key.count("/") != 1 or not all(key.split("/")):
            raise click.BadParameter(f"{key!r} is not NAMESPACE/NAME", param_hint="--forget")
    locked = lock_repository(
        repo,
        env,
        forget=frozenset(forget),
        update=frozenset(update),
        skip_images=skip_images,
        progress=_progress,
    )
    if locked.images is not None:
        counts = locked.images
        click.echo(
            f"runwayc: images: {counts.resolved} resolved, {counts.reused} reused "
            f"(ImageResolutionReused), {counts.failed} failed",
            err=True,
        )
    report(locked.diagnostics, output_format)
    for key in locked.pruned_providers:
        click.echo(
            f"runwayc: {LOCK_FILE}: pruned the provider pin of {key}: no such ModelDeployment "
            "in the repository any more",
            err=True,
        )
    for reference in locked.pruned_images:
        click.echo(
            f"runwayc: {LOCK_FILE}: pruned the image pin of {reference}: no ModelDeployment "
            "uses it any more",
            err=True,
        )
    if locked.written:
        click.echo(
            f"runwayc: {LOCK_FILE}: {len(locked.lock.providers)} provider pin(s) recorded",
            err=True,
        )
    if has_errors(locked.diagnostics):
        sys.exit(EXIT_DIAGNOSTICS)


@contextmanager
def _progress(length: int) -> Iterator[Callable[[], None]]:
    with click.progressbar(length=length, label="resolving images", file=sys.stderr) as bar:
        yield lambda: bar.update(1)


@click.command("images")
@repo_argument
@click.option("--env", "env", help="Environment to read (default: runway.yaml's).")
@runway_errors
def images_command(repo: Path, env: str | None) -> None:
    """Table of image references: source, pinned digest, age, ModelDeployments using each."""
    from compiler.cli.tables import images_table
    from compiler.io.lock import image_usage

    usage = image_usage(repo, env)
    report(usage.errors, "text")
    click.echo(images_table(usage.lock, usage.needs, usage.now), nl=False)
    if usage.errors:
        sys.exit(EXIT_DIAGNOSTICS)
