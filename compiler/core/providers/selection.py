"""Engine and provider selection over the catalog in `policies/providers.yaml`.

Engine first (AI Runway's selectEngine, for a spec without `spec.engine.type`): over the
providers in name order, the engines whose GPU/CPU support and serving modes fit the spec,
and of those the first in the catalog's `enginePreference`. Then the provider, by AI Runway's
algorithm: keep providers whose capabilities match the spec (engine, serving mode,
GPU or CPU), score each by the highest priority among its CEL `selectionRules` that match
(0 if none), pick the highest score, break ties by name. `vllm` (Direct vLLM) is explicit-only:
it is never auto-selected, not even as the only candidate. CEL is evaluated with cel-python.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from compiler.core.model import (
    DEFAULT_GPU_RESOURCE,
    EngineType,
    ModelDeployment,
    ProviderCatalog,
    ProviderEntry,
    effective_gpu_count,
)


@dataclass(frozen=True, slots=True)
class Selection:
    provider: str | None
    reason: str
    # Set when nothing could be chosen: why, in AI Runway's words where it has them.
    failure: str | None = None


# `status.engine.selectedReason` when the spec names its engine (AI Runway's words).
EXPLICIT_ENGINE_REASON = "explicit engine selection"


@dataclass(frozen=True, slots=True)
class EngineChoice:
    engine: EngineType | None
    reason: str
    # Set when no engine could be chosen: AI Runway's message.
    failure: str | None = None


def needs_gpu(md: ModelDeployment) -> bool:
    """AI Runway's hasGPU for engine selection: a GPU asked for, or disaggregated serving
    (whose prefill and decode workers always run on GPUs)."""
    return effective_gpu_count(md) > 0 or md.serving_mode == "disaggregated"


def select_engine(catalog: ProviderCatalog, md: ModelDeployment) -> EngineChoice:
    """The engine for `md`: its own `spec.engine.type`, else auto-selected.

    Auto-selection ignores `spec.provider.name` (as AI Runway's does) and walks every
    provider, explicit-only ones included: they are registered, only never auto-selected."""
    if md.engine_type is not None:
        return EngineChoice(md.engine_type, EXPLICIT_ENGINE_REASON)
    has_gpu = needs_gpu(md)
    mode = md.serving_mode
    available: dict[str, str] = {}  # engine -> the first provider (by name) offering it
    advertised: dict[str, list[str]] = {}
    for entry in sorted(catalog.providers, key=lambda e: e.name):
        advertised[entry.name] = [capability.name for capability in entry.engines]
        for capability in entry.engines:
            supported = capability.gpu_support if has_gpu else capability.cpu_support
            if supported and mode in capability.serving_modes:
                available.setdefault(capability.name, entry.name)
    for engine in catalog.engine_preference:
        if engine in available:
            reason = f"auto-selected from provider {available[engine]} capabilities"
            return EngineChoice(engine, reason)
    failure = (
        "no engines available from registered providers "
        f"(hasGPU={_go_bool(has_gpu)}, servingMode={mode}, advertised={_go_map(advertised)})"
    )
    return EngineChoice(None, "", failure)


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


def _go_map(value: dict[str, list[str]]) -> str:
    """A map[string][]string as Go's %v prints it (keys sorted): AI Runway's exact text."""
    items = " ".join(f"{key}:[{' '.join(value[key])}]" for key in sorted(value))
    return f"map[{items}]"


def cel_spec(md: ModelDeployment) -> dict[str, Any]:
    """The spec as CEL sees it: wire names, CRD defaults, the admission GPU default, and
    the engine that runs (AI Runway overlays the selected engine before evaluating rules)."""
    spec: dict[str, Any] = md.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec.setdefault("engine", {})["type"] = md.engine
    resources = spec.setdefault("resources", {})
    if "gpu" not in resources and effective_gpu_count(md) > 0:
        resources["gpu"] = {"count": effective_gpu_count(md), "type": DEFAULT_GPU_RESOURCE}
    if not resources:
        del spec["resources"]
    return spec


@lru_cache(maxsize=1)
def _environment() -> Any:
    """One CEL environment, built on first use rather than at import.

    Building it compiles CEL's grammar (about 0.2 s) and a compile whose providers are all
    explicit or recorded in runway.lock never evaluates a rule, so it should not pay for it.
    celpy.Environment() also raises the recursion limit as a side effect; once is enough.
    """
    import celpy

    return celpy.Environment()


@lru_cache(maxsize=256)
def _program(condition: str) -> Any:
    env = _environment()
    return env.program(env.compile(condition))


def rule_matches(condition: str, spec: dict[str, Any]) -> bool:
    """Evaluate one selection rule; a rule that errors (missing field) does not match."""
    from celpy import celtypes
    from celpy.adapter import json_to_cel
    from celpy.evaluation import CELEvalError

    try:
        result = _program(condition).evaluate({"spec": json_to_cel(spec)})
    except CELEvalError:
        return False
    return isinstance(result, celtypes.BoolType) and bool(result)


def capability_mismatch(entry: ProviderEntry, md: ModelDeployment) -> str | None:
    """Why `entry` cannot serve `md`, or None when it can."""
    engine_type = md.engine
    engine = next((e for e in entry.engines if e.name == engine_type), None)
    if engine is None:
        return f"engine {engine_type} not supported"
    if md.serving_mode not in engine.serving_modes:
        return f"serving mode {md.serving_mode} not supported"
    gpus = gpu_need(md)
    if gpus > 0 and not engine.gpu_support:
        return "GPU not supported"
    if gpus == 0 and not engine.cpu_support:
        return "CPU-only not supported"
    return None


def gpu_need(md: ModelDeployment) -> int:
    """GPUs per pod the spec asks for: in disaggregated mode the prefill and decode
    components carry them (the webhook refuses resources.gpu there)."""
    gpus = effective_gpu_count(md)
    scaling = md.spec.scaling
    if md.serving_mode == "disaggregated" and scaling is not None:
        for component in (scaling.prefill, scaling.decode):
            if component is not None and component.gpu is not None:
                gpus = max(gpus, component.gpu.count)
    return gpus


def capability_summary(md: ModelDeployment) -> str:
    return f"engine={md.engine}, gpu={gpu_need(md)}, mode={md.serving_mode}"


def select_provider(catalog: ProviderCatalog, md: ModelDeployment) -> Selection:
    """Choose a provider for an MD that does not name one."""
    spec = cel_spec(md)
    scored: list[tuple[int, str]] = []
    explicit_only_fits: list[str] = []
    for entry in catalog.providers:
        if capability_mismatch(entry, md) is not None:
            continue
        if entry.explicit_only:
            explicit_only_fits.append(entry.name)
            continue
        priority = max(
            (rule.priority for rule in entry.selection_rules if rule_matches(rule.condition, spec)),
            default=0,
        )
        scored.append((priority, entry.name))
    summary = capability_summary(md)
    if not scored:
        if explicit_only_fits:
            names = ", ".join(explicit_only_fits)
            failure = (
                f"no provider can be auto-selected ({summary}); {names} is explicit-only: "
                f'set spec.provider.name: "{explicit_only_fits[0]}" to use it'
            )
        else:
            failure = _cpu_failure(catalog, md) or (
                f"no provider in the catalog supports this spec ({summary})"
            )
        return Selection(None, "", failure)
    priority, name = min(scored, key=lambda item: (-item[0], item[1]))
    return Selection(name, f"matched capabilities: {summary}; priority {priority}")


def _cpu_failure(catalog: ProviderCatalog, md: ModelDeployment) -> str | None:
    """The message when the only thing wrong is asking for no GPU: name what would work."""
    if gpu_need(md) > 0:
        return None
    engine = md.engine
    gpu_only = sorted(
        entry.name
        for entry in catalog.providers
        if capability_mismatch(entry, md) == "CPU-only not supported"
    )
    if not gpu_only:
        return None
    on_cpu = sorted(
        f"{capability.name} ({entry.name})"
        for entry in catalog.providers
        for capability in entry.engines
        if capability.cpu_support and md.serving_mode in capability.serving_modes
    )
    message = (
        f"no provider serves engine {engine} on CPU (gpu=0, mode={md.serving_mode}): "
        f"{', '.join(gpu_only)} need a GPU for it; set spec.resources.gpu.count > 0"
    )
    if on_cpu:
        message += f", or use an engine that runs on CPU: {', '.join(on_cpu)}"
    return message
