"""Tables for people: `runwayc images`. Pure formatting; the CLI passes the clock in.

Outside the import-linter core list only because it does date arithmetic with `datetime`;
it never reads the clock itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from compiler.core.images import classify, parse_reference
from compiler.core.kube import TIMESTAMP_FORMAT
from compiler.core.lockfile import LockFile
from compiler.core.pins import ImageNeed


def format_age(resolved_at: str | None, now: datetime) -> str:
    """`3d`, `5h`, `12m` since a pin's resolution time; `-` when unknown."""
    if not resolved_at:
        return "-"
    try:
        then = datetime.strptime(resolved_at, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return "-"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def images_table(lock: LockFile, needs: Mapping[str, ImageNeed], now: datetime) -> str:
    """The `runwayc images` table: reference, source, digest, age, ModelDeployments using it;
    then a line for each image that runs unpinned (by its tag), saying why."""
    rows = [("REFERENCE", "SOURCE", "DIGEST", "AGE", "USED BY")]
    unpinned = []
    for reference, need in needs.items():
        pin = lock.images.get(reference)
        source = classify(parse_reference(reference)).source
        if pin is not None and pin.digest:
            digest = pin.digest
        else:
            digest = "(unpinned)"
            why = (
                f"`runwayc lock` could not resolve it: {pin.unresolved_reason}"
                if pin is not None and pin.unresolved_reason
                else "no digest pin in runway.lock; run `runwayc lock`"
            )
            unpinned.append(f"{reference} runs unpinned, by its tag as written: {why}")
        age = format_age(pin.resolved_at if pin else None, now)
        rows.append((reference, source, digest, age, ", ".join(need.sources)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
             for row in rows]  # fmt: skip
    if unpinned:
        lines += ["", *unpinned]
    return "\n".join(line.rstrip() for line in lines) + "\n"
