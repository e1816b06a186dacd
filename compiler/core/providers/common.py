"""Pieces every provider shares: AI Runway's labels, engine-arg rendering, overrides, and the
warnings for spec fields a provider never reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compiler.core.diagnostics import Diagnostic
from compiler.core.load import PathKey
from compiler.core.model import ModelDeployment, ProviderEntry, effective_gpu_count
from compiler.core.policy import OVERRIDES, CheckContext, user_tokens
from compiler.core.providers.merge import merge_overrides
from compiler.core.stamp import (
    DEPLOYMENT_LABEL,
    ENGINE_TYPE_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    MODEL_SOURCE_LABEL,
)

HF_TOKEN_KEY = "HF_TOKEN"  # noqa: S105 - the env var and Secret key name, not a secret


def airunway_labels(md: ModelDeployment) -> dict[str, str]:
    """The labels AI Runway's transformers put on what they create."""
    return {
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        DEPLOYMENT_LABEL: md.name,
        MODEL_SOURCE_LABEL: md.spec.model.source,
        ENGINE_TYPE_LABEL: md.engine,
    }


def pod_labels(md: ModelDeployment) -> dict[str, str]:
    meta = md.spec.pod_template.metadata if md.spec.pod_template else None
    return dict(meta.labels or {}) if meta is not None else {}


def pod_annotations(md: ModelDeployment) -> dict[str, str]:
    meta = md.spec.pod_template.metadata if md.spec.pod_template else None
    return dict(meta.annotations or {}) if meta is not None else {}


def engine_arg_tokens(md: ModelDeployment, skip: frozenset[str] = frozenset()) -> list[str]:
    """`engine.args` as rendered (policy.user_tokens), without the keys in `skip`."""
    return [
        t.text
        for t in user_tokens(md)
        if t.part and isinstance(t.origin, tuple) and t.origin[-1] not in skip
    ]


def hf_token_env(md: ModelDeployment) -> list[dict[str, Any]]:
    secret = md.spec.secrets.hugging_face_token if md.spec.secrets else None
    if not secret:
        return []
    return [
        {"name": HF_TOKEN_KEY, "valueFrom": {"secretKeyRef": {"name": secret, "key": HF_TOKEN_KEY}}}
    ]


def serving_roles(md: ModelDeployment) -> tuple[str | None, ...]:
    """The pod roles a spec runs: prefill and decode when disaggregated, else one (None)."""
    return ("prefill", "decode") if md.serving_mode == "disaggregated" else (None,)


def scheduling(md: ModelDeployment) -> dict[str, Any]:
    """`nodeSelector` and `tolerations` as pod-spec entries (only those the spec sets)."""
    out: dict[str, Any] = {}
    if md.spec.node_selector:
        out["nodeSelector"] = dict(md.spec.node_selector)
    if md.spec.tolerations:
        out["tolerations"] = [
            t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in md.spec.tolerations
        ]
    return out


def component_gpus(md: ModelDeployment, role: str | None) -> int:
    """GPUs per pod: the whole spec's, or a prefill/decode component's."""
    if role is None:
        return effective_gpu_count(md)
    scaling = md.spec.scaling
    component = getattr(scaling, role) if scaling is not None else None
    if component is None or component.gpu is None:
        return 0
    return int(component.gpu.count)


def overrides_of(md: ModelDeployment) -> dict[str, Any]:
    return dict(md.spec.provider.overrides or {}) if md.spec.provider else {}


def check_override_root(
    md: ModelDeployment, ctx: CheckContext, allowed: tuple[str, ...]
) -> list[Diagnostic]:
    """Override root keys the rendered object has no place for: the API server would prune
    them silently, so they are refused (AI Runway's message, Go's %q rendering of the list).
    Protected keys (apiVersion, kind, ...) have their own policy message."""
    protected = ctx.policy.protected_top_level
    unsupported = sorted(k for k in overrides_of(md) if k not in allowed and k not in protected)
    if not unsupported:
        return []
    listed = "[" + " ".join(f'"{key}"' for key in unsupported) + "]"
    names = ", ".join(f'"{key}"' for key in allowed)
    verb = "is" if len(allowed) == 1 else "are"
    message = f"unsupported provider.overrides key(s) {listed}: only {names} {verb} supported"
    return [ctx.at("OVERRIDE_UNSUPPORTED", message, (*OVERRIDES, unsupported[0]))]


def apply_overrides(
    obj: dict[str, Any],
    overrides: Mapping[str, Any],
    ctx: CheckContext,
    skeleton: tuple[PathKey, ...],
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """Deep-merge overrides into one rendered object (JSON merge patch: null deletes)."""
    if not overrides:
        return obj, []
    merged, refused = merge_overrides(obj, overrides, skeleton)
    problems = [ctx.at("OVERRIDE_SHAPE", reason, (*OVERRIDES, *path)) for path, reason in refused]
    for path, reason in _lost_guarantees(obj, merged, skeleton):
        problems.append(ctx.at("OVERRIDE_GUARANTEE", reason, (*OVERRIDES, *path)))
    return (obj if problems else merged), problems


# What an override may not change in a container runwayc rendered: its pinned image, how it is
# started (the flag checks judged these args), where it listens and how it is probed, and its
# GPU and memory limits. A merge patch replaces a list whole, so `containers:` or
# `initContainers:` in an override replaces every container, dropping all of these.
GUARDED_FIELDS = (
    "image",
    "command",
    "args",
    "ports",
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
    "resources",
)


def _at(node: Any, path: PathKey) -> Any:
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _lost_guarantees(
    before: Mapping[str, Any], after: Mapping[str, Any], skeleton: tuple[PathKey, ...]
) -> list[tuple[PathKey, str]]:
    lost: list[tuple[PathKey, str]] = []
    for path in skeleton:
        if path[-1] != "containers":
            continue
        pod_before, pod_after = _at(before, path[:-1]), _at(after, path[:-1])
        if not isinstance(pod_before, Mapping) or not isinstance(pod_after, Mapping):
            continue
        for field in ("containers", "initContainers"):
            here = (*path[:-1], field)
            old = {c.get("name"): c for c in pod_before.get(field) or [] if isinstance(c, Mapping)}
            new = [c for c in pod_after.get(field) or [] if isinstance(c, Mapping)]
            for container in new:
                name = container.get("name")
                if name not in old:
                    lost.append((here, MSG_ADDED_CONTAINER.format(field=field, name=name)))
                    continue
                changed = [k for k in GUARDED_FIELDS if container.get(k) != old[name].get(k)]
                if changed:
                    what = ", ".join(changed)
                    lost.append((here, MSG_CHANGED_CONTAINER.format(name=name, what=what)))
            for name in sorted(set(old) - {c.get("name") for c in new}, key=str):
                lost.append((here, MSG_REMOVED_CONTAINER.format(field=field, name=name)))
    return lost


MSG_ADDED_CONTAINER = (
    'overriding "{field}" is not allowed: container "{name}" is not one runwayc rendered '
    "(its image would not be pinned)"
)
MSG_CHANGED_CONTAINER = (
    'overriding the "{name}" container is not allowed: it would change its {what} '
    "(the pinned image, the checked launch flags, ports, probes and limits are runwayc's)"
)
MSG_REMOVED_CONTAINER = 'overriding "{field}" is not allowed: it would remove container "{name}"'


# --- fields a provider never reads -------------------------------------------------------------


def _camel_parts(field: str) -> tuple[str, ...]:
    return tuple(field.split(".")[1:])  # drop the leading "spec"


def _set_value(spec: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    node: Any = spec
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def ignored_field_warnings(
    md: ModelDeployment, ctx: CheckContext, entry: ProviderEntry
) -> list[Diagnostic]:
    """A warning for each field the spec sets (to a non-default, non-empty value) that this
    provider's AI Runway transformer never reads, so nothing is dropped silently."""
    if not entry.ignored_fields:
        return []
    spec = md.spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    engine = md.engine
    found: list[Diagnostic] = []
    for ignored in entry.ignored_fields:
        if ignored.engines is not None and engine not in ignored.engines:
            continue
        if ignored.serving_modes is not None and md.serving_mode not in ignored.serving_modes:
            continue
        parts = _camel_parts(ignored.field)
        value = _set_value(spec, parts)
        if value is None or value in ("", [], {}):
            continue
        message = f"{ignored.field} is ignored by provider {entry.name}"
        if ignored.note:
            message += f" ({ignored.note})"
        path: PathKey = ("spec", *parts)
        found.append(ctx.warning_at("FIELD_IGNORED", message, path))
    return found
