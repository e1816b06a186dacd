"""AI Runway's own ModelDeployment samples compile to the provider and engine it would pick.

The samples are copied in tests/fixtures/airunway-samples/ (sources in its README). The four
that set neither engine.type nor a GPU (the CPU and gateway e2e specs, the gateway-bbr demo
models) failed before engine selection: runwayc assumed vLLM and found no provider for it on
CPU. AI Runway auto-selects llamacpp, which only KAITO offers on CPU.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, run_cli
from tests.harness import PROJECT

SAMPLES = ROOT / "tests" / "fixtures" / "airunway-samples"
AUTO_LLAMACPP = ("llamacpp", "auto-selected from provider kaito capabilities")
EXPLICIT_VLLM = ("vllm", "explicit engine selection")

# name -> (provider, engine, engine reason), as AI Runway's controller picks them (b0d3fb7).
EXPECTED = {
    "llama-8b-example": ("dynamo", *EXPLICIT_VLLM),
    "gemma-cpu-example": ("kaito", "llamacpp", "explicit engine selection"),
    "llama-70b-pd-example": ("dynamo", *EXPLICIT_VLLM),
    "llama-8b-llmd": ("llmd", *EXPLICIT_VLLM),
    "llama-70b-llmd-pd": ("llmd", *EXPLICIT_VLLM),
    "llama-cpu-e2e": ("kaito", *AUTO_LLAMACPP),
    "llama-gw-e2e": ("kaito", *AUTO_LLAMACPP),
    "gemma-gw-e2e": ("kaito", *AUTO_LLAMACPP),
    "llama-llmd-e2e": ("llmd", *EXPLICIT_VLLM),
    "model-a": ("kaito", *AUTO_LLAMACPP),
    "model-b": ("kaito", *AUTO_LLAMACPP),
    "qwen3-0-6b": ("dynamo", *EXPLICIT_VLLM),
    "qwen25-72b-multinode": ("dynamo", *EXPLICIT_VLLM),
    "qwen3-0-6b-disagg": ("dynamo", *EXPLICIT_VLLM),
    "qwen3-0-6b-kaito": ("kaito", *EXPLICIT_VLLM),
    "qwen3-0-6b-vllm": ("vllm", *EXPLICIT_VLLM),
    "qwen3-0-6b-dynamo": ("dynamo", *EXPLICIT_VLLM),
}
# The ones whose rendered object is a KAITO llama.cpp Workspace because of the selection.
CPU_AUTO = sorted(name for name, value in EXPECTED.items() if value[1:] == AUTO_LLAMACPP)


# AI Runway's gateway samples: they turn spec.gateway on, and all but the later gemma one
# leave the model name to be discovered from the running server, which runwayc must know at
# compile time.
GATEWAY_SAMPLES = (
    "e2e-gateway-modeldeployment.yaml",
    "e2e-gateway-modeldeployments-gemma.yaml",
    "gateway-bbr-model-a.yaml",
    "gateway-bbr-model-b.yaml",
)
GATEWAY_PROJECT = PROJECT.replace(
    "dev: {}", "dev: {gateway: {name: inference-gateway, namespace: gw}}"
)


def _compile(repo: Path) -> dict[str, list[dict[str, object]]]:
    locked = run_cli("lock", repo, "--skip-images")
    assert locked.exit_code == 0, locked.stderr
    out = repo / "out"
    result = run_cli("compile", repo, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "error[" not in result.stderr
    manifests: dict[str, list[dict[str, object]]] = {}
    for manifest in out.glob("*/*/manifest.yaml"):
        manifests[manifest.parent.name] = list(yaml.safe_load_all(manifest.read_text()))
    manifests["runway.lock"] = [yaml.safe_load((repo / "runway.lock").read_text())]
    return manifests


def _named_model(path: Path) -> str:
    """A gateway sample with the model name runwayc asks for (`spec.gateway.modelName`),
    the one its server serves: KAITO's llama.cpp runner serves the model's id."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        if "modelName" not in doc["spec"]["gateway"]:
            doc["spec"]["gateway"]["modelName"] = doc["spec"]["model"]["id"]
    return yaml.safe_dump_all(docs, sort_keys=False)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    repo = tmp_path_factory.mktemp("samples")
    (repo / "runway.yaml").write_text(PROJECT, encoding="utf-8")
    ignored = shutil.ignore_patterns("*.md", *GATEWAY_SAMPLES)
    shutil.copytree(SAMPLES, repo / "deployments", ignore=ignored)
    # The gateway samples compile in an environment that names its Gateway, once they name
    # the model (test_a_gateway_sample_is_asked_for_its_model_name shows the refusal).
    routed = tmp_path_factory.mktemp("gateway-samples")
    (routed / "runway.yaml").write_text(GATEWAY_PROJECT, encoding="utf-8")
    (routed / "deployments").mkdir()
    for name in GATEWAY_SAMPLES:
        (routed / "deployments" / name).write_text(_named_model(SAMPLES / name))
    plain, gateway = _compile(repo), _compile(routed)
    providers: dict[str, object] = {}
    for side in (plain, gateway):
        lock: Any = side.pop("runway.lock")[0]
        providers.update(lock["providers"])
    return {**plain, **gateway, "runway.lock": [{"providers": providers}]}


def test_a_gateway_sample_is_asked_for_its_model_name(tmp_path):
    """AI Runway asks the running server for the model name; at compile time runwayc cannot,
    and says what to set."""
    (tmp_path / "runway.yaml").write_text(GATEWAY_PROJECT, encoding="utf-8")
    (tmp_path / "deployments").mkdir()
    shutil.copy(SAMPLES / GATEWAY_SAMPLES[0], tmp_path / "deployments")
    result = run_cli("check", tmp_path)
    assert result.exit_code == 1
    assert "error[GATEWAY_MODEL_NAME]" in result.stderr
    assert "set spec.gateway.modelName" in result.stderr


def test_the_fixture_holds_every_sample():
    names = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        names += [d["metadata"]["name"] for d in yaml.safe_load_all(path.read_text()) if d]
    assert sorted(names) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_sample_compiles_to_ai_runways_provider_and_engine(compiled, name):
    provider, engine, engine_reason = EXPECTED[name]
    (md,) = [o for o in compiled[name] if o["kind"] == "ModelDeployment"]
    annotations = md["metadata"]["annotations"]
    assert annotations["runwayc.dev/provider"] == provider
    if "engine" in md["spec"]:
        # An engine the spec names is not stamped again.
        assert md["spec"]["engine"]["type"] == engine
        assert "runwayc.dev/engine" not in annotations
    else:
        assert annotations["runwayc.dev/engine"] == engine
        assert annotations["runwayc.dev/engine-reason"] == engine_reason
    pin = compiled["runway.lock"][0]["providers"][f"default/{name}"]
    assert (pin["name"], pin["engine"], pin["engineReason"]) == (provider, engine, engine_reason)


@pytest.mark.parametrize("name", CPU_AUTO)
def test_a_cpu_spec_without_an_engine_renders_kaitos_llamacpp_workspace(compiled, name):
    (md,) = [o for o in compiled[name] if o["kind"] == "ModelDeployment"]
    # The applied spec stays as written: the engine lives in the stamp and the lock.
    assert "engine" not in md["spec"]
    (workspace,) = [o for o in compiled[name] if o["kind"] == "Workspace"]
    assert workspace["metadata"]["labels"]["airunway.ai/engine-type"] == "llamacpp"
    (container,) = workspace["inference"]["template"]["spec"]["containers"]
    assert container["args"] == ["--address=:5000"]
    assert container["ports"] == [{"containerPort": 5000}]
