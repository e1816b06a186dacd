"""The pure status mapping (compiler.core.agent.status): every phase and condition row."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compiler.core.agent.readers import Observed, deployment_phase
from compiler.core.agent.status import desired_status, merge_patch
from compiler.core.model import ModelDeploymentStatus
from compiler.core.stamp import live_spec_hash, spec_hash
from compiler.io.workspace import load_policy

POLICY = load_policy(None)
NOW = "2026-11-23T10:00:00Z"
SPEC = {
    "model": {"id": "Qwen/Qwen3-0.6B", "source": "huggingface"},
    "provider": {"name": "vllm"},
    "engine": {
        "type": "vllm",
        "image": "vllm/vllm-openai:v0.11.0",
        "trustRemoteCode": False,
        "enablePrefixCaching": True,
        "enforceEager": False,
    },
    "resources": {"gpu": {"count": 1, "type": "nvidia.com/gpu"}},
}
DIGEST = "sha256:" + "a" * 64


def stamped(spec: dict[str, Any] | None = None, **facts: str) -> dict[str, Any]:
    spec = copy.deepcopy(spec or SPEC)
    annotations = {
        "runwayc.dev/provider": "vllm",
        "runwayc.dev/provider-reason": "explicit: spec.provider.name",
        "runwayc.dev/image-requested": "vllm/vllm-openai:v0.11.0",
        "runwayc.dev/image-resolved": f"docker.io/vllm/vllm-openai@{DIGEST}",
        "runwayc.dev/image-digest": DIGEST,
        "runwayc.dev/image-source": "stable",
        "runwayc.dev/image-in-nightly": "false",
        "runwayc.dev/policy": "passed",
        "runwayc.dev/spec-hash": spec_hash(spec),
    }
    annotations.update({f"runwayc.dev/{k.replace('_', '-')}": v for k, v in facts.items()})
    return {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": "m",
            "namespace": "ns",
            "uid": "md-uid",
            "generation": 3,
            "annotations": annotations,
        },
        "spec": spec,
    }


def ours(kind: str = "Deployment", status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "kind": kind,
        "metadata": {
            "name": "m",
            "namespace": "ns",
            "labels": {"airunway.ai/managed-by": "airunway", "airunway.ai/deployment": "m"},
        },
        "spec": {"replicas": 2},
    }
    if status is not None:
        obj["status"] = status
    return obj


def conds(*pairs: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "conditions": [
            {"type": t, "status": s, "reason": r, "message": f"{t} {s}"} for t, s, r in pairs
        ]
    }


def status_of(md, deployment=None, service=None, now=NOW):
    status = desired_status(Observed(md, deployment, service), POLICY, now)
    ModelDeploymentStatus.model_validate(status)  # always the CRD's shape
    return status


def by_type(status):
    return {c["type"]: c for c in status["conditions"]}


@pytest.mark.parametrize(
    ("deployment_status", "phase", "message"),
    [
        (
            conds(("Available", "True", "MinimumReplicasAvailable")),
            "Running",
            "All replicas are ready",
        ),
        (
            conds(
                ("Available", "True", "MinimumReplicasAvailable"),
                ("Progressing", "False", "ProgressDeadlineExceeded"),
            ),
            "Running",
            "All replicas are ready",
        ),
        (
            conds(("Progressing", "False", "ProgressDeadlineExceeded")),
            "Failed",
            "Progressing False",
        ),
        (
            {
                "conditions": [
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ]
            },
            "Failed",
            "deployment timed out waiting for rollout",
        ),
        (
            conds(
                ("Available", "False", "MinimumReplicasUnavailable"),
                ("Progressing", "True", "ReplicaSetUpdated"),
            ),
            "Deploying",
            "Deployment is in progress",
        ),
        (conds(("Available", "False", "MinimumReplicasUnavailable")), "Failed", "Available False"),
        (
            {"conditions": [{"type": "Available", "status": "False"}]},
            "Pending",
            "Deployment is in progress",
        ),
        ({}, "Pending", "Deployment is in progress"),
        (conds(("Progressing", "Unknown", "Whatever")), "Pending", "Deployment is in progress"),
    ],
)
def test_deployment_conditions_to_phase(deployment_status, phase, message):
    assert deployment_phase({"status": deployment_status}) == (phase, message)
    status = status_of(stamped(), ours(status=deployment_status), ours("Service"))
    assert (status["phase"], status["message"]) == (phase, message)
    ready = by_type(status)["Ready"]
    expected = {
        "Running": ("True", "DeploymentReady"),
        "Failed": ("False", "DeploymentFailed"),
    }.get(phase, ("False", "DeploymentInProgress"))
    assert (ready["status"], ready["reason"]) == expected


def test_running_status_in_full():
    deployment = ours(
        status={
            "replicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
            **conds(("Available", "True", "MinimumReplicasAvailable")),
        }
    )
    status = status_of(stamped(), deployment, ours("Service"))
    assert status["provider"] == {
        "name": "vllm",
        "selectedReason": "explicit: spec.provider.name",
        "resourceKind": "Deployment",
        "resourceName": "m",
    }
    assert status["engine"] == {"type": "vllm", "selectedReason": "explicit engine selection"}
    assert status["image"] == {
        "requested": "vllm/vllm-openai:v0.11.0",
        "repository": "vllm/vllm-openai",
        "tag": "v0.11.0",
        "resolved": f"docker.io/vllm/vllm-openai@{DIGEST}",
        "digest": DIGEST,
        "source": "stable",
        "inNightly": False,
    }
    assert status["replicas"] == {"desired": 2, "ready": 2, "available": 2, "pending": 1}
    assert status["endpoint"] == {"service": "m", "port": 8000}
    assert status["observedGeneration"] == 3
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Validated", "True", "CompiledPolicyPassed"),
        ("EngineSelected", "True", "ExplicitSelection"),
        ("ProviderSelected", "True", "Explicit"),
        ("ImageResolved", "True", "DigestPinned"),
        ("UnsupportedImage", "False", "OfficialImage"),
        ("ResourceCreated", "True", "ResourcesCreated"),
        ("Ready", "True", "DeploymentReady"),
        ("InSync", "True", "SpecMatchesCompiled"),
    ]
    assert all(
        c["observedGeneration"] == 3 and c["lastTransitionTime"] == NOW
        for c in status["conditions"]
    )


@pytest.mark.parametrize(
    ("facts", "condition", "expected"),
    [
        (
            {"provider_reason": "matched capabilities: engine=vllm, gpu=2, mode=aggregated"},
            "ProviderSelected",
            ("True", "AutoSelected"),
        ),
        ({"image_source": "custom"}, "UnsupportedImage", ("True", "CustomImage")),
        ({"image_source": "nightly"}, "UnsupportedImage", ("False", "OfficialImage")),
        ({"image_source": "launch"}, "UnsupportedImage", ("False", "OfficialImage")),
    ],
)
def test_condition_rows_from_compile_facts(facts, condition, expected):
    status = status_of(
        stamped(**facts), ours(status=conds(("Available", "True", "X"))), ours("Service")
    )
    found = by_type(status)[condition]
    assert (found["status"], found["reason"]) == expected


def test_unpinned_image_is_not_resolved():
    md = stamped()
    del md["metadata"]["annotations"]["runwayc.dev/image-digest"]
    del md["metadata"]["annotations"]["runwayc.dev/image-resolved"]
    status = status_of(md)
    assert (
        by_type(status)["ImageResolved"]["status"],
        by_type(status)["ImageResolved"]["reason"],
    ) == (
        "False",
        "ImageResolutionFailed",
    )
    assert "digest" not in status["image"]


def test_an_unpinned_image_condition_says_why():
    md = stamped()
    annotations = md["metadata"]["annotations"]
    del annotations["runwayc.dev/image-digest"]
    del annotations["runwayc.dev/image-resolved"]
    annotations["runwayc.dev/image-unpinned"] = "`runwayc lock` could not resolve it: HTTP 404"
    condition = by_type(status_of(md))["ImageResolved"]
    requested = annotations["runwayc.dev/image-requested"]
    assert condition["message"] == (
        f"{requested} runs unpinned, by its tag as written: `runwayc lock` could not resolve "
        "it: HTTP 404"
    )


def test_recipe_provenance_is_a_condition():
    md = stamped()
    md["metadata"]["annotations"]["airunway.ai/recipe.id"] = "Qwen/Qwen3-0.6B"
    md["metadata"]["annotations"]["airunway.ai/generated-by"] = "vllm-recipe-resolver"
    found = by_type(status_of(md))["RecipeResolved"]
    assert (found["status"], found["reason"]) == ("True", "RecipePinned")
    assert "Qwen/Qwen3-0.6B" in found["message"]
    assert "RecipeResolved" not in by_type(status_of(stamped()))


@pytest.mark.parametrize(
    ("deployment", "service", "phase", "reason", "message"),
    [
        (
            None,
            None,
            "Pending",
            "ResourcesPending",
            "waiting for Deployment ns/m to be applied (by the GitOps tool)",
        ),
        (
            "ours",
            None,
            "Running",
            "ResourcesPending",
            "waiting for Service ns/m to be applied (by the GitOps tool)",
        ),
        (
            "foreign",
            "ours",
            "Failed",
            "ResourceConflict",
            "Deployment ns/m exists but is not managed by this ModelDeployment "
            "(no owner references)",
        ),
        (
            "ours",
            "foreign",
            "Failed",
            "ResourceConflict",
            "Service ns/m exists but is not managed by this ModelDeployment (no owner references)",
        ),
        (
            "owned-elsewhere",
            "ours",
            "Failed",
            "ResourceConflict",
            "Deployment ns/m exists but is not managed by this ModelDeployment "
            "(owned by Application/shop)",
        ),
        ("owner-ref", "ours", "Running", "ResourcesCreated", "Deployment and Service ns/m exist"),
    ],
)
def test_resource_created_rows(deployment, service, phase, reason, message):
    available = conds(("Available", "True", "MinimumReplicasAvailable"))

    def make(kind, how):
        if how is None:
            return None
        obj = ours(kind, available if kind == "Deployment" else None)
        if how in ("foreign", "owned-elsewhere", "owner-ref"):
            obj["metadata"]["labels"] = {"app": "other"}
        if how == "owned-elsewhere":
            obj["metadata"]["ownerReferences"] = [
                {"kind": "Application", "name": "shop", "uid": "x"}
            ]
        if how == "owner-ref":
            obj["metadata"]["ownerReferences"] = [
                {"kind": "ModelDeployment", "name": "m", "uid": "md-uid"}
            ]
        return obj

    status = status_of(stamped(), make("Deployment", deployment), make("Service", service))
    created = by_type(status)["ResourceCreated"]
    assert (status["phase"], created["reason"], created["message"]) == (phase, reason, message)
    assert created["status"] == ("True" if reason == "ResourcesCreated" else "False")
    if reason == "ResourceConflict":
        assert status["message"] == message
        assert "endpoint" not in status
        assert "replicas" not in status


def test_terminating_wins():
    md = stamped()
    md["metadata"]["deletionTimestamp"] = "2026-11-23T09:00:00Z"
    status = status_of(md, ours(status=conds(("Available", "True", "X"))), ours("Service"))
    assert status["phase"] == "Terminating"
    assert by_type(status)["Ready"]["reason"] == "Terminating"


@pytest.mark.parametrize(
    ("edit", "in_sync", "validated"),
    [
        (None, ("True", "SpecMatchesCompiled"), ("True", "CompiledPolicyPassed")),
        (
            lambda md: md["spec"]["engine"].update(contextLength=8192),
            ("False", "SpecChanged"),
            ("True", "PolicyPassed"),
        ),
        (
            lambda md: md["spec"]["engine"].update(extraArgs=["--port=1"]),
            ("False", "SpecChanged"),
            ("False", "PolicyViolation"),
        ),
        (
            lambda md: md["metadata"]["annotations"].clear(),
            ("False", "NotCompiled"),
            ("True", "PolicyPassed"),
        ),
        (
            lambda md: md["spec"].update(unknownField=1),
            ("False", "SpecChanged"),
            ("False", "PolicyViolation"),
        ),
    ],
)
def test_in_sync_and_validated_rows(edit, in_sync, validated):
    md = stamped()
    if edit is not None:
        edit(md)
    status = status_of(md, ours(status=conds(("Available", "True", "X"))), ours("Service"))
    found = by_type(status)
    assert (found["InSync"]["status"], found["InSync"]["reason"]) == in_sync
    assert (found["Validated"]["status"], found["Validated"]["reason"]) == validated
    assert (status["phase"] == "Failed") is (validated[0] == "False")


def test_api_server_defaulting_is_not_an_edit():
    """The live spec with defaults filled in and keys reordered hashes like the compiled one."""
    compiled = {"model": {"id": "x"}, "engine": {"type": "vllm"}}
    live = {
        "engine": {
            "enforceEager": False,
            "type": "vllm",
            "enablePrefixCaching": True,
            "trustRemoteCode": False,
        },
        "model": {"source": "huggingface", "id": "x"},
    }
    assert live_spec_hash(live) == live_spec_hash(compiled)
    assert live_spec_hash({"model": {"id": "y"}}) != live_spec_hash(compiled)
    assert live_spec_hash({"model": "not a mapping"}) is None


def test_transition_times_move_only_with_status():
    deployment = ours(status=conds(("Progressing", "True", "ReplicaSetUpdated")))
    first = status_of(stamped(), deployment, ours("Service"))
    md = stamped()
    md["status"] = first
    again = status_of(md, deployment, ours("Service"), now="2026-11-23T11:00:00Z")
    assert again == first  # nothing changed: same bytes, nothing to write
    ready = ours(status=conds(("Available", "True", "X")))
    later = status_of(md, ready, ours("Service"), now="2026-11-23T11:00:00Z")
    times = {c["type"]: c["lastTransitionTime"] for c in later["conditions"]}
    assert times["Ready"] == "2026-11-23T11:00:00Z"
    assert times["InSync"] == NOW


def test_unknown_provider_is_pending_with_a_reason():
    md = stamped(provider="skypilot")
    status = status_of(md)
    assert status["phase"] == "Pending"
    assert 'provider "skypilot" has no status reader' in status["message"]


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"x": 1, "y": 3}}, {"a": {"y": 3}}),
        ({"c": [1, 2]}, {"c": [1]}, {"c": [1]}),
        ({}, {"phase": "Running"}, {"phase": "Running"}),
        ({"a": 1}, {"a": 1}, {}),
    ],
)
def test_merge_patch(old, new, patch):
    assert merge_patch(old, new) == patch


# --- status.engine and EngineSelected (AI Runway's controller words) ----------------------------


def without_engine_type() -> dict[str, Any]:
    spec: dict[str, Any] = copy.deepcopy(SPEC)
    del spec["engine"]["type"]
    return spec


@pytest.mark.parametrize(
    ("md", "engine", "condition"),
    [
        (
            stamped(
                without_engine_type(),
                engine="llamacpp",
                engine_reason="auto-selected from provider kaito capabilities",
            ),
            {
                "type": "llamacpp",
                "selectedReason": "auto-selected from provider kaito capabilities",
            },
            ("True", "AutoSelected", "Engine llamacpp auto-selected from provider capabilities"),
        ),
        (
            stamped(),
            {"type": "vllm", "selectedReason": "explicit engine selection"},
            ("True", "ExplicitSelection", "Engine explicitly specified in spec"),
        ),
        (
            # A stamp that names an engine runwayc does not know is not believed.
            stamped(without_engine_type(), engine="mystery", provider="kaito"),
            None,
            (
                "False",
                "NoEngineRecorded",
                "no compile stamp names an engine and spec.engine.type is not set",
            ),
        ),
    ],
    ids=["auto-selected", "explicit", "unknown-engine"],
)
def test_engine_status_and_condition(md, engine, condition):
    status = status_of(md, ours(status=conds(("Available", "True", "X"))), ours("Service"))
    assert status.get("engine") == engine
    found = by_type(status)["EngineSelected"]
    assert (found["status"], found["reason"], found["message"]) == condition
