"""The agent writes status.engine and EngineSelected as AI Runway's controller does, against
the Kubernetes API emulator: an auto-selected engine from the compile stamp, an explicit one
from the spec."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.agent.conftest import settle, status_written
from tests.conftest import ROOT, run_cli
from tests.harness import PROJECT

SAMPLES = ROOT / "tests" / "fixtures" / "airunway-samples"


def compiled_samples(tmp_path: Path, *names: str) -> list[dict[str, Any]]:
    repo = tmp_path / "repo"
    (repo / "deployments").mkdir(parents=True)
    (repo / "runway.yaml").write_text(PROJECT, encoding="utf-8")
    for name in names:
        shutil.copy(SAMPLES / name, repo / "deployments" / name)
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    return [
        obj
        for manifest in sorted((tmp_path / "out").glob("*/*/manifest.yaml"))
        for obj in yaml.safe_load_all(manifest.read_text())
    ]


def engine_condition(status: dict[str, Any]) -> tuple[str, str, str]:
    (found,) = [c for c in status["conditions"] if c["type"] == "EngineSelected"]
    return found["status"], found["reason"], found["message"]


def test_auto_selected_and_explicit_engines_reach_the_status(emulator, start_agent, tmp_path):
    api, _ = emulator
    api.installed.add("Workspace")
    objects = compiled_samples(
        tmp_path, "e2e-cpu-modeldeployment.yaml", "gpu-e2e-kaito-modeldeployment.yaml"
    )
    for obj in objects:
        api.apply(obj)
    namespaces = {
        o["metadata"]["name"]: o["metadata"]["namespace"]
        for o in objects
        if o["kind"] == "ModelDeployment"
    }
    agent = start_agent()
    for name, namespace in namespaces.items():
        status_written(api, namespace, name)
    settle(agent, api)
    auto = api.get("ModelDeployment", namespaces["llama-cpu-e2e"], "llama-cpu-e2e")["status"]
    explicit = api.get("ModelDeployment", "default", "qwen3-0-6b-kaito")["status"]
    assert auto["engine"] == {
        "type": "llamacpp",
        "selectedReason": "auto-selected from provider kaito capabilities",
    }
    assert engine_condition(auto) == (
        "True",
        "AutoSelected",
        "Engine llamacpp auto-selected from provider capabilities",
    )
    assert auto["provider"]["name"] == "kaito"
    assert explicit["engine"] == {"type": "vllm", "selectedReason": "explicit engine selection"}
    assert engine_condition(explicit) == (
        "True",
        "ExplicitSelection",
        "Engine explicitly specified in spec",
    )
