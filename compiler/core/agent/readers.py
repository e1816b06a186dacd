"""Reading a provider's live objects back into a ModelDeployment's phase, replicas and
endpoint: one pure function per provider, keyed by provider name, reading the status fields
AI Runway's controller reads for that provider (commit b0d3fb7).

The agent watches ModelDeployments, Deployments and Services, plus each provider's own kind
(KAITO Workspaces, Dynamo DynamoGraphDeployments, KubeRay RayServices) when its CRD is
installed; `Observed` carries what it saw under the ModelDeployment's name (for llm-d in
disaggregated mode, the `<md>-decode` Deployment and Service: AI Runway's status source).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from compiler.core.agent.saturation import Decision
from compiler.core.kube import VLLM_HTTP_PORT
from compiler.core.stamp import (
    DEPLOYMENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    MODEL_DEPLOYMENT_LABEL,
    stamped_provider,
)

Phase = Literal["Pending", "Deploying", "Running", "Failed", "Terminating"]
ConditionStatus = Literal["True", "False", "Unknown"]

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
    # The provider's own object (Workspace, DynamoGraphDeployment, RayService), if any.
    resource: Mapping[str, Any] | None = None
    # The saturation analyzer's last decision for this MD (mode wva, --saturation), if any.
    saturation: Decision | None = None
    # The InferencePool and HTTPRoute the gateway routes it through (spec.gateway), if any.
    inference_pool: Mapping[str, Any] | None = None
    http_route: Mapping[str, Any] | None = None
    # The environment's shared Gateway, for the address status.gateway reports, if visible.
    gateway: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ProviderView:
    """What a provider's live objects say, before conditions are written."""

    phase: Phase
    message: str
    created: Condition
    replicas: dict[str, int] | None = None
    endpoint: dict[str, Any] | None = None
    resource_kind: str | None = None
    resource_name: str | None = None


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# --- the Deployment-backed providers (vllm; llm-d reads the same way) --------------------------


def is_ours(obj: Mapping[str, Any], md: Mapping[str, Any]) -> bool:
    # What marks a Deployment or Service as this ModelDeployment's: the labels every renderer
    # writes. GitOps tools apply objects before the MD has a UID to own them, so owner
    # references cannot be the mark; an owner reference to the MD's UID is accepted as well.
    metadata = mapping(obj.get("metadata"))
    md_meta = mapping(md.get("metadata"))
    labels = mapping(metadata.get("labels"))
    # Dynamo's transformer writes model-deployment, every other one deployment.
    marks = (labels.get(DEPLOYMENT_LABEL), labels.get(MODEL_DEPLOYMENT_LABEL))
    if labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and md_meta.get("name") in marks:
        return True
    uid = md_meta.get("uid")
    owners = metadata.get("ownerReferences")
    return (
        bool(uid)
        and isinstance(owners, list)
        and any(isinstance(owner, Mapping) and owner.get("uid") == uid for owner in owners)
    )


def conflict_message(kind: str, obj: Mapping[str, Any]) -> str:
    metadata = mapping(obj.get("metadata"))
    where = f"{metadata.get('namespace')}/{metadata.get('name')}"
    owners = metadata.get("ownerReferences")
    named = [
        f"{owner.get('kind')}/{owner.get('name')}"
        for owner in owners or []
        if isinstance(owner, Mapping)
    ]
    why = f"owned by {', '.join(named)}" if named else "no owner references"
    return f"{kind} {where} exists but is not managed by this ModelDeployment ({why})"


def conditions_by_type(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = mapping(obj.get("status")).get("conditions")
    return {str(c.get("type")): c for c in found or [] if isinstance(c, Mapping) and "type" in c}


def deployment_phase(deployment: Mapping[str, Any]) -> tuple[Phase, str]:
    """AI Runway's mapping of a Deployment's conditions to a phase (first match wins)."""
    conditions = conditions_by_type(deployment)
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


def as_int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def deployment_replicas(deployment: Mapping[str, Any]) -> dict[str, int]:
    spec = mapping(deployment.get("spec"))
    status = mapping(deployment.get("status"))
    ready = as_int(status.get("readyReplicas"))
    return {
        "desired": as_int(spec.get("replicas"), 1),
        "ready": ready,
        "available": as_int(status.get("availableReplicas")),
        # Pods that exist but are not ready yet: a model still loading (WVA's pending).
        "pending": max(0, as_int(status.get("replicas")) - ready),
    }


def _waiting(kind: str, where: str) -> ProviderView:
    message = f"waiting for {kind} {where} to be applied (by the GitOps tool)"
    return ProviderView(
        "Pending", message, Condition("ResourceCreated", "False", "ResourcesPending", message)
    )


def _conflict(message: str) -> ProviderView:
    return ProviderView(
        "Failed", message, Condition("ResourceCreated", "False", "ResourceConflict", message)
    )


def _read_deployment(observed: Observed, name: str) -> ProviderView:
    """A provider whose status source is the Deployment `name` with its Service."""
    md = observed.model_deployment
    where = f"{mapping(md.get('metadata')).get('namespace')}/{name}"
    deployment, service = observed.deployment, observed.service
    conflicts = [
        conflict_message(kind, obj)
        for kind, obj in (("Deployment", deployment), ("Service", service))
        if obj is not None and not is_ours(obj, md)
    ]
    if conflicts:
        return _conflict("; ".join(conflicts))
    if deployment is None:
        return _waiting("Deployment", where)
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
        endpoint = {"service": name, "port": VLLM_HTTP_PORT}
    replicas = deployment_replicas(deployment)
    return ProviderView(phase, message, created, replicas, endpoint, "Deployment", name)


def read_deployment_provider(observed: Observed) -> ProviderView:
    """Direct vLLM: the Deployment and Service named after the MD."""
    return _read_deployment(
        observed, str(mapping(observed.model_deployment.get("metadata")).get("name"))
    )


ROLE_SUFFIXES = ("-decode", "-prefill")


def provider_of(md: Mapping[str, Any]) -> str | None:
    """The provider an MD runs on: as compiled (a stamp is one with its spec hash), else as
    its spec names it."""
    stamped = stamped_provider(md)
    named = mapping(mapping(md.get("spec")).get("provider")).get("name")
    found = stamped or named
    return found if isinstance(found, str) else None


def status_source_name(md: Mapping[str, Any], provider: str | None) -> str:
    """The name of the object a provider's status is read from: the MD's own, except llm-d
    in disaggregated mode, whose first Deployment is `<md>-decode`."""
    name = str(mapping(md.get("metadata")).get("name"))
    serving = mapping(mapping(md.get("spec")).get("serving"))
    if provider == "llmd" and serving.get("mode") == "disaggregated":
        return f"{name}-decode"
    return name


def read_llmd(observed: Observed) -> ProviderView:
    return _read_deployment(observed, status_source_name(observed.model_deployment, "llmd"))


# --- providers with their own kind -------------------------------------------------------------


def _read_resource(
    observed: Observed,
    kind: str,
    phase_of: Callable[[Mapping[str, Any]], tuple[Phase, str]],
    replicas_of: Callable[[Mapping[str, Any]], dict[str, int]],
    endpoint_of: Callable[[Mapping[str, Any], str], dict[str, Any]],
) -> ProviderView:
    md = observed.model_deployment
    md_meta = mapping(md.get("metadata"))
    name = str(md_meta.get("name"))
    where = f"{md_meta.get('namespace')}/{name}"
    resource = observed.resource
    if resource is not None and not is_ours(resource, md):
        # AI Runway's words for a foreign object of the provider's kind.
        return _conflict(f"resource {where} exists but is not managed by this ModelDeployment")
    if resource is None:
        return _waiting(kind, where)
    phase, message = phase_of(resource)
    created = Condition("ResourceCreated", "True", "ResourcesCreated", f"{kind} {where} exists")
    return ProviderView(
        phase, message, created, replicas_of(resource), endpoint_of(resource, name), kind, name
    )


def _replicas(
    desired: int, ready: int, available: int, current: int | None = None
) -> dict[str, int]:
    """pending = pods that exist but are not ready (all not-ready ones when the provider does
    not report how many exist)."""
    existing = desired if current is None else current
    return {
        "desired": desired,
        "ready": ready,
        "available": available,
        "pending": max(0, existing - ready),
    }


KAITO_STATES: dict[str, tuple[Phase, str]] = {
    "Ready": ("Running", MSG_READY),
    "Succeeded": ("Running", MSG_READY),
    "NotReady": ("Deploying", MSG_IN_PROGRESS),
    "Running": ("Deploying", "fine-tuning in progress"),
    "Failed": ("Failed", "Workspace failed"),
    "Pending": ("Pending", MSG_IN_PROGRESS),
}


def _kaito_ready(workspace: Mapping[str, Any]) -> bool:
    state = mapping(workspace.get("status")).get("state")
    if state:
        return state in ("Ready", "Succeeded")
    succeeded = conditions_by_type(workspace).get("WorkspaceSucceeded", {})
    return succeeded.get("status") == "True"


def kaito_phase(workspace: Mapping[str, Any]) -> tuple[Phase, str]:
    state = mapping(workspace.get("status")).get("state")
    if state:
        return KAITO_STATES.get(str(state), ("Pending", f"unknown state: {state}"))
    conditions = conditions_by_type(workspace)
    succeeded = conditions.get("WorkspaceSucceeded", {})
    if succeeded.get("status") == "True":
        return "Running", MSG_READY
    if succeeded.get("status") == "False":
        return "Failed", str(succeeded.get("message") or "Workspace failed")
    resource_ready = conditions.get("ResourceReady", {}).get("status") == "True"
    if resource_ready and conditions.get("InferenceReady", {}).get("status") != "True":
        return "Deploying", MSG_IN_PROGRESS
    return "Pending", MSG_IN_PROGRESS


def kaito_replicas(workspace: Mapping[str, Any]) -> dict[str, int]:
    desired = as_int(mapping(workspace.get("resource")).get("count"), 1)
    ready = desired if _kaito_ready(workspace) else 0
    return _replicas(desired, ready, ready)


def read_kaito(observed: Observed) -> ProviderView:
    return _read_resource(
        observed, "Workspace", kaito_phase, kaito_replicas,
        lambda _, name: {"service": name, "port": 80},
    )  # fmt: skip


DYNAMO_STATES: dict[str, Phase] = {
    "successful": "Running",
    "initializing": "Deploying",
    "deploying": "Deploying",
    "failed": "Failed",
    "pending": "Pending",
}


def dynamo_phase(graph: Mapping[str, Any]) -> tuple[Phase, str]:
    status = mapping(graph.get("status"))
    phase = DYNAMO_STATES.get(str(status.get("state")), "Pending")
    default = MSG_READY if phase == "Running" else MSG_IN_PROGRESS
    return phase, str(status.get("message") or default)


def dynamo_replicas(graph: Mapping[str, Any]) -> dict[str, int]:
    status = mapping(graph.get("status"))
    current = ready = available = 0
    for service in mapping(status.get("services")).values():
        service = mapping(service)
        ready_here = as_int(service.get("readyReplicas"), as_int(service.get("availableReplicas")))
        current += as_int(service.get("replicas"), ready_here)
        ready += ready_here
        available += as_int(service.get("availableReplicas"), ready_here)
    desired = as_int(status.get("desiredReplicas"), current)
    ready = as_int(status.get("readyReplicas"), ready)
    available = as_int(status.get("availableReplicas"), available)
    return _replicas(desired, ready, available, current or desired)


def dynamo_endpoint(graph: Mapping[str, Any], name: str) -> dict[str, Any]:
    endpoint = mapping(mapping(graph.get("status")).get("endpoint"))
    service = endpoint.get("service")
    return {
        "service": service if isinstance(service, str) and service else f"{name}-frontend",
        "port": as_int(endpoint.get("port"), VLLM_HTTP_PORT) or VLLM_HTTP_PORT,
    }


def read_dynamo(observed: Observed) -> ProviderView:
    return _read_resource(
        observed, "DynamoGraphDeployment", dynamo_phase, dynamo_replicas, dynamo_endpoint
    )


def _ray_applications(service: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    active = mapping(mapping(service.get("status")).get("activeServiceStatus"))
    return [mapping(app) for app in mapping(active.get("applicationStatuses")).values()]


def kuberay_phase(service: Mapping[str, Any]) -> tuple[Phase, str]:
    phase: Phase = "Pending"
    message = MSG_IN_PROGRESS
    ready = conditions_by_type(service).get("RayServiceReady", {})
    if ready.get("status") == "True":
        phase, message = "Running", MSG_READY
    elif ready.get("status") == "False":
        phase, message = "Deploying", str(ready.get("message") or MSG_IN_PROGRESS)
    apps = _ray_applications(service)
    if apps:  # the applications' own statuses override the condition
        failed = [app for app in apps if app.get("status") == "DEPLOY_FAILED"]
        if failed:
            return "Failed", str(failed[0].get("message") or "Ray Serve application failed")
        if all(app.get("status") == "RUNNING" for app in apps):
            return "Running", MSG_READY
        return "Deploying", MSG_IN_PROGRESS
    return phase, message


def kuberay_replicas(service: Mapping[str, Any]) -> dict[str, int]:
    cluster = mapping(mapping(service.get("spec")).get("rayClusterConfig"))
    groups = cluster.get("workerGroupSpecs")
    desired = (
        sum(as_int(mapping(g).get("replicas")) for g in groups) if isinstance(groups, list) else 0
    )
    apps = _ray_applications(service)
    ready = desired if apps and all(app.get("status") == "RUNNING" for app in apps) else 0
    return _replicas(desired, ready, ready)


def read_kuberay(observed: Observed) -> ProviderView:
    return _read_resource(
        observed, "RayService", kuberay_phase, kuberay_replicas,
        lambda _, name: {"service": f"{name}-serve-svc", "port": VLLM_HTTP_PORT},
    )  # fmt: skip


STATUS_READERS: dict[str, Callable[[Observed], ProviderView]] = {
    "vllm": read_deployment_provider,
    "llmd": read_llmd,
    "kaito": read_kaito,
    "dynamo": read_dynamo,
    "kuberay": read_kuberay,
}
# The kind each provider's own object has (the agent watches these when the CRD exists).
RESOURCE_KINDS = {
    "kaito": ("kaito.sh", "v1beta1", "workspaces", "Workspace"),
    "dynamo": ("nvidia.com", "v1alpha1", "dynamographdeployments", "DynamoGraphDeployment"),
    "kuberay": ("ray.io", "v1", "rayservices", "RayService"),
}
