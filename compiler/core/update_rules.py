"""AI Runway's update-time rules, checked against runway.lock instead of a live object.

AI Runway's webhook compares the old and the new ModelDeployment on every update, both after
its defaulter (`validateImmutableFields`): model.id, model.source, engine.type, serving.mode
and every managed storage volume (one with `size`, whose PVC the controller owns). In Git
there is no old object; what `runwayc lock` last recorded for the model (`UpdateRecord`, in
its provider pin) stands in for it, so a change the cluster would refuse after the merge is
refused in the pull request, with the webhook's message and field path. `lock --forget`
drops the record with the pin: the delete-and-recreate path.
"""

from __future__ import annotations

from fractions import Fraction

from compiler.core.diagnostics import Diagnostic
from compiler.core.lockfile import RecordedVolume, UpdateRecord
from compiler.core.model import ModelDeployment
from compiler.core.policy import CheckContext, forbidden, go_quote, invalid_value
from compiler.core.quantity import parse_quantity

MSG_FIELD = "{field} is immutable (changing it requires delete and recreate)"
MSG_VOLUME_REMOVED = (
    "managed storage volume {name} cannot be removed (it has an associated PVC; delete the "
    "ModelDeployment to clean up managed storage)"
)
MSG_VOLUME_CHANGED = (
    "managed storage volume is immutable once created (delete the ModelDeployment to change "
    "managed storage configuration)"
)

# The defaulter's mountPath for a volume that names none, by purpose.
DEFAULT_MOUNT = {"modelCache": "/model-cache", "compilationCache": "/compilation-cache"}
DEFAULT_ACCESS_MODE = "ReadWriteMany"
VOLUMES = ("spec", "model", "storage", "volumes")


def update_record(md: ModelDeployment) -> UpdateRecord:
    """What the webhook would compare for `md` on its next update, after defaulting."""
    storage = md.spec.model.storage
    managed = []
    for volume in (storage.volumes or []) if storage is not None else []:
        if volume.size is None:
            continue
        managed.append(
            RecordedVolume(
                name=volume.name,
                claim_name=volume.claim_name or f"{md.name}-{volume.name}",
                mount_path=volume.mount_path or DEFAULT_MOUNT.get(volume.purpose, ""),
                purpose=volume.purpose,
                read_only=volume.read_only,
                access_mode=volume.access_mode or DEFAULT_ACCESS_MODE,
                storage_class_name=volume.storage_class_name,
                size=str(volume.size),
            )
        )
    return UpdateRecord(
        model_id=md.spec.model.id or "",
        model_source=md.spec.model.source,
        engine_type=md.engine_type,
        serving_mode=md.serving_mode,
        managed_volumes=managed,
    )


def _size(text: str) -> Fraction | str:
    """A size by value (1Gi == 1024Mi, as resource.Quantity.Cmp has it)."""
    value = parse_quantity(text)
    return text if value is None else value


def _volume_key(volume: RecordedVolume) -> tuple[object, ...]:
    return (
        volume.name,
        volume.claim_name,
        volume.mount_path,
        volume.purpose,
        volume.read_only,
        volume.access_mode,
        volume.storage_class_name,
        _size(volume.size),
    )


def same_record(a: UpdateRecord, b: UpdateRecord) -> bool:
    """True when the two records differ in nothing the webhook could see."""
    return (a.model_id, a.model_source, a.engine_type, a.serving_mode) == (
        b.model_id,
        b.model_source,
        b.engine_type,
        b.serving_mode,
    ) and sorted(map(_volume_key, a.managed_volumes), key=repr) == sorted(
        map(_volume_key, b.managed_volumes), key=repr
    )


def update_violations(
    md: ModelDeployment, ctx: CheckContext, old: UpdateRecord
) -> list[Diagnostic]:
    """Every change from `old` that AI Runway's webhook refuses on update, in its words."""
    new = update_record(md)
    found: list[Diagnostic] = []

    def refuse(code: str, path: tuple[str | int, ...], message: str) -> None:
        found.append(ctx.at(code, message, path))

    if old.model_id != new.model_id:
        message = invalid_value(new.model_id, MSG_FIELD.format(field="model.id"))
        refuse("IMMUTABLE_FIELD", ("spec", "model", "id"), message)
    if old.model_source != new.model_source:
        message = invalid_value(new.model_source, MSG_FIELD.format(field="model.source"))
        refuse("IMMUTABLE_FIELD", ("spec", "model", "source"), message)
    # Setting an engine where none was, or clearing it, is allowed: only a swap is refused.
    if old.engine_type and new.engine_type and old.engine_type != new.engine_type:
        message = invalid_value(new.engine_type, MSG_FIELD.format(field="engine.type"))
        refuse("IMMUTABLE_FIELD", ("spec", "engine", "type"), message)
    if old.serving_mode != new.serving_mode:
        message = invalid_value(new.serving_mode, MSG_FIELD.format(field="serving.mode"))
        refuse("IMMUTABLE_FIELD", ("spec", "serving", "mode"), message)
    storage = md.spec.model.storage
    volumes = (storage.volumes or []) if storage is not None else []
    present = {volume.name for volume in volumes}
    for gone in old.managed_volumes:
        if gone.name not in present:
            message = forbidden(MSG_VOLUME_REMOVED.format(name=go_quote(gone.name)))
            refuse("STORAGE_IMMUTABLE", VOLUMES, message)
    recorded = {volume.name: volume for volume in old.managed_volumes}
    now = {volume.name: volume for volume in new.managed_volumes}
    for index, volume in enumerate(volumes):
        before = recorded.get(volume.name)
        if before is None:
            continue
        after = now.get(volume.name)
        # Dropping `size` makes the volume unmanaged: a change too (the size is compared).
        if after is None or _volume_key(before) != _volume_key(after):
            message = invalid_value(volume.name, MSG_VOLUME_CHANGED)
            refuse("STORAGE_IMMUTABLE", (*VOLUMES, index), message)
    return found
