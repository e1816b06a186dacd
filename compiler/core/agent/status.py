"""A ModelDeployment's status from what the cluster shows: a pure function.

The agent observes three things per ModelDeployment (the MD itself with its compile stamp, the
Deployment and the Service of its name) and this module turns them into the `status` AI
Runway's controller would write: phase, provider, image, replicas, endpoint,
conditions and `observedGeneration`. The I/O loop (`compiler.io.agent.runtime`) only gathers the
objects and writes what comes out, and only when it differs from what is there.

Time is an input (`now`, an RFC 3339 string): a condition keeps its `lastTransitionTime` while
its status stays the same, so computing twice from the same observations gives the same bytes
and a resync writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast, get_args

from compiler.core.agent.gateway import gateway_condition, gateway_status
from compiler.core.agent.readers import (
    MSG_IN_PROGRESS,
    MSG_READY,
    STATUS_READERS,
    Condition,
    Observed,
    Phase,
    ProviderView,
    as_int,
    mapping,
    provider_of,
)
from compiler.core.agent.saturation import Decision
from compiler.core.documents import parse_document
from compiler.core.errors import ImageError
from compiler.core.images import parse_reference
from compiler.core.load import SourceDocument
from compiler.core.model import EngineType, ModelDeployment
from compiler.core.policy import CheckContext, PolicySet, check_model_deployment
from compiler.core.providers import PROVIDERS
from compiler.core.providers.selection import EXPLICIT_ENGINE_REASON
from compiler.core.recipes import ANNOTATION_PREFIX as RECIPE_ANNOTATION_PREFIX
from compiler.core.recipes import GENERATED_BY
from compiler.core.stamp import (
    ENGINE,
    ENGINE_REASON,
    EXPLICIT_FIELD,
    IMAGE_DIGEST,
    IMAGE_IN_NIGHTLY,
    IMAGE_REQUESTED,
    IMAGE_RESOLVED,
    IMAGE_SOURCE,
    IMAGE_UNPINNED,
    POLICY,
    PROVIDER_REASON,
    SPEC_HASH,
    Stamp,
    is_explicit,
    read_stamp,
    stamp_facts,
)

# The order conditions are listed in `status.conditions` (AI Runway's, then runwayc's InSync).
CONDITION_TYPES = (
    "Validated",
    "EngineSelected",
    "ProviderSelected",
    "ImageResolved",
    "UnsupportedImage",
    "RecipeResolved",
    "ResourceCreated",
    "Ready",
    "GatewayReady",
    "InSync",
    "Saturated",
    "ScalingBlocked",
)
RECIPE_ID_ANNOTATION = RECIPE_ANNOTATION_PREFIX + "id"
MAX_MESSAGE = 1024  # a condition message is capped well below the CRD's 32768


# --- reading the ModelDeployment ---------------------------------------------------------------


def policy_problems(md: Mapping[str, Any], policy: PolicySet) -> list[str]:
    """The compile-time checks, run on a live object (one applied by hand, or edited).

    Returns the error messages, each prefixed with its spec path; empty when it passes.
    """
    metadata = mapping(md.get("metadata"))
    data = {
        "apiVersion": md.get("apiVersion"),
        "kind": md.get("kind"),
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "labels", "annotations")
            if key in metadata
        },
        "spec": md.get("spec"),
    }
    doc = SourceDocument(f"{metadata.get('namespace')}/{metadata.get('name')}", 0, data, {})
    parsed, found = parse_document(doc, ModelDeployment)
    if parsed is None:
        return [f"{d.path}: {d.message}" if d.path else d.message for d in found[:5]]
    selected = stamp_facts(md).get(ENGINE)
    if parsed.engine_type is None and selected in get_args(EngineType):
        # The engine compile selected, not vLLM: a llama.cpp spec is checked as one.
        parsed = parsed.with_selected_engine(cast("EngineType", selected))
    ctx = CheckContext(doc, policy)
    found.extend(check_model_deployment(parsed, ctx))
    provider = parsed.spec.provider.name if parsed.spec.provider else None
    registered = PROVIDERS.get(provider or "")
    if registered is not None:
        found.extend(registered.check(parsed, ctx))
    return [f"{d.path}: {d.message}" if d.path else d.message for d in found if d.is_error]


# --- conditions from compile facts ---------------------------------------------------------------


def _provider_condition(name: str | None, reason_text: str | None) -> Condition:
    if not name:
        return Condition(
            "ProviderSelected",
            "False",
            "NoProviderRecorded",
            "no compile stamp names a provider and spec.provider.name is not set",
        )
    if reason_text is None:
        return Condition("ProviderSelected", "True", "Explicit", EXPLICIT_FIELD)
    reason = "Explicit" if is_explicit(reason_text) else "AutoSelected"
    return Condition("ProviderSelected", "True", reason, reason_text)


# EngineSelected, in AI Runway's words (its controller's reasons and messages).
MSG_ENGINE_EXPLICIT = "Engine explicitly specified in spec"
MSG_ENGINE_AUTO = "Engine {engine} auto-selected from provider capabilities"
MSG_NO_ENGINE = "no compile stamp names an engine and spec.engine.type is not set"


def engine_of(
    spec: Mapping[str, Any], facts: Mapping[str, str], provider: str | None
) -> tuple[dict[str, str] | None, Condition]:
    """`status.engine` and EngineSelected: the spec's engine.type, else the one compile
    selected (its stamp; sticky, as AI Runway's status.engine), else vllm for the vllm
    provider, which serves nothing else."""
    written = mapping(spec.get("engine")).get("type")
    if isinstance(written, str) and written:
        engine: dict[str, str] = {"type": written, "selectedReason": EXPLICIT_ENGINE_REASON}
        return engine, Condition("EngineSelected", "True", "ExplicitSelection", MSG_ENGINE_EXPLICIT)
    stamped = facts.get(ENGINE)
    if stamped is not None and stamped in get_args(EngineType):
        engine = {"type": stamped}
        reason = facts.get(ENGINE_REASON)
        if reason:
            engine["selectedReason"] = reason
        message = MSG_ENGINE_AUTO.format(engine=stamped)
        return engine, Condition("EngineSelected", "True", "AutoSelected", message)
    if provider == "vllm":
        message = MSG_ENGINE_AUTO.format(engine="vllm")
        return {"type": "vllm"}, Condition("EngineSelected", "True", "AutoSelected", message)
    return None, Condition("EngineSelected", "False", "NoEngineRecorded", MSG_NO_ENGINE)


def _image_status(facts: Mapping[str, str]) -> dict[str, Any] | None:
    requested = facts.get(IMAGE_REQUESTED)
    if requested is None:
        return None
    image: dict[str, Any] = {"requested": requested}
    try:
        reference = parse_reference(requested)
    except ImageError:
        reference = None
    if reference is not None:
        image["repository"] = reference.short_repository
        if reference.tag:
            image["tag"] = reference.tag
    for key, fact in (("resolved", IMAGE_RESOLVED), ("digest", IMAGE_DIGEST)):
        if fact in facts:
            image[key] = facts[fact]
    if IMAGE_SOURCE in facts:
        image["source"] = facts[IMAGE_SOURCE]
    if IMAGE_IN_NIGHTLY in facts:
        image["inNightly"] = facts[IMAGE_IN_NIGHTLY] == "true"
    return image


def _image_conditions(facts: Mapping[str, str]) -> list[Condition]:
    requested = facts.get(IMAGE_REQUESTED)
    if requested is None:
        return [
            Condition(
                "ImageResolved", "Unknown", "NotCompiled", "no compile stamp records the image"
            )
        ]
    found = []
    if IMAGE_DIGEST in facts:
        found.append(
            Condition(
                "ImageResolved",
                "True",
                "DigestPinned",
                f"{requested} pinned to {facts.get(IMAGE_RESOLVED, facts[IMAGE_DIGEST])}",
            )
        )
    else:
        found.append(
            Condition(
                "ImageResolved",
                "False",
                "ImageResolutionFailed",
                f"{requested} runs unpinned, by its tag as written: "
                f"{facts.get(IMAGE_UNPINNED, 'no digest pin in runway.lock')}",
            )
        )
    source = facts.get(IMAGE_SOURCE)
    if source == "custom":
        found.append(
            Condition(
                "UnsupportedImage",
                "True",
                "CustomImage",
                f"{requested} is not an official vLLM image (vllm/vllm-openai)",
            )
        )
    elif source is not None:
        found.append(
            Condition("UnsupportedImage", "False", "OfficialImage", f"{source} vLLM image")
        )
    return found


def _recipe_condition(md: Mapping[str, Any]) -> Condition | None:
    annotations = mapping(mapping(md.get("metadata")).get("annotations"))
    recipe = annotations.get(RECIPE_ID_ANNOTATION)
    if not isinstance(recipe, str) or not recipe:
        return None
    how = (
        "applied by `runwayc recipe apply`"
        if annotations.get(GENERATED_BY) == "vllm-recipe-resolver"
        else "materialised at compile time from recipes/"
    )
    return Condition("RecipeResolved", "True", "RecipePinned", f"recipe {recipe} {how}")


def _in_sync_condition(stamp: Stamp) -> Condition:
    if not stamp.present:
        return Condition(
            "InSync",
            "False",
            "NotCompiled",
            "no runwayc compile stamp: this ModelDeployment was applied without going through Git",
        )
    if stamp.live_hash != stamp.facts[SPEC_HASH]:
        return Condition(
            "InSync",
            "False",
            "SpecChanged",
            "the live spec differs from the compiled one (spec hash "
            f"{(stamp.live_hash or 'invalid')[:19]}… != {stamp.facts[SPEC_HASH][:19]}…): "
            "it was edited in the cluster; the GitOps tool will restore it from Git",
        )
    return Condition("InSync", "True", "SpecMatchesCompiled", "live spec is the compiled spec")


# --- the whole status ----------------------------------------------------------------------------


def _ready_condition(phase: Phase, message: str) -> Condition:
    if phase == "Running":
        return Condition("Ready", "True", "DeploymentReady", MSG_READY)
    if phase == "Failed":
        return Condition("Ready", "False", "DeploymentFailed", message)
    if phase == "Terminating":
        return Condition("Ready", "False", "Terminating", message)
    return Condition("Ready", "False", "DeploymentInProgress", MSG_IN_PROGRESS)


def _saturation_conditions(decision: Decision) -> list[Condition]:
    """Saturated and ScalingBlocked, in words that change only when the situation does (the
    spare-capacity figures move every cycle and would rewrite the status each time)."""
    variant = decision.variant
    if decision.saturated:
        saturated = Condition(
            "Saturated",
            "True",
            "ReplicasSaturated",
            f"{decision.saturated} of {variant.current} replica(s) at the KV-cache or queue "
            "threshold",
        )
    else:
        saturated = Condition("Saturated", "False", "NotSaturated", "no replica is saturated")
    if decision.blocked == "PendingReplicas":
        blocked = Condition(
            "ScalingBlocked",
            "True",
            "PendingReplicas",
            f"{variant.pending} replica(s) still starting ({variant.current} desired, "
            f"{variant.ready} ready): scale-up waits for them",
        )
    elif decision.blocked == "MaxReplicas":
        blocked = Condition(
            "ScalingBlocked", "True", "MaxReplicas", f"at maxReplicas ({variant.max_replicas})"
        )
    else:
        blocked = Condition("ScalingBlocked", "False", "NotBlocked", "scale-up is not blocked")
    return [saturated, blocked]


def _autoscaling_status(decision: Decision) -> dict[str, Any]:
    return {
        "desiredReplicas": decision.desired,
        "saturatedReplicas": decision.saturated,
        "pendingReplicas": decision.variant.pending,
        "action": decision.action,
    }


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _written_conditions(
    found: Sequence[Condition], previous: Any, generation: int | None, now: str
) -> list[dict[str, Any]]:
    """Conditions in the fixed order; a condition whose status did not change keeps its
    `lastTransitionTime` (so an unchanged world rewrites nothing)."""
    listed = previous if isinstance(previous, list) else []
    before = {c.get("type"): c for c in listed if isinstance(c, Mapping) and "type" in c}
    order = {name: index for index, name in enumerate(CONDITION_TYPES)}
    written = []
    for condition in sorted(found, key=lambda c: order.get(c.type, len(order))):
        old = before.get(condition.type)
        since = (
            old.get("lastTransitionTime")
            if old is not None and old.get("status") == condition.status
            else None
        )
        entry: dict[str, Any] = {
            "type": condition.type,
            "status": condition.status,
            "reason": condition.reason,
            "message": _clip(condition.message),
            "lastTransitionTime": since if isinstance(since, str) else now,
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        written.append(entry)
    return written


def desired_status(observed: Observed, policy: PolicySet, now: str) -> dict[str, Any]:
    """The status the agent writes for one ModelDeployment."""
    md = observed.model_deployment
    metadata = mapping(md.get("metadata"))
    observed_generation = as_int(metadata.get("generation"), -1)
    generation = observed_generation if observed_generation >= 0 else None
    previous = mapping(md.get("status"))
    spec = mapping(md.get("spec"))
    stamp = read_stamp(md)
    facts = stamp.facts if stamp.present else {}

    conditions: list[Condition] = []
    provider_name = provider_of(md)
    engine, engine_condition = engine_of(spec, facts, provider_name)
    conditions.append(engine_condition)
    conditions.append(_provider_condition(provider_name, facts.get(PROVIDER_REASON)))
    conditions.extend(_image_conditions(facts))
    recipe = _recipe_condition(md)
    if recipe is not None:
        conditions.append(recipe)
    conditions.append(_in_sync_condition(stamp))

    status: dict[str, Any] = {}
    view: ProviderView | None = None
    if stamp.current:
        conditions.append(
            Condition(
                "Validated", "True", "CompiledPolicyPassed", f"runwayc compile: {facts[POLICY]}"
            )
        )
        problems: list[str] = []
    else:
        problems = policy_problems(md, policy)
        if problems:
            conditions.append(
                Condition("Validated", "False", "PolicyViolation", "; ".join(problems))
            )
        else:
            conditions.append(
                Condition("Validated", "True", "PolicyPassed", "checked by the runwayc agent")
            )

    phase: Phase
    if metadata.get("deletionTimestamp"):
        phase, message = "Terminating", "ModelDeployment is being deleted"
    elif problems:
        phase, message = "Failed", problems[0]
    else:
        reader = STATUS_READERS.get(provider_name or "")
        if reader is None:
            phase = "Pending"
            message = (
                f'provider "{provider_name}" has no status reader in this version of runwayc'
                if provider_name
                else "no provider selected"
            )
        else:
            view = reader(observed)
            phase, message = view.phase, view.message
    if view is not None:
        conditions.append(view.created)
    conditions.append(_ready_condition(phase, message))
    routed = gateway_condition(
        facts,
        str(metadata.get("namespace") or ""),
        observed.inference_pool,
        observed.http_route,
    )
    if routed is not None:
        conditions.append(routed)

    status["phase"] = phase
    status["message"] = _clip(message)
    if provider_name:
        provider: dict[str, Any] = {"name": provider_name}
        if PROVIDER_REASON in facts:
            provider["selectedReason"] = facts[PROVIDER_REASON]
        if view is not None and view.resource_kind is not None:
            provider["resourceKind"] = view.resource_kind
            provider["resourceName"] = view.resource_name or metadata.get("name")
        status["provider"] = provider
    if engine is not None:
        status["engine"] = engine
    image = _image_status(facts)
    if image is not None:
        status["image"] = image
    if view is not None and view.replicas is not None:
        status["replicas"] = view.replicas
    if view is not None and view.endpoint is not None:
        status["endpoint"] = view.endpoint
    if routed is not None and routed.status == "True":
        served = gateway_status(facts, observed.gateway)
        if served is not None:
            status["gateway"] = served
    if observed.saturation is not None:
        conditions.extend(_saturation_conditions(observed.saturation))
        status["autoscaling"] = _autoscaling_status(observed.saturation)
    if generation is not None:
        status["observedGeneration"] = generation
    status["conditions"] = _written_conditions(
        conditions, previous.get("conditions"), generation, now
    )
    return status


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 JSON merge patch that turns `old` into `new` (keys removed become null)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return new
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = (
                merge_patch(old[key], value)
                if isinstance(value, Mapping) and isinstance(old[key], Mapping)
                else value
            )
    return patch
