"""`lock` and `images` at the edge: compile, ask the registries, and keep runway.lock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from compiler.core.diagnostics import Diagnostic
from compiler.core.errors import FlagError
from compiler.core.kube import TIMESTAMP_FORMAT
from compiler.core.lock_plan import (
    config_broken,
    models_seen,
    plan_provider_lock,
    unknown_updates,
)
from compiler.core.lockfile import LockFile, serialize_lock
from compiler.core.model import ImageMirror
from compiler.core.pins import (
    ImageNeed,
    answers_as_requested,
    image_needs,
    plan_image_lock,
    references_to_ask,
    references_to_resolve,
)
from compiler.core.pipeline import (
    CompileInputs,
    CompileOptions,
    CompileResult,
    compile_project,
    read_project,
    resolve_policy,
    resolve_settings,
)
from compiler.io.parallel import process_map
from compiler.io.workspace import (
    LOCK_FILE,
    Workspace,
    compile_env,
    default_environment,
    repository_lock,
    write_if_changed,
)

# A progress display for `length` steps: a context manager giving the function to call after
# each step (the CLI's progress bar).
Progress = Callable[[int], AbstractContextManager[Callable[[], None]]]


@dataclass(frozen=True, slots=True)
class ImageCounts:
    resolved: int
    reused: int
    failed: int


@dataclass(frozen=True, slots=True)
class LockReport:
    diagnostics: list[Diagnostic]
    lock: LockFile
    written: bool  # whether runway.lock changed on disk
    images: ImageCounts | None  # None: images were not looked at (--skip-images, broken config)
    # The pins dropped because their ModelDeployment (or every user of the image) is gone.
    pruned_providers: tuple[str, ...] = ()
    pruned_images: tuple[str, ...] = ()


# What a compile says about image pins against the runway.lock it read. `lock` replaces those
# pins, then says itself what is still unpinned: the compile's words would be stale (an image
# it just pinned reported as "no digest pin").
_PIN_DIAGNOSTICS = frozenset({"IMAGE_NOT_PINNED", "IMAGE_UNRESOLVED", "IMAGE_UNPINNED"})


def lock_repository(
    repo: Path,
    env: str | None,
    *,
    forget: frozenset[str] = frozenset(),
    update: frozenset[str] = frozenset(),
    skip_images: bool = False,
    progress: Progress | None = None,
    via_mirror: bool = False,
) -> LockReport:
    """Record each ModelDeployment's provider and image digests in `repo`'s runway.lock.

    One `lock` at a time per repository: a second one waits, then reads what the first wrote,
    so neither loses the other's pins (the write itself is an atomic rename). Nothing is
    written when the configuration or runway.lock could not be read. `via_mirror` asks the
    mirrors of `env`'s overlay (`imageMirrors`) for the digests of the images they cover."""
    workspace = Workspace(repo)
    env = default_environment(workspace, env)
    with repository_lock(repo):
        inputs = workspace.inputs(env)
        mirrors = _mirrors(inputs, env) if via_mirror else None
        result = compile_project(
            inputs, CompileOptions(env=env), forget=forget, mapper=process_map(0)
        )
        project, _ = read_project(inputs.project)
        seen = models_seen(result, inputs.deployments, inputs.read_diagnostics, project)
        lock, pruned = plan_provider_lock(result, seen)
        diagnostics = list(result.diagnostics)
        counts = None
        broken = config_broken(result)
        # A --via-mirror whose settings did not read must not fall through to the upstreams.
        unmirrored = via_mirror and mirrors is None
        if not skip_images and not broken and not unmirrored:
            policy, _ = resolve_policy(inputs.builtin_policies, inputs.user_policies)
            lock, found, counts = _lock_images(
                lock,
                result,
                update,
                progress,
                mirrors,
                keep_unused=not seen.every_image_known,
                refuse_unpinned=policy.refuses_unpinned_user_images,
            )
            diagnostics = [d for d in diagnostics if d.code not in _PIN_DIAGNOSTICS] + found
        written = not broken and write_if_changed(repo / LOCK_FILE, serialize_lock(lock))
    pruned_images = sorted(set(result.lock.images) - set(lock.images)) if written else []
    return LockReport(
        diagnostics,
        lock,
        written,
        counts,
        tuple(key for key, _ in pruned) if written else (),
        tuple(pruned_images),
    )


def _mirrors(inputs: CompileInputs, env: str) -> tuple[ImageMirror, ...] | None:
    """The overlay's imageMirrors, for `--via-mirror`; refused when there are none (asking
    upstream instead is what the flag is there to prevent). None when the configuration does
    not read: the compile reports that, and no image is resolved."""
    settings, _ = resolve_settings(inputs, CompileOptions(env=env))
    if settings is None:
        return None
    mirrors = settings.overlay.image_mirrors if settings.overlay is not None else None
    if not mirrors:
        where = inputs.overlay.path if inputs.overlay is not None else f"overlays/{env}.yaml"
        raise FlagError(
            f"environment {env}'s overlay ({where}) has no imageMirrors to resolve through",
            param_hint="--via-mirror",
        )
    return tuple(mirrors)


def _lock_images(
    lock: LockFile,
    result: CompileResult,
    update: frozenset[str],
    progress: Progress | None,
    mirrors: tuple[ImageMirror, ...] | None,
    *,
    keep_unused: bool,
    refuse_unpinned: bool,
) -> tuple[LockFile, list[Diagnostic], ImageCounts]:
    """Resolve what needs resolving over the network (the edge), then plan purely."""
    needs = image_needs(result.deployments)
    unknown = unknown_updates(update, needs)
    if unknown:
        raise FlagError(
            f"{', '.join(unknown)} is not an image any ModelDeployment uses", param_hint="--update"
        )
    wanted = references_to_resolve(needs, lock, update)
    # Imported here: httpx costs ~60 ms at start-up, and only `lock` talks to registries.
    from compiler.io.registry import default_client

    client = default_client()
    asked = references_to_ask(wanted, mirrors)
    distinct = sorted(set(asked.values()))
    answers: dict[str, str | Exception] = {}
    if distinct:
        if progress is None:
            answers.update(client.resolve_many(distinct))
        else:
            with progress(len(distinct)) as step:
                answers.update(client.resolve_many(distinct, progress=step))
    answers = answers_as_requested(asked, answers)
    resolved_at = datetime.now(UTC).strftime(TIMESTAMP_FORMAT)
    lock, diagnostics, counts = plan_image_lock(
        lock,
        needs,
        answers,
        resolved_at,
        keep_unused=keep_unused,
        refuse_unpinned=refuse_unpinned,
    )
    return lock, diagnostics, ImageCounts(counts["resolved"], counts["reused"], counts["failed"])


@dataclass(frozen=True, slots=True)
class ImageUsage:
    lock: LockFile
    needs: Mapping[str, ImageNeed]
    now: datetime
    # The compile's errors: a runway.lock that does not read (or disagrees with itself) is
    # refused here as by every other command, not shown as an empty table.
    errors: tuple[Diagnostic, ...] = ()


def image_usage(repo: Path, env: str | None) -> ImageUsage:
    """The image references of `env` (else runway.yaml's default), their pins, and the time."""
    workspace = Workspace(repo)
    env = default_environment(workspace, env)
    result = compile_env(workspace, env, CompileOptions(env=env))
    errors = tuple(d for d in result.diagnostics if d.is_error)
    return ImageUsage(result.lock, image_needs(result.deployments), datetime.now(UTC), errors)
