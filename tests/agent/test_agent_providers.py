"""The agent reading other providers' objects back, against the Kubernetes API emulator
through the real `kubernetes` client: a provider kind whose CRD is installed is watched, one
whose CRD is absent is not an error, and llm-d's `<md>-decode` Deployment is the status
source of a disaggregated MD."""

from __future__ import annotations

from typing import Any

import yaml

from tests.agent.conftest import available, progressing, settle, status_written, wait_for
from tests.conftest import ROOT
from tests.helpers import compile_example


def example_objects(namespace: str, name: str) -> list[dict[str, Any]]:
    result = compile_example(ROOT / "examples" / "providers", "prod")
    return list(yaml.safe_load_all(result.files[f"{namespace}/{name}/manifest.yaml"]))


def test_rayservice_status_is_read_back_once_its_crd_is_installed(emulator, start_agent):
    api, _ = emulator
    api.installed.add("RayService")
    for obj in example_objects("team-b", "qwen-tp2"):
        api.apply(obj)
    ready = {"type": "RayServiceReady", "status": "True", "reason": "Ready", "message": ""}
    apps = {"applicationStatuses": {"llm": {"status": "RUNNING"}}}
    api.set_status(
        "RayService", "team-b", "qwen-tp2", {"conditions": [ready], "activeServiceStatus": apps}
    )
    agent = start_agent()
    status_written(api, "team-b", "qwen-tp2")
    settle(agent, api)
    status = api.get("ModelDeployment", "team-b", "qwen-tp2")["status"]
    assert status["phase"] == "Running"
    assert status["provider"] == {
        "name": "kuberay",
        "selectedReason": "matched capabilities: engine=vllm, gpu=2, mode=aggregated; priority 80",
        "resourceKind": "RayService",
        "resourceName": "qwen-tp2",
    }
    assert status["replicas"] == {"desired": 1, "ready": 1, "available": 1, "pending": 0}
    assert status["endpoint"] == {"service": "qwen-tp2-serve-svc", "port": 8000}
    assert api.count("patch-status") == 1
    assert api.count("get") == 0
    # A later change of the RayService reaches the agent through its watch.
    failed = {"applicationStatuses": {"llm": {"status": "DEPLOY_FAILED", "message": "OOM"}}}
    api.set_status("RayService", "team-b", "qwen-tp2", {"activeServiceStatus": failed})
    wait_for(
        lambda: api.get("ModelDeployment", "team-b", "qwen-tp2")["status"]["phase"] == "Failed",
        what="Failed after DEPLOY_FAILED",
    )
    assert api.get("ModelDeployment", "team-b", "qwen-tp2")["status"]["message"] == "OOM"


def test_a_provider_without_its_crd_leaves_the_agent_ready_and_the_md_pending(
    emulator, start_agent
):
    api, _ = emulator  # no provider CRD installed: listing Workspaces answers 404
    md = next(o for o in example_objects("team-a", "phi-preset") if o["kind"] == "ModelDeployment")
    api.apply(md)
    agent = start_agent()
    status_written(api, "team-a", "phi-preset")
    settle(agent, api)
    assert agent.ready
    status = api.get("ModelDeployment", "team-a", "phi-preset")["status"]
    assert status["phase"] == "Pending"
    assert status["message"] == (
        "waiting for Workspace team-a/phi-preset to be applied (by the GitOps tool)"
    )


def test_llmd_disaggregated_reports_from_the_decode_deployment(emulator, start_agent):
    api, _ = emulator
    for obj in example_objects("team-c", "llama-llmd-pd"):
        api.apply(obj)
    api.set_status("Deployment", "team-c", "llama-llmd-pd-decode", progressing(2, 1))
    agent = start_agent()
    status_written(api, "team-c", "llama-llmd-pd")
    settle(agent, api)
    status = api.get("ModelDeployment", "team-c", "llama-llmd-pd")["status"]
    assert status["phase"] == "Deploying"
    assert status["provider"]["resourceName"] == "llama-llmd-pd-decode"
    assert status["replicas"] == {"desired": 2, "ready": 1, "available": 1, "pending": 1}
    assert status["endpoint"] == {"service": "llama-llmd-pd-decode", "port": 8000}
    # An event on the -decode Deployment reaches its MD.
    api.set_status("Deployment", "team-c", "llama-llmd-pd-decode", available(2))
    wait_for(
        lambda: (
            api.get("ModelDeployment", "team-c", "llama-llmd-pd")["status"]["phase"] == "Running"
        ),
        what="Running once decode is available",
    )
