"""runway.lock: the pins that make `compile --locked` a pure function.

Three sections, each keyed by a stable identity: `providers` (ModelDeployment `ns/name` ->
provider and selection reason), `images` (requested reference -> digest), `recipes` (model id ->
content sha256). `lock` writes it, `compile` only reads it, and every reader refuses an
entry that disagrees with itself (`parse_lock`). Serialisation is deterministic (sorted keys,
fixed layout) so a re-lock that changes nothing changes no byte.
"""

from __future__ import annotations

from typing import Annotated, Literal

import yaml
from pydantic import Field, StringConstraints

from compiler.core.diagnostics import Diagnostic, Location, error
from compiler.core.documents import parse_document
from compiler.core.errors import ImageError
from compiler.core.images import parse_reference
from compiler.core.load import LoadLimits, format_path, load_yaml
from compiler.core.model import EngineType, Frozen

LOCK_VERSION: Literal[1] = 1
Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


class RecordedVolume(Frozen):
    """A managed storage volume (one with `size`) as AI Runway's defaulter leaves it: the
    fields its webhook compares on update. `storageClassName` absent and "" differ, as they
    do there."""

    name: str
    claim_name: str
    mount_path: str = ""
    purpose: str
    read_only: bool = False
    access_mode: str
    storage_class_name: str | None = None
    size: str


class UpdateRecord(Frozen):
    """What AI Runway's webhook compares between the old and the new object on update, as
    last locked: the spec's identity fields after defaulting, and its managed volumes. The
    engine is the spec's own `engine.type` (absent when unset: overriding an auto-selected
    engine is allowed)."""

    model_id: str = ""
    model_source: str
    engine_type: str | None = None
    serving_mode: str
    managed_volumes: list[RecordedVolume] = Field(default_factory=list)


class ProviderPin(Frozen):
    """The provider chosen for one ModelDeployment; immutable once recorded."""

    name: str
    reason: str
    # The engine that runs and why (AI Runway's status.engine). Once recorded it is kept even
    # when spec.engine.type is removed or the catalog changes, as AI Runway never recomputes
    # it; absent in locks written before runwayc selected engines, which still read.
    engine: EngineType | None = None
    engine_reason: str | None = None
    # None in a lock written before runwayc recorded it: nothing to compare until `lock`.
    immutable: UpdateRecord | None = None


class ImagePin(Frozen):
    """One image reference resolved to a digest (or recorded as unresolved, with why)."""

    requested: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None
    resolved: str | None = None
    source: str | None = None
    resolved_at: str | None = None
    unresolved_reason: str | None = None


class RecipePin(Frozen):
    """A vendored recipe file and the sha256 of its content."""

    path: str
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    source: str | None = None
    revision: str | None = None
    files: dict[str, str] = Field(default_factory=dict)


class LockFile(Frozen):
    version: Literal[1]
    providers: dict[str, ProviderPin] = Field(default_factory=dict)
    images: dict[str, ImagePin] = Field(default_factory=dict)
    recipes: dict[str, RecipePin] = Field(default_factory=dict)

    @classmethod
    def empty(cls) -> LockFile:
        return cls(version=LOCK_VERSION)


# --- self-consistency -------------------------------------------------------------------------

# Where a field of an image entry sits in runway.lock, in its YAML spelling.
_WIRE = {"unresolved_reason": "unresolvedReason"}


def image_pin_problems(key: str, pin: ImagePin) -> list[tuple[str | None, str]]:
    """How an image entry disagrees with itself: (its field in the file, or None for the
    entry, and the reason). `lock` writes every field from the key and the registry's
    digest, so any disagreement is a hand edit (or a merge gone wrong), and rendering either
    half of it would deploy something the rest of the entry does not describe."""
    try:
        parsed = parse_reference(key)
    except ImageError as exc:
        return [(None, f"the key is not an image reference: {exc.message}")]
    found: list[tuple[str | None, str]] = []
    if pin.requested != key:
        found.append(("requested", f'requested "{pin.requested}" is not the entry\'s key'))
    if pin.repository != parsed.name:
        found.append(
            ("repository", f'repository "{pin.repository}" is not {key}\'s ({parsed.name})')
        )
    if pin.tag != parsed.tag:
        found.append(("tag", f'tag "{pin.tag}" is not {key}\'s ({parsed.tag})'))
    if parsed.digest is not None and pin.digest != parsed.digest:
        found.append(("digest", f"digest {pin.digest} is not the one {key} names"))
    if pin.digest is None:
        if pin.resolved is not None:
            found.append(("resolved", f'resolved "{pin.resolved}" but no digest'))
        if not pin.unresolved_reason:
            found.append((None, "neither a digest nor an unresolvedReason"))
        return found
    if pin.unresolved_reason:
        found.append(("unresolved_reason", "a digest and an unresolvedReason at once"))
    expected = f"{pin.repository}@{pin.digest}"
    if pin.resolved != expected:
        found.append(
            (
                "resolved",
                f'resolved "{pin.resolved}" disagrees with its repository and digest '
                f'(expected "{expected}")',
            )
        )
    return found


def lock_problems(lock: LockFile) -> list[tuple[tuple[str, ...], str]]:
    """Every self-disagreement of `lock`: (the path of the offending node, the reason)."""
    found: list[tuple[tuple[str, ...], str]] = []
    for key, pin in lock.images.items():
        for field, reason in image_pin_problems(key, pin):
            path: tuple[str, ...] = (
                ("images", key) if field is None else ("images", key, _WIRE.get(field, field))
            )
            found.append((path, reason))
    return found


# --- reading --------------------------------------------------------------------------------

LOCK_SHAPE = "a mapping of version, providers, images and recipes, as `runwayc lock` writes it"


def parse_lock(
    text: str, file: str, limits: LoadLimits
) -> tuple[LockFile | None, list[Diagnostic]]:
    """runway.lock, or None and why not: a malformed file is named as what it is, and an
    entry that disagrees with itself is LOCK_INCONSISTENT at the node that disagrees."""
    loaded = load_yaml(text, file, limits)
    if loaded.diagnostics:
        return None, list(loaded.diagnostics)
    start = Location(file, 1, 1)
    if len(loaded.documents) != 1:
        count = len(loaded.documents)
        message = f"{file} holds {count} YAML documents; expected one, {LOCK_SHAPE}"
        return None, [error("LOCK_MALFORMED", message, start)]
    doc = loaded.documents[0]
    if not isinstance(doc.data, dict):
        shape = "list" if isinstance(doc.data, list) else "scalar"
        message = f"{file} must be {LOCK_SHAPE}; got a {shape}"
        return None, [error("LOCK_MALFORMED", message, doc.location())]
    version = doc.data.get("version")
    if "version" in doc.data and version != LOCK_VERSION:
        message = (
            f"{file} is version {str(version)[:20]}; this runwayc reads version {LOCK_VERSION}"
        )
        return None, [error("LOCK_VERSION", message, doc.location(("version",)), "version")]
    parsed, diagnostics = parse_document(doc, LockFile)
    if parsed is None:
        return None, diagnostics
    inconsistent = [
        error(
            "LOCK_INCONSISTENT",
            f"entry {path[1]}: {reason}; runway.lock is written by `runwayc lock`: undo the "
            "edit, or delete the entry and run `runwayc lock` to pin it again",
            doc.location(path),
            format_path(path),
        )
        for path, reason in lock_problems(parsed)
    ]
    return (None, inconsistent) if inconsistent else (parsed, [])


LOCK_HEADER = (
    "# runway.lock: pins written by `runwayc lock` (providers, images, recipes).\n"
    "# Commit it. Change it only through runwayc: `lock --update`, `lock --forget`.\n"
)


def serialize_lock(lock: LockFile) -> str:
    """Deterministic text of a lock file: sorted keys, block style, a fixed header."""
    data = lock.model_dump(mode="json", by_alias=True, exclude_none=True)
    # The version leads so a reader (or an older runwayc) sees the format first.
    head = yaml.dump({"version": data.pop("version")}, Dumper=_LockDumper)
    body = head + yaml.dump(
        data,
        Dumper=_LockDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    return LOCK_HEADER + body


class _LockDumper(yaml.SafeDumper):
    """SafeDumper that never emits anchors, so equal entries stay written out."""

    def ignore_aliases(self, data: object) -> bool:
        return True
