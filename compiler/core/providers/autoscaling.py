"""Autoscalers for `spec.scaling.autoscaling` (runwayc's extension of the spec): HPA, WVA and
KEDA.

Every mode targets the Deployment named after the ModelDeployment, so only providers that
render one (policies/autoscaling.yaml `providers`) take an autoscaler. Once an autoscaler is
rendered it owns the replica count: the Deployment is written without `spec.replicas`, or
every GitOps sync would reset what the autoscaler chose (Argo CD's and Flux's advice). The
HPA `behavior` comes from the policy data: one pod per period after a stabilisation window,
because a model load takes minutes and an unbounded policy would answer one spike with many
loads at once.
"""

from __future__ import annotations

import re
from typing import Any

from compiler.core.diagnostics import Diagnostic
from compiler.core.kube import KubeObject
from compiler.core.model import (
    LABEL_VALUE_PATTERN,
    AutoscalingRules,
    AutoscalingSpec,
    KedaRules,
    ModelDeployment,
    gpu_resource_name,
)
from compiler.core.policy import CheckContext
from compiler.core.promql import total
from compiler.core.providers.common import airunway_labels
from compiler.core.quantity import parse_quantity

PATH = ("spec", "scaling", "autoscaling")
SCALE_TARGET_API = "apps/v1"
SCALE_TARGET_KIND = "Deployment"
# The External metric WVA (and `runwayc agent --saturation`) publishes per variant.
WVA_METRIC = "wva_desired_replicas"
ACCELERATOR_LABEL = "inference.optimization/acceleratorName"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"

MSG_PROVIDER = (
    "spec.scaling.autoscaling needs a provider that renders a Deployment ({supported}); "
    "provider {provider} scales its own resource"
)
MSG_DISAGGREGATED = (
    "spec.scaling.autoscaling scales one Deployment and disaggregated serving runs two; "
    "size them with spec.scaling.prefill.replicas and spec.scaling.decode.replicas"
)
MSG_MIN_ZERO = (
    "minReplicas: 0 is only supported by mode {zero} (it scales to zero itself); mode {mode} "
    "renders a HorizontalPodAutoscaler, whose minReplicas must be at least 1"
)
MSG_MAX_ZERO = "maxReplicas must be at least 1"
MSG_MIN_OVER_MAX = "minReplicas ({low}) is greater than maxReplicas ({high})"
MSG_REPLICAS_RANGE = (
    "spec.scaling.replicas ({replicas}) must lie within the autoscaling bounds: "
    "minReplicas ({low}) <= replicas <= maxReplicas ({high})"
)
MSG_TARGET_WVA = (
    "target has no meaning in mode wva: the saturation analyzer's thresholds decide "
    "(the runwayc agent's saturation config)"
)
MSG_TARGET_POSITIVE = "target must be a quantity greater than 0, got {target!r}"
MSG_TARGET_FRACTION = (
    "target of mode kvcache is the KV-cache usage per pod, a fraction in (0, 1], got {target!r}"
)
MSG_NO_KEDA = (
    "mode keda needs the Prometheus address its trigger queries: set autoscaling.keda."
    "serverAddress in a policy file"
)
MSG_WVA_ONLY = "spec.scaling.autoscaling.{field} is only read in mode wva"


def autoscaling_of(md: ModelDeployment) -> AutoscalingSpec | None:
    return md.spec.scaling.autoscaling if md.spec.scaling else None


def check_autoscaling(md: ModelDeployment, ctx: CheckContext, provider: str) -> list[Diagnostic]:
    """Bounds, modes and targets of an autoscaled spec; every problem, not just the first."""
    spec = autoscaling_of(md)
    if spec is None:
        return []
    rules = ctx.policy.autoscaling
    found: list[Diagnostic] = []
    supported = rules.providers or []
    if provider not in supported:
        message = MSG_PROVIDER.format(supported=", ".join(supported), provider=provider)
        found.append(ctx.at("AUTOSCALING_PROVIDER", message, PATH))
    if md.serving_mode == "disaggregated":
        found.append(ctx.at("AUTOSCALING_PROVIDER", MSG_DISAGGREGATED, PATH))
    found.extend(_check_bounds(md, spec, ctx, rules))
    found.extend(_check_target(spec, ctx))
    if spec.mode == "keda" and (rules.keda is None or not rules.keda.server_address):
        found.append(ctx.at("AUTOSCALING_KEDA", MSG_NO_KEDA, (*PATH, "mode")))
    if spec.mode != "wva":
        for wire, value in (("variantCost", spec.variant_cost), ("accelerator", spec.accelerator)):
            if value is not None:
                path = (*PATH, wire)
                message = MSG_WVA_ONLY.format(field=wire)
                found.append(ctx.warning_at("FIELD_IGNORED", message, path))
    return found


def _check_bounds(
    md: ModelDeployment, spec: AutoscalingSpec, ctx: CheckContext, rules: AutoscalingRules
) -> list[Diagnostic]:
    low, high = spec.min_replicas, spec.max_replicas
    found = []
    if low == 0 and spec.mode not in (rules.scale_to_zero or []):
        zero = ", ".join(rules.scale_to_zero or []) or "none"
        message = MSG_MIN_ZERO.format(zero=zero, mode=spec.mode)
        found.append(ctx.at("AUTOSCALING_MIN_REPLICAS", message, (*PATH, "minReplicas")))
    if high == 0:
        found.append(ctx.at("AUTOSCALING_BOUNDS", MSG_MAX_ZERO, (*PATH, "maxReplicas")))
    elif low > high:
        message = MSG_MIN_OVER_MAX.format(low=low, high=high)
        found.append(ctx.at("AUTOSCALING_BOUNDS", message, (*PATH, "minReplicas")))
    elif not low <= md.replicas <= high:
        message = MSG_REPLICAS_RANGE.format(replicas=md.replicas, low=low, high=high)
        found.append(ctx.at("AUTOSCALING_BOUNDS", message, ("spec", "scaling", "replicas")))
    return found


def _check_target(spec: AutoscalingSpec, ctx: CheckContext) -> list[Diagnostic]:
    if spec.target is None:
        return []
    path = (*PATH, "target")
    if spec.mode == "wva":
        return [ctx.at("AUTOSCALING_TARGET", MSG_TARGET_WVA, path)]
    value = parse_quantity(spec.target)
    if value is None or value <= 0:
        return [ctx.at("AUTOSCALING_TARGET", MSG_TARGET_POSITIVE.format(target=spec.target), path)]
    if spec.mode == "kvcache" and value > 1:
        return [ctx.at("AUTOSCALING_TARGET", MSG_TARGET_FRACTION.format(target=spec.target), path)]
    return []


# --- rendering ---------------------------------------------------------------------------------


def render_autoscaler(
    md: ModelDeployment, namespace: str, rules: AutoscalingRules
) -> list[KubeObject]:
    """The autoscaling objects of a checked spec (none when it asks for no autoscaler)."""
    spec = autoscaling_of(md)
    if spec is None:
        return []

    def metadata() -> dict[str, Any]:
        return {"name": md.name, "namespace": namespace, "labels": airunway_labels(md)}

    if spec.mode == "keda":
        return [_scaled_object(md, spec, metadata(), rules)]
    if spec.mode == "wva":
        return [
            _variant_autoscaling(md, spec, metadata(), rules),
            _hpa(md, spec, metadata(), rules),
        ]
    return [_hpa(md, spec, metadata(), rules)]


def release_replicas(objects: list[KubeObject], md: ModelDeployment) -> list[KubeObject]:
    """The objects with the autoscaled Deployment's `spec.replicas` left to its autoscaler."""
    if autoscaling_of(md) is None:
        return objects
    released = []
    for obj in objects:
        if obj.get("kind") == SCALE_TARGET_KIND and obj["metadata"]["name"] == md.name:
            obj = {**obj, "spec": {k: v for k, v in obj["spec"].items() if k != "replicas"}}
        released.append(obj)
    return released


def _target_ref(md: ModelDeployment) -> dict[str, str]:
    return {"apiVersion": SCALE_TARGET_API, "kind": SCALE_TARGET_KIND, "name": md.name}


def _target(spec: AutoscalingSpec, rules: AutoscalingRules) -> str:
    if spec.target is not None:
        return spec.target
    return (rules.default_targets or {})[spec.mode]


def _metric(spec: AutoscalingSpec, rules: AutoscalingRules) -> str:
    return (rules.metrics or {})[spec.mode]


def _hpa(
    md: ModelDeployment,
    spec: AutoscalingSpec,
    metadata: dict[str, Any],
    rules: AutoscalingRules,
) -> KubeObject:
    metric: dict[str, Any]
    if spec.mode == "wva":
        # WVA's shape: the desired count is the metric itself (one per replica).
        metric = {
            "type": "External",
            "external": {
                "metric": {
                    "name": WVA_METRIC,
                    "selector": {"matchLabels": {"variant_name": md.name}},
                },
                "target": {"type": "AverageValue", "averageValue": "1"},
            },
        }
    else:
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": _metric(spec, rules)},
                "target": {"type": "AverageValue", "averageValue": _target(spec, rules)},
            },
        }
    hpa_spec: dict[str, Any] = {
        "scaleTargetRef": _target_ref(md),
        "minReplicas": spec.min_replicas,
        "maxReplicas": spec.max_replicas,
        "metrics": [metric],
    }
    if rules.behavior:
        hpa_spec["behavior"] = rules.behavior
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": hpa_spec,
    }


def accelerator_of(md: ModelDeployment) -> str:
    """The accelerator a variant runs on: as declared, else the GPU product the pods are
    pinned to, else the GPU resource name."""
    spec = autoscaling_of(md)
    if spec is not None and spec.accelerator:
        return spec.accelerator
    product = (md.spec.node_selector or {}).get(GPU_PRODUCT_LABEL)
    return product or gpu_resource_name(md)


def served_model(md: ModelDeployment) -> str:
    """The `model_name` label vLLM puts on its metrics: the served name, else the model ID."""
    return md.spec.model.served_name or md.spec.model.id or md.name


def _variant_autoscaling(
    md: ModelDeployment,
    spec: AutoscalingSpec,
    metadata: dict[str, Any],
    rules: AutoscalingRules,
) -> KubeObject:
    cost = spec.variant_cost or rules.default_variant_cost
    labels = {**metadata["labels"]}
    accelerator = accelerator_of(md)
    if len(accelerator) <= 63 and re.fullmatch(LABEL_VALUE_PATTERN, accelerator):
        labels[ACCELERATOR_LABEL] = accelerator
    return {
        "apiVersion": "llmd.ai/v1alpha1",
        "kind": "VariantAutoscaling",
        "metadata": {**metadata, "labels": labels},
        "spec": {
            "scaleTargetRef": _target_ref(md),
            "modelID": served_model(md),
            "variantCost": cost,
        },
    }


def _scaled_object(
    md: ModelDeployment,
    spec: AutoscalingSpec,
    metadata: dict[str, Any],
    rules: AutoscalingRules,
) -> KubeObject:
    keda = rules.keda or KedaRules()  # check_autoscaling refused a missing one
    labels = {"namespace": metadata["namespace"], "model_name": served_model(md)}
    query = total(_metric(spec, rules), labels)
    advanced: dict[str, Any] = {}
    if rules.behavior:
        advanced = {"horizontalPodAutoscalerConfig": {"behavior": rules.behavior}}
    scaled: dict[str, Any] = {
        "scaleTargetRef": _target_ref(md),
        "minReplicaCount": spec.min_replicas,
        "maxReplicaCount": spec.max_replicas,
        "pollingInterval": keda.polling_interval,
        "cooldownPeriod": keda.cooldown_period,
    }
    if advanced:
        scaled["advanced"] = advanced
    scaled["triggers"] = [
        {
            "type": "prometheus",
            "metadata": {
                "serverAddress": keda.server_address,
                "query": query,
                "threshold": _target(spec, rules),
                "activationThreshold": keda.activation_threshold,
            },
        }
    ]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata,
        "spec": scaled,
    }
