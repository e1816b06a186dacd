"""Tables for people, and the same rows for machines (`--format json`): `runwayc images`,
`runwayc recipe list`. Pure formatting; the CLI passes the clock in.

Outside the import-linter core list only because it does date arithmetic with `datetime`;
it never reads the clock itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from compiler.core.diagnostics import Diagnostic, as_json_object
from compiler.core.images import classify, parse_reference
from compiler.core.kube import TIMESTAMP_FORMAT
from compiler.core.lockfile import LockFile
from compiler.core.pins import ImageNeed
from compiler.core.recipes import ModelEntry

# `--format` of a command that prints a table: the table, or its rows as JSON (stdout).


def _seconds_since(resolved_at: str | None, now: datetime) -> int | None:
    if not resolved_at:
        return None
    try:
        then = datetime.strptime(resolved_at, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return max(0, int((now - then).total_seconds()))


def format_age(resolved_at: str | None, now: datetime) -> str:
    """`3d`, `5h`, `12m` since a pin's resolution time; `-` when unknown."""
    seconds = _seconds_since(resolved_at, now)
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class ImageRow:
    """One line of `runwayc images`: what the table shows and the JSON carries."""

    reference: str
    source: str
    digest: str | None  # None: runs unpinned, by its tag
    resolved_at: str | None
    age_seconds: int | None
    used_by: tuple[str, ...]
    unpinned_reason: str | None  # why it has no digest (None when it has one)


def image_rows(lock: LockFile, needs: Mapping[str, ImageNeed], now: datetime) -> list[ImageRow]:
    rows = []
    for reference, need in needs.items():
        pin = lock.images.get(reference)
        digest = pin.digest if pin is not None and pin.digest else None
        why = None
        if digest is None:
            why = (
                f"`runwayc lock` could not resolve it: {pin.unresolved_reason}"
                if pin is not None and pin.unresolved_reason
                else "no digest pin in runway.lock; run `runwayc lock`"
            )
        resolved_at = pin.resolved_at if pin else None
        rows.append(
            ImageRow(
                reference,
                classify(parse_reference(reference)).source,
                digest,
                resolved_at or None,
                _seconds_since(resolved_at, now),
                tuple(need.sources),
                why,
            )
        )
    return rows


def images_table(lock: LockFile, needs: Mapping[str, ImageNeed], now: datetime) -> str:
    """The `runwayc images` table: reference, source, digest, age, ModelDeployments using it;
    then a line for each image that runs unpinned (by its tag), saying why."""
    rows = [("REFERENCE", "SOURCE", "DIGEST", "AGE", "USED BY")]
    unpinned = []
    for row in image_rows(lock, needs, now):
        if row.unpinned_reason is not None:
            unpinned.append(
                f"{row.reference} runs unpinned, by its tag as written: {row.unpinned_reason}"
            )
        age = format_age(row.resolved_at, now)
        rows.append(
            (row.reference, row.source, row.digest or "(unpinned)", age, ", ".join(row.used_by))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
             for row in rows]  # fmt: skip
    if unpinned:
        lines += ["", *unpinned]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def images_json(
    lock: LockFile,
    needs: Mapping[str, ImageNeed],
    now: datetime,
    diagnostics: Sequence[Diagnostic] = (),
) -> dict[str, Any]:
    """`runwayc images --format json`: the table's rows with raw values (the digest or null,
    the pin's resolvedAt and its age in seconds), then the diagnostics as `check` writes them."""
    return {
        "images": [
            {
                "reference": row.reference,
                "source": row.source,
                "digest": row.digest,
                "resolvedAt": row.resolved_at,
                "ageSeconds": row.age_seconds,
                "usedBy": list(row.used_by),
                "unpinnedReason": row.unpinned_reason,
            }
            for row in image_rows(lock, needs, now)
        ],
        "diagnostics": [as_json_object(d) for d in diagnostics],
    }


def recipe_models_json(models: Iterable[ModelEntry]) -> list[dict[str, Any]]:
    """`runwayc recipe list --format json`: what the recipes API lists of each model."""
    return [
        {"model": m.hf_id, "title": m.title, "provider": m.provider, "url": m.url} for m in models
    ]
