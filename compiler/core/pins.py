"""Image pins in runway.lock: which references need resolving, and what the answers mean.

Pure: the registry client (the edge) answers `references_to_resolve`, then `plan_image_lock`
turns answers into pins and diagnostics. The rules: a pin is reused
forever (ImageResolutionReused) unless `lock --update` names it; the default image that
cannot be resolved is a hard error and records nothing (the outage gate), so `compile
--locked` fails for the MDs that use it; a user-chosen tag that cannot be resolved is recorded
as unresolved with the reason and compiles, tag as written, with a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from compiler.core.diagnostics import Diagnostic, Location, error, warning
from compiler.core.errors import ImageError
from compiler.core.images import classify, parse_reference
from compiler.core.lockfile import ImagePin, LockFile
from compiler.core.model import ImageMirror
from compiler.core.outcome import CompiledDeployment
from compiler.core.overlay import mirrored_image


@dataclass(frozen=True, slots=True)
class ImageNeed:
    reference: str
    is_default: bool
    sources: tuple[str, ...]


def image_needs(deployments: Iterable[CompiledDeployment]) -> dict[str, ImageNeed]:
    needs: dict[str, ImageNeed] = {}
    for item in deployments:
        wanted = [(item.image, item.image_is_default)] if item.image is not None else []
        # Component images (routers, sidecars) come from the catalog: defaults, outage gate.
        wanted += [(reference, True) for reference in item.component_images]
        for reference, default in wanted:
            known = needs.get(reference)
            sources = (*(known.sources if known else ()), item.source)
            is_default = default or (known.is_default if known else False)
            needs[reference] = ImageNeed(reference, is_default, tuple(sorted(set(sources))))
    return dict(sorted(needs.items()))


def references_to_resolve(
    needs: Mapping[str, ImageNeed], lock: LockFile, update: frozenset[str]
) -> list[str]:
    """References with no usable pin, or named by `--update`; digest-only ones never."""
    wanted = []
    for reference in needs:
        pin = lock.images.get(reference)
        unpinned = pin is None or pin.digest is None
        if "@" not in reference and (reference in update or unpinned):
            wanted.append(reference)
    return wanted


def references_to_ask(
    wanted: Iterable[str], mirrors: Iterable[ImageMirror] | None
) -> dict[str, str]:
    """Each reference to resolve -> the reference the registry is asked for: through the
    environment's mirror when one covers it (`lock --via-mirror`), else itself.

    A reference no mirror covers is asked of its own registry, as the cluster would pull
    it: `--via-mirror` follows the overlay, it does not invent mirrors."""
    mirrors = tuple(mirrors or ())
    return {reference: mirrored_image(reference, mirrors)[0] for reference in wanted}


def answers_as_requested(
    asked: Mapping[str, str], answers: Mapping[str, str | Exception]
) -> dict[str, str | Exception]:
    """The registries' answers keyed by the reference as requested, for `plan_image_lock`.

    A mirror's digest is the upstream's (a digest names content, wherever it is served), so
    the pin records the upstream reference with it. A mirror's failure stays a failure: a
    team that asked for the mirror (an air-gapped one) must not get a pin from elsewhere,
    and the reason says which mirror reference was asked."""
    found: dict[str, str | Exception] = {}
    for reference, through in asked.items():
        answer = answers[through]
        if isinstance(answer, Exception) and through != reference:
            reason = str(answer).removeprefix(f'image "{through}": ')
            answer = ImageError(f'image "{reference}" through the mirror "{through}": {reason}')
        found[reference] = answer
    return found


def plan_image_lock(
    lock: LockFile,
    needs: Mapping[str, ImageNeed],
    answers: Mapping[str, str | Exception],
    resolved_at: str,
    keep_unused: bool = False,
    refuse_unpinned: bool = False,
) -> tuple[LockFile, list[Diagnostic], dict[str, int]]:
    """(new lock, diagnostics, counts of reused/resolved/failed).

    A pin no need names is dropped, unless `keep_unused` (some ModelDeployment did not get as
    far as naming its images, and may be the one that uses it). A failed `--update` keeps
    the digest it was meant to move: losing a pin is never the answer to an outage. A user's
    tag that does not resolve is recorded as unresolved either way; `refuse_unpinned` (the
    policy's images.unpinnedUserImages) makes that an error instead of a warning."""
    images: dict[str, ImagePin] = {}
    diagnostics: list[Diagnostic] = []
    counts = {"reused": 0, "resolved": 0, "failed": 0}
    for reference, need in needs.items():
        parsed = parse_reference(reference)
        source = classify(parsed).source
        answer = answers.get(reference)
        if answer is None:
            existing = lock.images.get(reference)
            if "@" in reference and parsed.digest:
                images[reference] = ImagePin(
                    requested=reference, repository=parsed.name, tag=parsed.tag,
                    digest=parsed.digest, resolved=parsed.pinned(parsed.digest), source=source,
                )  # fmt: skip
            elif existing is not None:
                images[reference] = existing  # ImageResolutionReused
                counts["reused"] += 1
            continue
        if isinstance(answer, str):
            images[reference] = ImagePin(
                requested=reference, repository=parsed.name, tag=parsed.tag, digest=answer,
                resolved=parsed.pinned(answer), source=source, resolved_at=resolved_at,
            )  # fmt: skip
            counts["resolved"] += 1
            continue
        counts["failed"] += 1
        reason = str(answer)
        existing = lock.images.get(reference)
        if existing is not None and existing.digest is not None:
            images[reference] = existing
            diagnostics.extend(
                error(
                    "IMAGE_RESOLUTION_FAILED",
                    f"ImageResolutionFailed: --update could not resolve the image, so its "
                    f"pin stays at {existing.digest}: {reason}",
                    Location(file),
                )
                for file in need.sources
            )
            continue
        for file in need.sources:
            if need.is_default:
                diagnostics.append(
                    error(
                        "IMAGE_RESOLUTION_FAILED",
                        f"ImageResolutionFailed: default image could not be resolved, so no pin "
                        f"is recorded and `compile --locked` will fail: {reason}",
                        Location(file),
                    )
                )
            elif refuse_unpinned:
                diagnostics.append(
                    error(
                        "IMAGE_UNPINNED",
                        f"ImageResolved=False: {reason}; recorded as unresolved, and the policy "
                        "refuses unpinned user images (images.unpinnedUserImages: refuse), so "
                        "compile fails until it resolves",
                        Location(file),
                    )
                )
            else:
                diagnostics.append(
                    warning(
                        "IMAGE_UNRESOLVED",
                        f"ImageResolved=False: {reason}; recorded as unresolved: it compiles "
                        "and runs unpinned, by its tag as written",
                        Location(file),
                    )
                )
        if not need.is_default:
            images[reference] = ImagePin(
                requested=reference, repository=parsed.name, tag=parsed.tag, source=source,
                resolved_at=resolved_at, unresolved_reason=reason,
            )  # fmt: skip
    if keep_unused:
        images.update((k, v) for k, v in lock.images.items() if k not in images)
    images = dict(sorted(images.items()))
    return lock.model_copy(update={"images": images}), diagnostics, counts
