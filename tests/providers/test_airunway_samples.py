"""AI Runway's own ModelDeployment samples compile to the provider and engine it would pick.

The samples are copied in tests/fixtures/airunway-samples/ (sources in its README). The four
that set neither engine.type nor a GPU (the CPU and gateway e2e specs, the gateway-bbr demo
models) failed before engine selection: runwayc assumed vLLM and found no provider for it on
CPU. AI Runway auto-selects llamacpp, which only KAITO offers on CPU.
"""

from __future__ import annotations

import shutil

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


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    repo = tmp_path_factory.mktemp("samples")
    (repo / "runway.yaml").write_text(PROJECT, encoding="utf-8")
    shutil.copytree(SAMPLES, repo / "deployments", ignore=shutil.ignore_patterns("*.md"))
    locked = run_cli("lock", repo, "--skip-images")
    assert locked.exit_code == 0, locked.stderr
    out = repo / "out"
    result = run_cli("compile", repo, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "error[" not in result.stderr
    manifests = {}
    for manifest in out.glob("*/*/manifest.yaml"):
        manifests[manifest.parent.name] = list(yaml.safe_load_all(manifest.read_text()))
    manifests["runway.lock"] = [yaml.safe_load((repo / "runway.lock").read_text())]
    return manifests


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
