"""What an environment's overlay does to a compile, beyond tightening ceilings.

`overlays/<env>.yaml` maps source namespaces to the environment's, adds default labels and
annotations, clamps replica counts into the environment's range and sends image pulls to
registry mirrors. Each is a pure function of the overlay and the object it touches, so the
same ModelDeployment compiles differently per environment and identically per run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from compiler.core.diagnostics import Diagnostic, error
from compiler.core.errors import ImageError
from compiler.core.images import (
    DOCKER_HUB,
    DOCKER_HUB_ALIASES,
    REGISTRY_DOMAIN,
    REPOSITORY_COMPONENT,
    looks_like_registry,
    parse_reference,
)
from compiler.core.kube import KubeObject
from compiler.core.load import PathKey, SourceDocument, format_path
from compiler.core.model import ComponentScaling, ImageMirror, ModelDeployment, Overlay, ScalingSpec


def check_overlay(overlay: Overlay, doc: SourceDocument) -> list[Diagnostic]:
    """What the overlay's schema cannot say: ordered bounds and well-formed mirror prefixes."""
    diagnostics: list[Diagnostic] = []
    bounds = overlay.replicas
    if (
        bounds is not None
        and bounds.min is not None
        and bounds.max is not None
        and bounds.min > bounds.max
    ):
        path: PathKey = ("replicas", "min")
        diagnostics.append(
            error(
                "OVERLAY_INVALID",
                f"replicas.min ({bounds.min}) is greater than replicas.max ({bounds.max})",
                doc.location(path),
                format_path(path),
            )
        )
    seen: set[str] = set()
    for index, mirror in enumerate(overlay.image_mirrors or ()):
        for field, value in (("from", mirror.source), ("to", mirror.mirror)):
            path = ("imageMirrors", index, field)
            problem = _prefix_problem(value)
            if problem is None and field == "from" and _normalise(value) in seen:
                problem = "the same prefix is mirrored twice"
            if problem is not None:
                diagnostics.append(
                    error(
                        "OVERLAY_INVALID",
                        f'image mirror {field} "{value[:200]}": {problem}',
                        doc.location(path),
                        format_path(path),
                    )
                )
        seen.add(_normalise(mirror.source))
    return diagnostics


def _prefix_problem(prefix: str) -> str | None:
    host, _, path = prefix.partition("/")
    if not (looks_like_registry(host) and REGISTRY_DOMAIN.fullmatch(host)):
        return "must start with a registry host (such as docker.io or mirror.example.com:5000)"
    if path and not all(REPOSITORY_COMPONENT.fullmatch(part) for part in path.split("/")):
        return "repository path components are lower-case letters, digits and . _ __ -"
    return None


def _normalise(prefix: str) -> str:
    host, slash, path = prefix.partition("/")
    if host in DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
    return host + slash + path


# --- namespaces ------------------------------------------------------------------------------


def mapped_namespace(overlay: Overlay | None, source: str, otherwise: str) -> str:
    """The environment's namespace for a model whose source namespace is `source`."""
    if overlay is not None and overlay.namespaces and source in overlay.namespaces:
        return overlay.namespaces[source]
    return otherwise


# --- replicas --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clamped:
    md: ModelDeployment
    note: str | None  # "3 -> 2" style, for the compile facts; None when nothing moved


def clamp_replicas(md: ModelDeployment, overlay: Overlay | None) -> Clamped:
    """`md` with every replica count moved into the overlay's range."""
    bounds = overlay.replicas if overlay is not None else None
    if bounds is None or (bounds.min is None and bounds.max is None):
        return Clamped(md, None)

    def clamp(value: int) -> int:
        if bounds.max is not None:
            value = min(value, bounds.max)
        if bounds.min is not None:
            value = max(value, bounds.min)
        return value

    scaling = md.spec.scaling or ScalingSpec()
    moved: list[str] = []
    update: dict[str, object] = {}
    replicas = clamp(scaling.replicas)
    if replicas != scaling.replicas:
        update["replicas"] = replicas
        moved.append(f"replicas {scaling.replicas} -> {replicas}")
    autoscaling = scaling.autoscaling
    if autoscaling is not None:
        low, high = clamp(autoscaling.min_replicas), clamp(autoscaling.max_replicas)
        if (low, high) != (autoscaling.min_replicas, autoscaling.max_replicas):
            update["autoscaling"] = autoscaling.model_copy(
                update={"min_replicas": low, "max_replicas": high}
            )
            moved.append(
                f"autoscaling {autoscaling.min_replicas}..{autoscaling.max_replicas}"
                f" -> {low}..{high}"
            )
    for role in ("prefill", "decode"):
        component: ComponentScaling | None = getattr(scaling, role)
        if component is None:
            continue
        replicas = clamp(component.replicas)
        if replicas != component.replicas:
            update[role] = component.model_copy(update={"replicas": replicas})
            moved.append(f"{role} {component.replicas} -> {replicas}")
    if not update:
        return Clamped(md, None)
    spec = md.spec.model_copy(update={"scaling": scaling.model_copy(update=update)})
    return Clamped(md.model_copy(update={"spec": spec}), ", ".join(moved))


# --- images ----------------------------------------------------------------------------------


def mirrored_image(image: str, mirrors: Iterable[ImageMirror]) -> tuple[str, str | None]:
    """`image` pulled through the longest matching mirror, and that mirror's `to` (or None).

    A prefix matches whole path components: `docker.io/vllm` mirrors `docker.io/vllm/x`,
    never `docker.io/vllm-extra/x`. Tag and digest are kept as they are.
    """
    try:
        reference = parse_reference(image)
    except ImageError:
        return image, None
    name = reference.name
    best: tuple[str, ImageMirror] | None = None  # (normalised prefix, mirror)
    for mirror in mirrors:
        prefix = _normalise(mirror.source)
        matches = name == prefix or name.startswith(prefix + "/")
        if matches and (best is None or len(prefix) > len(best[0])):
            best = (prefix, mirror)
    if best is None:
        return image, None
    prefix, chosen = best
    rewritten = chosen.mirror.rstrip("/") + name[len(prefix) :]
    if reference.tag and not reference.digest:
        rewritten += f":{reference.tag}"
    if reference.digest:
        rewritten += f"@{reference.digest}"
    return rewritten, chosen.mirror


# --- labels and annotations ------------------------------------------------------------------


def with_defaults(
    objects: Iterable[KubeObject],
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None,
) -> list[KubeObject]:
    """Objects with the environment's default labels and annotations added under their own.

    An object's own value wins (these are defaults). Labels also go on pod templates, so
    metrics and cost reports can group pods by them; selectors are never touched, so adding
    or changing a default label can never orphan running pods.
    """
    if not labels and not annotations:
        return list(objects)
    result = []
    for obj in objects:
        updated = dict(obj)
        metadata = dict(updated.get("metadata") or {})
        if labels:
            metadata["labels"] = {**labels, **(metadata.get("labels") or {})}
        if annotations:
            metadata["annotations"] = {**annotations, **(metadata.get("annotations") or {})}
        updated["metadata"] = metadata
        spec = updated.get("spec")
        template = spec.get("template") if isinstance(spec, dict) else None
        if labels and isinstance(template, dict) and isinstance(spec, dict):
            template_meta = dict(template.get("metadata") or {})
            template_meta["labels"] = {**labels, **(template_meta.get("labels") or {})}
            updated["spec"] = {**spec, "template": {**template, "metadata": template_meta}}
        result.append(updated)
    return result
