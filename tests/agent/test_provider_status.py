"""Status read back from each provider's own object (the fields AI Runway's controller reads),
as tables over the pure readers, and end to end through `desired_status`."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compiler.core.agent.readers import (
    Observed,
    dynamo_endpoint,
    dynamo_phase,
    dynamo_replicas,
    kaito_phase,
    kaito_replicas,
    kuberay_phase,
    kuberay_replicas,
)
from compiler.core.agent.status import desired_status
from compiler.core.model import ModelDeploymentStatus
from compiler.core.stamp import spec_hash
from compiler.io.workspace import load_policy

POLICY = load_policy(None)
NOW = "2026-11-23T10:00:00Z"
READY = "All replicas are ready"
IN_PROGRESS = "Deployment is in progress"


def cond(kind: str, status: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": "R", "message": message}


def workspace(
    state: str | None = None, *conditions: dict[str, Any], count: int = 2
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": list(conditions)}
    if state is not None:
        status["state"] = state
    return {"resource": {"count": count}, "status": status}


@pytest.mark.parametrize(
    ("obj", "phase", "message"),
    [
        (workspace("Ready"), "Running", READY),
        (workspace("Succeeded"), "Running", READY),
        (workspace("NotReady"), "Deploying", IN_PROGRESS),
        (workspace("Running"), "Deploying", "fine-tuning in progress"),
        (workspace("Failed"), "Failed", "Workspace failed"),
        (workspace("Pending"), "Pending", IN_PROGRESS),
        (workspace("Weird"), "Pending", "unknown state: Weird"),
        # state wins over conditions
        (workspace("NotReady", cond("WorkspaceSucceeded", "True")), "Deploying", IN_PROGRESS),
        (workspace(None, cond("WorkspaceSucceeded", "True")), "Running", READY),
        (workspace(None, cond("WorkspaceSucceeded", "False", "quota")), "Failed", "quota"),
        (workspace(None, cond("ResourceReady", "True")), "Deploying", IN_PROGRESS),
        (
            workspace(None, cond("ResourceReady", "True"), cond("InferenceReady", "True")),
            "Pending",
            IN_PROGRESS,
        ),
        (workspace(None), "Pending", IN_PROGRESS),
    ],
)
def test_kaito_workspace_phase(obj, phase, message):
    assert kaito_phase(obj) == (phase, message)


def test_kaito_replicas_are_ready_only_when_the_workspace_is():
    assert kaito_replicas(workspace("Ready")) == {
        "desired": 2,
        "ready": 2,
        "available": 2,
        "pending": 0,
    }
    assert kaito_replicas(workspace("NotReady")) == {
        "desired": 2,
        "ready": 0,
        "available": 0,
        "pending": 2,
    }
    succeeded = workspace(None, cond("WorkspaceSucceeded", "True"), count=3)
    assert kaito_replicas(succeeded)["ready"] == 3


@pytest.mark.parametrize(
    ("state", "message", "phase", "expected"),
    [
        ("successful", None, "Running", READY),
        ("initializing", None, "Deploying", IN_PROGRESS),
        ("deploying", "rolling out workers", "Deploying", "rolling out workers"),
        ("failed", "image pull backoff", "Failed", "image pull backoff"),
        ("pending", None, "Pending", IN_PROGRESS),
        ("other", None, "Pending", IN_PROGRESS),
        (None, None, "Pending", IN_PROGRESS),
    ],
)
def test_dynamo_phase(state, message, phase, expected):
    status: dict[str, Any] = {}
    if state is not None:
        status["state"] = state
    if message is not None:
        status["message"] = message
    assert dynamo_phase({"status": status}) == (phase, expected)


def test_dynamo_replicas_sum_services_each_field_falling_back_and_top_level_wins():
    services = {
        "VllmWorker": {"replicas": 3, "readyReplicas": 1},  # available falls back to ready
        "Epp": {"availableReplicas": 1},  # ready and replicas fall back to available
    }
    assert dynamo_replicas({"status": {"services": services}}) == {
        "desired": 4, "ready": 2, "available": 2, "pending": 2,
    }  # fmt: skip
    top = {"services": services, "desiredReplicas": 5, "readyReplicas": 4, "availableReplicas": 4}
    assert dynamo_replicas({"status": top})["desired"] == 5
    assert dynamo_replicas({"status": top})["ready"] == 4


def test_dynamo_endpoint_defaults_to_the_frontend_service():
    assert dynamo_endpoint({}, "m") == {"service": "m-frontend", "port": 8000}
    reported = {"status": {"endpoint": {"service": "m-epp", "port": 9000}}}
    assert dynamo_endpoint(reported, "m") == {"service": "m-epp", "port": 9000}


def rayservice(ready: str | None, apps: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [cond("RayServiceReady", ready, "waiting")] if ready else []
    }
    if apps is not None:
        status["activeServiceStatus"] = {"applicationStatuses": apps}
    spec = {"rayClusterConfig": {"workerGroupSpecs": [{"replicas": 1}, {"replicas": 2}]}}
    return {"spec": spec, "status": status}


@pytest.mark.parametrize(
    ("obj", "phase", "message"),
    [
        (rayservice("True"), "Running", READY),
        (rayservice("False"), "Deploying", "waiting"),
        (rayservice(None), "Pending", IN_PROGRESS),
        # application statuses override the condition
        (rayservice("True", {"llm": {"status": "DEPLOYING"}}), "Deploying", IN_PROGRESS),
        (rayservice("False", {"llm": {"status": "RUNNING"}}), "Running", READY),
        (
            rayservice("True", {"llm": {"status": "DEPLOY_FAILED", "message": "OOM"}}),
            "Failed",
            "OOM",
        ),
    ],
)
def test_kuberay_phase(obj, phase, message):
    assert kuberay_phase(obj) == (phase, message)


def test_kuberay_replicas_sum_worker_groups_ready_when_all_apps_run():
    running = rayservice("True", {"llm": {"status": "RUNNING"}})
    assert kuberay_replicas(running) == {"desired": 3, "ready": 3, "available": 3, "pending": 0}
    assert kuberay_replicas(rayservice("True"))["ready"] == 0


# --- end to end through desired_status -------------------------------------------------------


def md(provider: str, spec_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = {"model": {"id": "m/x", "source": "huggingface"}, "provider": {"name": provider}}
    spec.update(spec_extra or {})
    annotations = {
        "runwayc.dev/provider": provider,
        "runwayc.dev/provider-reason": "explicit: spec.provider.name",
        "runwayc.dev/policy": "passed",
        "runwayc.dev/spec-hash": spec_hash(spec),
    }
    return {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": "m",
            "namespace": "ns",
            "uid": "u1",
            "generation": 1,
            "annotations": annotations,
        },
        "spec": copy.deepcopy(spec),
    }


def owned(
    kind: str, labels: dict[str, str], status: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": "m", "namespace": "ns", "labels": labels},
        "status": status,
        **extra,
    }


OURS = {"airunway.ai/managed-by": "airunway", "airunway.ai/deployment": "m"}
DYNAMO_OURS = {"airunway.ai/managed-by": "airunway", "airunway.ai/model-deployment": "m"}


WORKSPACE = owned("Workspace", OURS, {"state": "Ready"}, resource={"count": 1})
GRAPH = owned("DynamoGraphDeployment", DYNAMO_OURS, {"state": "deploying"})
RAY = owned("RayService", OURS, {"conditions": [cond("RayServiceReady", "True")]})


@pytest.mark.parametrize(
    ("provider", "resource", "phase", "endpoint"),
    [
        ("kaito", WORKSPACE, "Running", {"service": "m", "port": 80}),
        ("dynamo", GRAPH, "Deploying", {"service": "m-frontend", "port": 8000}),
        ("kuberay", RAY, "Running", {"service": "m-serve-svc", "port": 8000}),
    ],
)
def test_status_from_the_provider_object(provider, resource, phase, endpoint):
    status = desired_status(Observed(md(provider), resource=resource), POLICY, NOW)
    ModelDeploymentStatus.model_validate(status)
    assert status["phase"] == phase
    assert status["provider"]["resourceKind"] == resource["kind"]
    assert status["provider"]["resourceName"] == "m"
    assert status["endpoint"] == endpoint
    created = {c["type"]: c for c in status["conditions"]}["ResourceCreated"]
    assert (created["status"], created["reason"]) == ("True", "ResourcesCreated")


def test_a_foreign_object_of_the_provider_kind_is_a_conflict():
    foreign = owned("RayService", {"team": "other"}, {})
    status = desired_status(Observed(md("kuberay"), resource=foreign), POLICY, NOW)
    assert status["phase"] == "Failed"
    assert status["message"] == "resource ns/m exists but is not managed by this ModelDeployment"
    created = {c["type"]: c for c in status["conditions"]}["ResourceCreated"]
    assert created["reason"] == "ResourceConflict"


def test_a_missing_provider_object_is_pending_on_the_gitops_tool():
    status = desired_status(Observed(md("dynamo")), POLICY, NOW)
    assert status["phase"] == "Pending"
    assert (
        status["message"]
        == "waiting for DynamoGraphDeployment ns/m to be applied (by the GitOps tool)"
    )


def test_llmd_disaggregated_reads_the_decode_deployment():
    disaggregated = md("llmd", {"serving": {"mode": "disaggregated"}})
    decode = {
        "kind": "Deployment",
        "metadata": {"name": "m-decode", "namespace": "ns", "labels": OURS},
        "spec": {"replicas": 2},
        "status": {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1,
                   "conditions": [cond("Progressing", "True")]},
    }  # fmt: skip
    service = {
        "kind": "Service",
        "metadata": {"name": "m-decode", "namespace": "ns", "labels": OURS},
    }
    status = desired_status(Observed(disaggregated, decode, service), POLICY, NOW)
    assert status["phase"] == "Deploying"
    assert status["provider"]["resourceName"] == "m-decode"
    assert status["endpoint"] == {"service": "m-decode", "port": 8000}
    assert status["replicas"] == {"desired": 2, "ready": 1, "available": 1, "pending": 1}
