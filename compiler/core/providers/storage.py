"""`spec.model.storage.volumes`: AI Runway's storage rules, PVC mounts and managed PVCs.

A volume either references a pre-existing PVC (`claimName`, no `size`) or asks for a managed
one (`size`, claim named `<md>-<volume>`). AI Runway's controller creates managed PVCs at
reconcile time; in a GitOps flow the compiler renders them instead, so the sync tool owns
them like every other object. Messages are AI Runway's webhook messages.
"""

from __future__ import annotations

from typing import Any

from compiler.core.diagnostics import Diagnostic
from compiler.core.model import ModelDeployment, StorageVolume
from compiler.core.policy import CheckContext

SYSTEM_PATHS = ("/dev", "/proc", "/sys", "/etc", "/var/run")
DEFAULT_MOUNT_PATHS = {"modelCache": "/model-cache", "compilationCache": "/compilation-cache"}
MAX_CLAIM_NAME = 253


def volumes_of(md: ModelDeployment) -> list[StorageVolume]:
    storage = md.spec.model.storage
    return list(storage.volumes or []) if storage is not None else []


def claim_name(md: ModelDeployment, volume: StorageVolume) -> str:
    return volume.claim_name or f"{md.name}-{volume.name}"


def mount_path(volume: StorageVolume) -> str | None:
    """The mount path, or the purpose default AI Runway's webhook fills in."""
    return volume.mount_path or DEFAULT_MOUNT_PATHS.get(volume.purpose)


def check_storage(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    base = ("spec", "model", "storage", "volumes")
    names: set[str] = set()
    paths: set[str] = set()
    claims: set[str] = set()
    purposes = {"modelCache": 0, "compilationCache": 0}

    def bad(index: int, field: str, message: str) -> None:
        found.append(ctx.at("INVALID_STORAGE", message, (*base, index, field)))

    for index, volume in enumerate(volumes_of(md)):
        sized = volume.size is not None
        if not sized and not volume.claim_name:
            bad(
                index,
                "claimName",
                "claimName is required when size is not set (must reference a pre-existing PVC)",
            )
        if sized and volume.read_only:
            bad(
                index,
                "readOnly",
                "readOnly must not be true when size is set (controller-created PVCs need write "
                "access)",
            )
        expected = f"{md.name}-{volume.name}"
        if sized and volume.claim_name and volume.claim_name != expected:
            bad(
                index,
                "claimName",
                f'claimName must not be set when size is set (auto-generated as "{expected}")',
            )
        if sized and len(claim_name(md, volume)) > MAX_CLAIM_NAME:
            name = claim_name(md, volume)
            bad(
                index,
                "name",
                f'auto-generated PVC claim name "{name}" exceeds the 253-character Kubernetes '
                f"name limit (got {len(name)} characters); use a shorter ModelDeployment or "
                "volume name",
            )
        if volume.access_mode is not None and not sized:
            bad(
                index,
                "accessMode",
                "accessMode is only applicable when size is set (controller-created PVCs)",
            )
        if volume.storage_class_name is not None and not sized:
            bad(
                index,
                "storageClassName",
                "storageClassName is only applicable when size is set (controller-created PVCs)",
            )
        if volume.name in names:
            bad(index, "name", "duplicate volume name")
        names.add(volume.name)
        if volume.mount_path:
            if volume.mount_path in paths:
                bad(index, "mountPath", "duplicate mount path")
            paths.add(volume.mount_path)
            if not volume.mount_path.startswith("/"):
                bad(index, "mountPath", "mountPath must be an absolute path (start with /)")
            for system in SYSTEM_PATHS:
                if volume.mount_path == system or volume.mount_path.startswith(system + "/"):
                    bad(index, "mountPath", f"mountPath must not overlap with system path {system}")
                    break
        if volume.claim_name:
            if volume.claim_name in claims:
                bad(index, "claimName", "duplicate claim name")
            claims.add(volume.claim_name)
        if volume.purpose == "custom" and not volume.mount_path:
            bad(index, "mountPath", "mountPath is required when purpose is custom")
        if volume.purpose in purposes:
            purposes[volume.purpose] += 1
    for purpose, count in purposes.items():
        if count > 1:
            found.append(
                ctx.at(
                    "INVALID_STORAGE",
                    f"at most one volume with purpose={purpose} is allowed",
                    base,
                )
            )
    return found


def pod_volumes(md: ModelDeployment) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, container volumeMounts) for the storage volumes."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for volume in volumes_of(md):
        volumes.append(
            {"name": volume.name, "persistentVolumeClaim": {"claimName": claim_name(md, volume)}}
        )
        path = mount_path(volume)
        if path is None:
            continue
        mount: dict[str, Any] = {"name": volume.name, "mountPath": path}
        if volume.read_only:
            mount["readOnly"] = True
        mounts.append(mount)
    return volumes, mounts


def managed_claims(
    md: ModelDeployment, namespace: str, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """PersistentVolumeClaims for volumes with a `size` (AI Runway's managed PVCs)."""
    claims = []
    for volume in volumes_of(md):
        if volume.size is None:
            continue
        spec: dict[str, Any] = {
            # AI Runway's defaulter: managed PVCs are ReadWriteMany unless the spec says otherwise.
            "accessModes": [volume.access_mode or "ReadWriteMany"],
            "resources": {"requests": {"storage": str(volume.size)}},
        }
        if volume.storage_class_name is not None:
            spec["storageClassName"] = volume.storage_class_name
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": claim_name(md, volume),
                    "namespace": namespace,
                    "labels": dict(labels),
                },
                "spec": spec,
            }
        )
    return claims
