"""AI Runway's provider compatibility check, which runs before any provider's transformer.

`validation.CheckProviderCompatibility` (shared by AI Runway's webhook and controller)
compares the spec's engine, serving mode and GPU need with the provider's capabilities, here
the catalog in `policies/providers.yaml`. Its words are the ones a user meets, so they are
the ones runwayc prints: when the spec names both the provider and the engine the webhook
refuses it at admission as a Kubernetes field error (`spec.engine.type: Invalid value:
"sglang": provider kaito does not support engine sglang`); when it names no provider the
controller's fallback (no registered provider runs the engine on CPU) is its plain
sentence. An engine that was auto-selected is checked too, after selection: the webhook
skips a spec with no `engine.type`, so the controller's `validateSpec` is the first to see
it, with the resolved engine and in its plain words (`modeldeployment_controller.go`,
steps 4-6). A spec refused here never reaches the provider's own checks, as in AI Runway.
"""

from __future__ import annotations

from compiler.core.diagnostics import Diagnostic
from compiler.core.model import ModelDeployment, ProviderCatalog, effective_gpu_count
from compiler.core.policy import CheckContext, invalid_value

# The Dynamo test backend skips the check in AI Runway; runwayc refuses it in check_dynamo.
MOCKER_ANNOTATION = "airunway.ai/dynamo-test-backend"

MSG_ENGINE = "provider {provider} does not support engine {engine}"
MSG_MODE = "provider {provider} does not support {mode} mode for engine {engine}"
MSG_GPU_ON = "{engine} engine on provider {provider} requires GPU (set resources.gpu.count > 0)"
MSG_GPU = "{engine} engine requires GPU (set resources.gpu.count > 0)"


def check_compatibility(
    md: ModelDeployment, ctx: CheckContext, catalog: ProviderCatalog
) -> list[Diagnostic]:
    # The engine that runs: as written, else the one engine selection chose.
    engine = md.engine
    explicit = md.engine_type is not None
    provider = md.spec.provider.name if md.spec.provider else None
    mocker = (md.metadata.annotations or {}).get(MOCKER_ANNOTATION) == "mocker"
    if mocker and provider == "dynamo":
        return []
    mode = md.serving_mode
    # After AI Runway's defaulter: an engine with no resources asks for one GPU.
    gpus = effective_gpu_count(md)
    found: list[Diagnostic] = []

    def refuse(code: str, path: tuple[str, ...], value: object, message: str) -> None:
        # With a provider and an engine named the webhook runs first and renders a field
        # error; otherwise the controller's validateSpec reports the bare message.
        text = invalid_value(value, message) if provider and explicit else message
        found.append(ctx.at(code, text, path))

    entry = next((e for e in catalog.providers if e.name == provider), None)
    if entry is None:
        # An unknown provider is choose_provider's to report (InferenceProviderConfig not
        # found); with none named only the controller's CPU fallback applies.
        if not provider and mode == "aggregated" and gpus == 0 and catalog.providers:
            on_cpu = any(
                capability.name == engine and capability.cpu_support
                for candidate in catalog.providers
                for capability in candidate.engines
            )
            if not on_cpu:
                message = MSG_GPU.format(engine=engine)
                refuse("PROVIDER_NEEDS_GPU", ("spec", "resources", "gpu", "count"), gpus, message)
        return found
    capability = next((c for c in entry.engines if c.name == engine), None)
    if capability is None:
        message = MSG_ENGINE.format(provider=provider, engine=engine)
        # An auto-selected engine is not in the spec: the provider named is what clashes.
        path = ("spec", "engine", "type") if explicit else ("spec", "provider", "name")
        refuse("PROVIDER_ENGINE", path, engine, message)
        return found
    if mode not in capability.serving_modes:
        message = MSG_MODE.format(provider=provider, mode=mode, engine=engine)
        refuse("PROVIDER_SERVING_MODE", ("spec", "serving", "mode"), mode, message)
    if mode == "aggregated" and gpus == 0 and not capability.cpu_support:
        message = MSG_GPU_ON.format(engine=engine, provider=provider)
        refuse("PROVIDER_NEEDS_GPU", ("spec", "resources", "gpu", "count"), gpus, message)
    return found
