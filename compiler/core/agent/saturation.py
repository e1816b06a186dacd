"""The saturation analyzer of llm-d's Workload Variant Autoscaler v0.5.0, pending-aware.

Pure: replica loads and variants in, one decision per variant out; `compiler.io.agent.prometheus`
fetches the loads and the runtime applies the decisions (status, the `wva_desired_replicas`
gauge). The rules, all from WVA:

- A replica is saturated when its KV-cache usage >= `kvCacheThreshold` or its waiting queue
  >= `queueLengthThreshold`. Spare capacity is averaged over the non-saturated replicas of a
  model (threshold - load); with none left the model is out of spare capacity.
- Scale up when the average spare KV cache < `kvSpareTrigger` or the average spare queue <
  `queueSpareTrigger`.
- Scale down only when at least two non-saturated replicas remain and their load, spread over
  one replica fewer, still leaves both spares at or above their triggers.
- A variant's pending replicas are `current - ready` (clamped at 0). A variant with pending
  replicas is skipped for scale-up: its last replica is still loading, and adding another
  before it serves would answer one spike twice. Another eligible variant of the same model
  may scale instead, the cheapest first, ties broken by name. Scale-down takes the most
  expensive variant above its minimum with nothing pending.
- Variants are keyed `namespace/name`; a model is its served name within a namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from compiler.core.errors import ConfigError
from compiler.core.load import nesting_refusal
from compiler.core.model import DEFAULT_GPU_RESOURCE
from compiler.core.providers.autoscaling import GPU_PRODUCT_LABEL

Action = Literal["ScaleUp", "ScaleDown", "Hold"]
WVA_MODE = "wva"
# WVA's ConfigMap keeps the global thresholds under this key, as a YAML document.
CONFIG_KEY = "default"
# WVA v0.5.0's default thresholds, as `bootstrap --cluster` writes them under CONFIG_KEY; the
# analyzer's defaults when the ConfigMap or its key is absent are read from the same text.
DEFAULT_THRESHOLDS = (
    "kvCacheThreshold: 0.80\nqueueLengthThreshold: 5\nkvSpareTrigger: 0.1\n"
    "queueSpareTrigger: 3\nwindow: 1m\n"
)
_DEFAULTS: dict[str, Any] = yaml.safe_load(DEFAULT_THRESHOLDS)


class SaturationConfig(BaseModel):
    """WVA's `saturation-scaling-config` entry, validated as WVA validates it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kv_cache_threshold: float = Field(
        _DEFAULTS["kvCacheThreshold"], alias="kvCacheThreshold", ge=0, le=1
    )
    queue_length_threshold: float = Field(
        _DEFAULTS["queueLengthThreshold"], alias="queueLengthThreshold", ge=0
    )
    kv_spare_trigger: float = Field(_DEFAULTS["kvSpareTrigger"], alias="kvSpareTrigger", ge=0, le=1)
    queue_spare_trigger: float = Field(
        _DEFAULTS["queueSpareTrigger"], alias="queueSpareTrigger", ge=0
    )
    # The range `max_over_time` looks back over: a replica's worst moment in it counts.
    window: str = Field(_DEFAULTS["window"], pattern=r"^[0-9]+(s|m|h)$")

    @model_validator(mode="after")
    def _spare_below_threshold(self) -> SaturationConfig:
        if self.kv_spare_trigger > self.kv_cache_threshold:
            raise ValueError(
                f"kvSpareTrigger ({self.kv_spare_trigger}) must not exceed "
                f"kvCacheThreshold ({self.kv_cache_threshold})"
            )
        return self


def saturation_config(data: Mapping[str, str] | None, source: str) -> SaturationConfig:
    """The thresholds from a ConfigMap's data (`default:` holds YAML); WVA's defaults when
    the ConfigMap or its key is absent. A bad value is an error naming `source`."""
    text = (data or {}).get(CONFIG_KEY)
    if text is None:
        return SaturationConfig()
    # An older libyaml composes in C recursion, with no cap: the bound is runwayc's.
    too_deep = nesting_refusal(text, CONFIG_KEY)
    if too_deep is not None:
        raise ConfigError(f"{source}: {too_deep.location}: {too_deep.message}")
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: {CONFIG_KEY}: not YAML ({exc.__class__.__name__})") from exc
    if loaded is None:
        return SaturationConfig()
    if not isinstance(loaded, dict):
        raise ConfigError(f"{source}: {CONFIG_KEY}: expected a mapping of thresholds")
    try:
        return SaturationConfig.model_validate(loaded)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or CONFIG_KEY}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from exc


@dataclass(frozen=True, slots=True)
class Variant:
    """One autoscaled ModelDeployment and the Deployment it scales."""

    namespace: str
    name: str
    model: str
    accelerator: str
    cost: Decimal
    current: int
    ready: int
    min_replicas: int = 1
    max_replicas: int = 2**31 - 1

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def pending(self) -> int:
        return max(0, self.current - self.ready)


@dataclass(frozen=True, slots=True)
class ReplicaLoad:
    """One pod's worst KV-cache usage and waiting queue over the window."""

    pod: str
    kv_cache: float
    queue: float


@dataclass(frozen=True, slots=True)
class ModelAnalysis:
    replicas: int
    saturated: int
    spare_kv: float
    spare_queue: float
    scale_up: bool
    scale_down_safe: bool


@dataclass(frozen=True, slots=True)
class Decision:
    variant: Variant
    desired: int
    action: Action
    saturated: int
    # Why a wanted scale-up did not happen here: PendingReplicas or MaxReplicas; None if not.
    blocked: str | None
    message: str


def is_saturated(load: ReplicaLoad, config: SaturationConfig) -> bool:
    return load.kv_cache >= config.kv_cache_threshold or load.queue >= config.queue_length_threshold


def analyze_model(loads: Sequence[ReplicaLoad], config: SaturationConfig) -> ModelAnalysis:
    """Spare capacity and the two verdicts for one model's replicas."""
    free = [load for load in loads if not is_saturated(load, config)]
    saturated = len(loads) - len(free)
    if not free:
        return ModelAnalysis(len(loads), saturated, 0.0, 0.0, bool(loads), False)
    kv_total = sum(load.kv_cache for load in free)
    queue_total = sum(load.queue for load in free)
    spare_kv = config.kv_cache_threshold - kv_total / len(free)
    spare_queue = config.queue_length_threshold - queue_total / len(free)
    scale_up = spare_kv < config.kv_spare_trigger or spare_queue < config.queue_spare_trigger
    down_safe = False
    if len(free) >= 2:
        remaining = len(free) - 1
        spare_kv_after = config.kv_cache_threshold - kv_total / remaining
        spare_queue_after = config.queue_length_threshold - queue_total / remaining
        down_safe = (
            spare_kv_after >= config.kv_spare_trigger
            and spare_queue_after >= config.queue_spare_trigger
        )
    return ModelAnalysis(len(loads), saturated, spare_kv, spare_queue, scale_up, down_safe)


def pod_variant(pod: str, variants: Iterable[Variant]) -> Variant | None:
    """The variant whose Deployment made `pod` (`<deployment>-<replicaset hash>-<suffix>`);
    the longest matching name wins, so `llama` never claims `llama-b`'s pods."""
    best: Variant | None = None
    for variant in variants:
        pattern = re.escape(variant.name) + r"-[a-z0-9]{1,10}-[a-z0-9]{5}"
        if re.fullmatch(pattern, pod) and (best is None or len(variant.name) > len(best.name)):
            best = variant
    return best


def decide(
    variants: Sequence[Variant],
    loads: Mapping[tuple[str, str], Sequence[ReplicaLoad]],
    config: SaturationConfig,
) -> dict[str, Decision]:
    """One decision per variant, by `namespace/name`. `loads` maps (namespace, model) to the
    replicas Prometheus reported for that model."""
    decisions: dict[str, Decision] = {}
    models: dict[tuple[str, str], list[Variant]] = {}
    for variant in variants:
        models.setdefault((variant.namespace, variant.model), []).append(variant)
    for model_key in sorted(models):
        group = sorted(models[model_key], key=lambda v: v.name)
        decisions.update(_decide_model(group, list(loads.get(model_key, ())), config))
    return decisions


def _decide_model(
    group: list[Variant], loads: list[ReplicaLoad], config: SaturationConfig
) -> dict[str, Decision]:
    saturated_of = {variant.key: 0 for variant in group}
    for load in loads:
        owner = pod_variant(load.pod, group)
        if owner is not None and is_saturated(load, config):
            saturated_of[owner.key] += 1
    analysis = analyze_model(loads, config)
    spare = f"spare KV cache {analysis.spare_kv:.2f}, spare queue {analysis.spare_queue:.1f}"
    held = {
        v.key: Decision(v, _clamp(v, v.current), "Hold", saturated_of[v.key], None, "")
        for v in group
    }
    if not loads:
        return {
            key: replace(d, message="no replica of this model reports metrics yet")
            for key, d in held.items()
        }
    if analysis.scale_up:
        return _scale_up(group, held, analysis, spare)
    if analysis.scale_down_safe:
        return _scale_down(group, held, spare)
    return {key: replace(d, message=f"capacity is sufficient ({spare})") for key, d in held.items()}


def _scale_up(
    group: list[Variant], held: dict[str, Decision], analysis: ModelAnalysis, spare: str
) -> dict[str, Decision]:
    why = f"{analysis.saturated} of {analysis.replicas} replicas saturated, {spare}"
    decisions = dict(held)
    chosen: Variant | None = None
    for variant in sorted(group, key=lambda v: (v.cost, v.name)):
        if variant.pending > 0:
            decisions[variant.key] = replace(
                held[variant.key],
                blocked="PendingReplicas",
                message=(
                    f"scale-up needed ({why}) but {variant.pending} replica(s) still starting "
                    f"({variant.current} desired, {variant.ready} ready)"
                ),
            )
        elif variant.current >= variant.max_replicas:
            decisions[variant.key] = replace(
                held[variant.key],
                blocked="MaxReplicas",
                message=f"scale-up needed ({why}) but at maxReplicas {variant.max_replicas}",
            )
        elif chosen is None:
            chosen = variant
            decisions[variant.key] = replace(
                held[variant.key],
                desired=_clamp(variant, variant.current + 1),
                action="ScaleUp",
                message=f"scale up {variant.current} -> {variant.current + 1}: {why}",
            )
        else:
            decisions[variant.key] = replace(
                held[variant.key], message=f"a cheaper variant scales up ({why})"
            )
    return decisions


def _scale_down(group: list[Variant], held: dict[str, Decision], spare: str) -> dict[str, Decision]:
    decisions = {
        key: replace(d, message=f"capacity is sufficient ({spare})") for key, d in held.items()
    }
    candidates = [v for v in group if v.pending == 0 and v.current > max(1, v.min_replicas)]
    if candidates:
        variant = sorted(candidates, key=lambda v: (-v.cost, v.name))[0]
        decisions[variant.key] = replace(
            held[variant.key],
            desired=_clamp(variant, variant.current - 1),
            action="ScaleDown",
            message=(
                f"scale down {variant.current} -> {variant.current - 1}: the load fits on one "
                f"replica fewer ({spare})"
            ),
        )
    return decisions


def _clamp(variant: Variant, replicas: int) -> int:
    return max(variant.min_replicas, min(variant.max_replicas, replicas))


# --- variants from live objects -------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any, default: int = 0) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


def _cost(value: Any) -> Decimal | None:
    if not value:
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        return None
    return cost if cost.is_finite() else None


def variant_of(
    md: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    default_cost: Decimal | None,
) -> Variant | None:
    """The variant a live ModelDeployment in mode wva describes, with its Deployment's
    replicas (spec = what the autoscaler asked for, readyReplicas = what serves); None for
    any other MD or one whose Deployment does not exist yet. `default_cost` is the policy's
    (`autoscaling.defaultVariantCost`), as the compiler rendered it into the
    VariantAutoscaling; None for a variant with no cost at all (a policy set without the
    built-in files)."""
    spec = _mapping(md.get("spec"))
    autoscaling = _mapping(_mapping(spec.get("scaling")).get("autoscaling"))
    metadata = _mapping(md.get("metadata"))
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if autoscaling.get("mode") != WVA_MODE or deployment is None:
        return None
    if not isinstance(name, str) or not isinstance(namespace, str):
        return None
    model = _mapping(spec.get("model"))
    served = model.get("servedName") or model.get("id") or name
    node_selector = _mapping(spec.get("nodeSelector"))
    gpu = _mapping(_mapping(spec.get("resources")).get("gpu"))
    accelerator = (
        autoscaling.get("accelerator")
        or node_selector.get(GPU_PRODUCT_LABEL)
        or gpu.get("type")
        or DEFAULT_GPU_RESOURCE
    )
    cost = _cost(autoscaling.get("variantCost"))
    if cost is None:
        cost = default_cost
    if cost is None:
        return None
    deployment_spec = _mapping(deployment.get("spec"))
    deployment_status = _mapping(deployment.get("status"))
    return Variant(
        namespace=namespace,
        name=name,
        model=str(served),
        accelerator=str(accelerator),
        cost=cost,
        current=_count(deployment_spec.get("replicas"), 1),
        ready=_count(deployment_status.get("readyReplicas")),
        min_replicas=_count(autoscaling.get("minReplicas"), 1),
        max_replicas=_count(autoscaling.get("maxReplicas"), 2**31 - 1),
    )
