"""A ModelDeployment's status from what the cluster shows: a pure function.

The agent observes three things per ModelDeployment (the MD itself with its compile stamp, the
Deployment and the Service of its name) and this module turns them into the `status` AI
Runway's controller would write (DESIGN section 10): phase, provider, image, replicas, endpoint,
conditions and `observedGeneration`. The I/O loop (`compiler.agent.runtime`) only gathers the
objects and writes what comes out, and only when it differs from what is there.

Time is an input (`now`, an RFC 3339 string): a condition keeps its `lastTransitionTime` while
its status stays the same, so computing twice from the same observations gives the same bytes
and a resync writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from compiler.documents import parse_document
from compiler.errors import ImageError
from compiler.images import parse_reference
from compiler.load import SourceDocument
from compiler.model import ModelDeployment, ModelDeploymentSpec
from compiler.policy import CheckContext, PolicySet, check_model_deployment
from compiler.providers import PROVIDERS
from compiler.providers.vllm import HTTP_PORT
from compiler.recipes import ANNOTATION_PREFIX as RECIPE_ANNOTATION_PREFIX
from compiler.recipes import GENERATED_BY
from compiler.render import ANNOTATION_PREFIX, spec_hash

Phase = Literal["Pending", "Deploying", "Running", "Failed", "Terminating"]
ConditionStatus = Literal["True", "False", "Unknown"]

# The order conditions are listed in `status.conditions` (AI Runway's, then runwayc's InSync).
CONDITION_TYPES = (
    "Validated",
    "ProviderSelected",
    "ImageResolved",
    "UnsupportedImage",
    "RecipeResolved",
    "ResourceCreated",
    "Ready",
    "InSync",
)
# What marks a Deployment or Service as this ModelDeployment's: the labels every renderer
# writes. GitOps tools apply objects before the MD has a UID to own them, so owner references
# cannot be the mark; an owner reference to the MD's UID is accepted as well.
MANAGED_BY_LABEL = "airunway.ai/managed-by"
MANAGED_BY_VALUE = "airunway"
DEPLOYMENT_LABEL = "airunway.ai/deployment"
RECIPE_ID_ANNOTATION = RECIPE_ANNOTATION_PREFIX + "id"
MAX_MESSAGE = 1024  # a condition message is capped well below the CRD's 32768

MSG_READY = "All replicas are ready"
MSG_IN_PROGRESS = "Deployment is in progress"
MSG_TIMED_OUT = "deployment timed out waiting for rollout"


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: ConditionStatus
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Observed:
    """What the agent saw for one ModelDeployment: the MD and the live objects of its name."""

    model_deployment: Mapping[str, Any]
    deployment: Mapping[str, Any] | None = None
    service: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ProviderView:
    """What a provider's live objects say, before conditions are written."""

    phase: Phase
    message: str
    created: Condition
    replicas: dict[str, int] | None = None
    endpoint: dict[str, Any] | None = None
    resource_kind: str | None = None


@dataclass(frozen=True, slots=True)
class Stamp:
    """The compile facts carried as `runwayc.dev/*` annotations, and whether they still
    describe the live spec."""

    facts: Mapping[str, str] = field(default_factory=dict)
    live_hash: str | None = None

    @property
    def present(self) -> bool:
        return "spec-hash" in self.facts

    @property
    def current(self) -> bool:
        """The stamp vouches for this spec: compiled, policy passed, hash unchanged."""
        return (
            self.present
            and self.live_hash == self.facts["spec-hash"]
            and self.facts.get("policy", "").startswith("passed")
        )


# --- reading the ModelDeployment ---------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def live_spec_hash(spec: Any) -> str | None:
    """The spec hash `compile` stamps, computed on the live spec.

    The live spec passes through the same model and dump as at compile time, so API-server
    defaulting and key order cannot make an unchanged spec look edited. None when the live spec
    is not one the compiler accepts (then it was certainly not compiled that way).
    """
    try:
        parsed = ModelDeploymentSpec.model_validate(spec, by_alias=True)
    except (ValidationError, TypeError, ValueError):
        return None
    return spec_hash(parsed.model_dump(mode="json", by_alias=True, exclude_none=True))


def read_stamp(md: Mapping[str, Any]) -> Stamp:
    annotations = _mapping(_mapping(md.get("metadata")).get("annotations"))
    facts = {
        key.removeprefix(ANNOTATION_PREFIX): value
        for key, value in annotations.items()
        if isinstance(key, str) and key.startswith(ANNOTATION_PREFIX) and isinstance(value, str)
    }
    return Stamp(facts, live_spec_hash(md.get("spec")))


def policy_problems(md: Mapping[str, Any], policy: PolicySet) -> list[str]:
    """The compile-time checks, run on a live object (one applied by hand, or edited).

    Returns the error messages, each prefixed with its spec path; empty when it passes.
    """
    metadata = _mapping(md.get("metadata"))
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
    ctx = CheckContext(doc, policy)
    found.extend(check_model_deployment(parsed, ctx))
    provider = parsed.spec.provider.name if parsed.spec.provider else None
    registered = PROVIDERS.get(provider or "")
    if registered is not None:
        found.extend(registered.check(parsed, ctx))
    return [f"{d.path}: {d.message}" if d.path else d.message for d in found if d.is_error]


# --- the Deployment-backed providers (vllm; llm-d reads the same way) --------------------------


def is_ours(obj: Mapping[str, Any], md: Mapping[str, Any]) -> bool:
    metadata = _mapping(obj.get("metadata"))
    md_meta = _mapping(md.get("metadata"))
    labels = _mapping(metadata.get("labels"))
    if labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(
        DEPLOYMENT_LABEL
    ) == md_meta.get("name"):
        return True
    uid = md_meta.get("uid")
    owners = metadata.get("ownerReferences")
    return (
        bool(uid)
        and isinstance(owners, list)
        and any(isinstance(owner, Mapping) and owner.get("uid") == uid for owner in owners)
    )


def conflict_message(kind: str, obj: Mapping[str, Any]) -> str:
    metadata = _mapping(obj.get("metadata"))
    where = f"{metadata.get('namespace')}/{metadata.get('name')}"
    owners = metadata.get("ownerReferences")
    named = [
        f"{owner.get('kind')}/{owner.get('name')}"
        for owner in owners or []
        if isinstance(owner, Mapping)
    ]
    why = f"owned by {', '.join(named)}" if named else "no owner references"
    return f"{kind} {where} exists but is not managed by this ModelDeployment ({why})"


def _conditions_by_type(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = _mapping(obj.get("status")).get("conditions")
    return {str(c.get("type")): c for c in found or [] if isinstance(c, Mapping) and "type" in c}


def deployment_phase(deployment: Mapping[str, Any]) -> tuple[Phase, str]:
    """AI Runway's mapping of a Deployment's conditions to a phase (first match wins)."""
    conditions = _conditions_by_type(deployment)
    available = conditions.get("Available", {})
    progressing = conditions.get("Progressing", {})
    if available.get("status") == "True":
        return "Running", MSG_READY
    if progressing.get("status") == "False" and progressing.get("reason") == (
        "ProgressDeadlineExceeded"
    ):
        return "Failed", str(progressing.get("message") or MSG_TIMED_OUT)
    if progressing.get("status") == "True":
        return "Deploying", MSG_IN_PROGRESS
    if available.get("status") == "False" and available.get("message"):
        return "Failed", str(available["message"])
    return "Pending", MSG_IN_PROGRESS


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def deployment_replicas(deployment: Mapping[str, Any]) -> dict[str, int]:
    spec = _mapping(deployment.get("spec"))
    status = _mapping(deployment.get("status"))
    ready = _int(status.get("readyReplicas"))
    return {
        "desired": _int(spec.get("replicas"), 1),
        "ready": ready,
        "available": _int(status.get("availableReplicas")),
        # Pods that exist but are not ready yet: a model still loading (WVA's pending).
        "pending": max(0, _int(status.get("replicas")) - ready),
    }


def read_deployment_provider(observed: Observed) -> ProviderView:
    md = observed.model_deployment
    md_meta = _mapping(md.get("metadata"))
    where = f"{md_meta.get('namespace')}/{md_meta.get('name')}"
    deployment, service = observed.deployment, observed.service
    conflicts = [
        conflict_message(kind, obj)
        for kind, obj in (("Deployment", deployment), ("Service", service))
        if obj is not None and not is_ours(obj, md)
    ]
    if conflicts:
        message = "; ".join(conflicts)
        return ProviderView(
            "Failed", message, Condition("ResourceCreated", "False", "ResourceConflict", message)
        )
    if deployment is None:
        message = f"waiting for Deployment {where} to be applied (by the GitOps tool)"
        return ProviderView(
            "Pending", message, Condition("ResourceCreated", "False", "ResourcesPending", message)
        )
    phase, message = deployment_phase(deployment)
    if service is None:
        created = Condition(
            "ResourceCreated",
            "False",
            "ResourcesPending",
            f"waiting for Service {where} to be applied (by the GitOps tool)",
        )
        endpoint = None
    else:
        created = Condition(
            "ResourceCreated", "True", "ResourcesCreated", f"Deployment and Service {where} exist"
        )
        endpoint = {"service": md_meta.get("name"), "port": HTTP_PORT}
    return ProviderView(
        phase, message, created, deployment_replicas(deployment), endpoint, "Deployment"
    )


STATUS_READERS = {"vllm": read_deployment_provider}


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
        return Condition("ProviderSelected", "True", "Explicit", "spec.provider.name")
    reason = "Explicit" if reason_text.startswith("explicit") else "AutoSelected"
    return Condition("ProviderSelected", "True", reason, reason_text)


def _image_status(facts: Mapping[str, str]) -> dict[str, Any] | None:
    requested = facts.get("image-requested")
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
    for key, fact in (("resolved", "image-resolved"), ("digest", "image-digest")):
        if fact in facts:
            image[key] = facts[fact]
    if "image-source" in facts:
        image["source"] = facts["image-source"]
    if "image-in-nightly" in facts:
        image["inNightly"] = facts["image-in-nightly"] == "true"
    return image


def _image_conditions(facts: Mapping[str, str]) -> list[Condition]:
    requested = facts.get("image-requested")
    if requested is None:
        return [
            Condition(
                "ImageResolved", "Unknown", "NotCompiled", "no compile stamp records the image"
            )
        ]
    found = []
    if "image-digest" in facts:
        found.append(
            Condition(
                "ImageResolved",
                "True",
                "DigestPinned",
                f"{requested} pinned to {facts.get('image-resolved', facts['image-digest'])}",
            )
        )
    else:
        found.append(
            Condition(
                "ImageResolved",
                "False",
                "ImageResolutionFailed",
                f"{requested} has no digest pin in runway.lock; the tag is deployed as written",
            )
        )
    source = facts.get("image-source")
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
    annotations = _mapping(_mapping(md.get("metadata")).get("annotations"))
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
    if stamp.live_hash != stamp.facts["spec-hash"]:
        return Condition(
            "InSync",
            "False",
            "SpecChanged",
            "the live spec differs from the compiled one (spec hash "
            f"{(stamp.live_hash or 'invalid')[:19]}… != {stamp.facts['spec-hash'][:19]}…): "
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
    metadata = _mapping(md.get("metadata"))
    observed_generation = _int(metadata.get("generation"), -1)
    generation = observed_generation if observed_generation >= 0 else None
    previous = _mapping(md.get("status"))
    spec = _mapping(md.get("spec"))
    stamp = read_stamp(md)
    facts = stamp.facts if stamp.present else {}

    conditions: list[Condition] = []
    provider_name = facts.get("provider") or _mapping(spec.get("provider")).get("name")
    provider_name = provider_name if isinstance(provider_name, str) else None
    conditions.append(_provider_condition(provider_name, facts.get("provider-reason")))
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
                "Validated", "True", "CompiledPolicyPassed", f"runwayc compile: {facts['policy']}"
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

    status["phase"] = phase
    status["message"] = _clip(message)
    if provider_name:
        provider: dict[str, Any] = {"name": provider_name}
        if "provider-reason" in facts:
            provider["selectedReason"] = facts["provider-reason"]
        if view is not None and view.resource_kind is not None:
            provider["resourceKind"] = view.resource_kind
            provider["resourceName"] = metadata.get("name")
        status["provider"] = provider
    engine_type = _mapping(spec.get("engine")).get("type") or (
        "vllm" if provider_name == "vllm" else None
    )
    if isinstance(engine_type, str):
        status["engine"] = {"type": engine_type}
    image = _image_status(facts)
    if image is not None:
        status["image"] = image
    if view is not None and view.replicas is not None:
        status["replicas"] = view.replicas
    if view is not None and view.endpoint is not None:
        status["endpoint"] = view.endpoint
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
