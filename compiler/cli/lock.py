"""`runwayc lock` and `runwayc images`."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from compiler.cli._common import (
    EXIT_DIAGNOSTICS,
    TABLE_FORMATS,
    env_option,
    format_option,
    repo_argument,
    report,
    runway_errors,
    say,
    show_progress,
)
from compiler.core.diagnostics import has_errors

if TYPE_CHECKING:  # the registry client and the pipeline load inside the two commands
    from compiler.io.lock import Progress

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
@click.option(
    "--via-mirror",
    is_flag=True,
    help="Ask the environment's imageMirrors for the digests of the images they cover "
    "(the pins still name the upstream references).",
)
@env_option("Environment whose policy applies (default: runway.yaml's).")
@format_option
@runway_errors
def lock_command(
    repo: Path,
    forget: tuple[str, ...],
    update: tuple[str, ...],
    skip_images: bool,
    via_mirror: bool,
    env: str | None,
    output_format: str,
) -> None:
    """Record each ModelDeployment's provider and image digests in runway.lock."""
    if update and skip_images:
        raise click.UsageError(
            "--update re-resolves images and --skip-images leaves them as they are: give one"
        )
    if via_mirror and skip_images:
        raise click.UsageError("--via-mirror resolves images, and --skip-images resolves none")
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
        progress=progress_for(sys.stderr),
        via_mirror=via_mirror,
    )
    if locked.images is not None:
        counts = locked.images
        say(
            f"runwayc: images: {counts.resolved} resolved, {counts.reused} reused "
            f"(ImageResolutionReused), {counts.failed} failed"
        )
    report(locked.diagnostics, output_format)
    for key in locked.pruned_providers:
        say(
            f"runwayc: {LOCK_FILE}: pruned the provider pin of {key}: no such ModelDeployment "
            "in the repository any more"
        )
    for reference in locked.pruned_images:
        say(
            f"runwayc: {LOCK_FILE}: pruned the image pin of {reference}: no ModelDeployment "
            "uses it any more"
        )
    if locked.written:
        say(f"runwayc: {LOCK_FILE}: {len(locked.lock.providers)} provider pin(s) recorded")
    if has_errors(locked.diagnostics):
        sys.exit(EXIT_DIAGNOSTICS)


class ProgressLine:
    """`resolving images: 412/3000` on one terminal line, rewritten in place with `\r`.

    Redrawn at most every `interval` seconds (and at the end), so thousands of answers cost
    a few dozen writes, not thousands: progress must not slow the lock it reports on."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        total: int,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.1,
    ) -> None:
        self.stream, self.label, self.total = stream, label, total
        self.clock, self.interval = clock, interval
        self.done = 0
        self.shown = -1
        self.drawn_at = -math.inf

    def step(self) -> None:
        self.done += 1
        if self.done == self.total or self.clock() - self.drawn_at >= self.interval:
            self.draw()

    def draw(self) -> None:
        # The count only grows, so each line is at least as long as the one it overwrites.
        self.stream.write(f"\r{self.label}: {self.done}/{self.total}")
        self.stream.flush()
        self.shown, self.drawn_at = self.done, self.clock()

    def finish(self) -> None:
        """The last count stays on screen, and what is printed next starts a line of its own
        (an interrupted lock's message too)."""
        if self.shown != self.done:
            self.draw()
        self.stream.write("\n")
        self.stream.flush()


def progress_line(stream: TextIO, clock: Callable[[], float] = time.monotonic) -> Progress:
    """A `lock_repository` progress display drawing a `ProgressLine` on `stream`."""

    @contextmanager
    def show(total: int) -> Iterator[Callable[[], None]]:
        line = ProgressLine(stream, "resolving images", total, clock)
        line.draw()
        try:
            yield line.step
        finally:
            line.finish()

    return show


def progress_for(stream: TextIO) -> Progress | None:
    """A progress line on a terminal only, and not under -q: a log file or a CI job would
    keep every `\r`."""
    return progress_line(stream) if show_progress(stream) else None


@click.command("images")
@repo_argument
@env_option("Environment to read (default: runway.yaml's).")
@TABLE_FORMATS
@runway_errors
def images_command(repo: Path, env: str | None, output_format: str) -> None:
    """Table of image references: source, pinned digest, age, ModelDeployments using each."""
    from compiler.cli.tables import images_json, images_table
    from compiler.io.lock import image_usage

    usage = image_usage(repo, env)
    if output_format == "json":
        doc = images_json(usage.lock, usage.needs, usage.now, usage.errors)
        click.echo(json.dumps(doc, indent=2))
    else:
        report(usage.errors, "text")
        click.echo(images_table(usage.lock, usage.needs, usage.now), nl=False)
    if usage.errors:
        sys.exit(EXIT_DIAGNOSTICS)
