"""Auto-selection over the real catalog: AI Runway's rules, and never Direct vLLM."""

from __future__ import annotations

import itertools

import pytest
import yaml

from compiler.core.model import ModelDeployment, ProviderCatalog
from compiler.core.providers.selection import select_provider
from tests.conftest import ROOT, run_cli
from tests.helpers import line_col, md_yaml

CATALOG = ProviderCatalog.model_validate(
    yaml.safe_load((ROOT / "policies" / "providers.yaml").read_text()), by_alias=True
)


def md(**spec: object) -> ModelDeployment:
    doc = {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "m"},
        "spec": {"model": {"id": "a/b"}, **spec},
    }
    return ModelDeployment.model_validate(doc, by_alias=True)


@pytest.mark.parametrize(
    ("spec", "provider", "priority"),
    [
        ({"engine": {"type": "vllm"}, "resources": {"gpu": {"count": 0}}}, None, None),
        ({"engine": {"type": "llamacpp"}, "resources": {"gpu": {"count": 0}}}, "kaito", 100),
        ({"engine": {"type": "llamacpp"}}, "kaito", 100),
        ({"engine": {"type": "trtllm"}, "resources": {"gpu": {"count": 1}}}, "dynamo", 100),
        ({"engine": {"type": "sglang"}, "resources": {"gpu": {"count": 1}}}, "dynamo", 100),
        ({"engine": {"type": "vllm"}, "resources": {"gpu": {"count": 1}}}, "dynamo", 50),
        ({"engine": {"type": "vllm"}}, "dynamo", 50),  # admission default: one GPU
        ({"engine": {"type": "vllm"}, "resources": {"gpu": {"count": 4}}}, "kuberay", 80),
        (
            {
                "engine": {"type": "vllm"},
                "serving": {"mode": "disaggregated"},
                "resources": {"gpu": {"count": 4}},
            },
            "dynamo",
            90,
        ),
    ],
    ids=[
        "vllm-cpu-only-has-no-provider",
        "llamacpp-cpu",
        "llamacpp-default-gpu-0",
        "trtllm",
        "sglang",
        "vllm-one-gpu",
        "vllm-defaulted-gpu",
        "vllm-multi-gpu",
        "disaggregated",
    ],
)
def test_ai_runway_rules(spec, provider, priority):
    selection = select_provider(CATALOG, md(**spec))
    assert selection.provider == provider
    if priority is not None:
        assert selection.reason.endswith(f"; priority {priority}")
        assert selection.reason.startswith("matched capabilities: engine=")


def test_vllm_is_never_auto_selected_over_the_whole_space():
    engines = ["vllm", "sglang", "trtllm", "llamacpp"]
    for engine, gpus, mode in itertools.product(
        engines, [0, 1, 2, 8], ["aggregated", "disaggregated"]
    ):
        spec = {
            "engine": {"type": engine},
            "resources": {"gpu": {"count": gpus}},
            "serving": {"mode": mode},
        }
        assert select_provider(CATALOG, md(**spec)).provider != "vllm", spec


def test_ties_break_by_name():
    catalog = CATALOG.model_copy(
        update={
            "providers": [
                p.model_copy(update={"selection_rules": []})
                for p in CATALOG.providers
                if p.name in ("llmd", "kuberay")
            ]
        }
    )
    selection = select_provider(catalog, md(engine={"type": "vllm"}))
    assert selection.provider == "kuberay"


def test_when_only_vllm_could_serve_the_error_names_the_explicit_option():
    only_vllm = CATALOG.model_copy(
        update={"providers": [p for p in CATALOG.providers if p.name == "vllm"]}
    )
    selection = select_provider(only_vllm, md(engine={"type": "vllm"}))
    assert selection.provider is None
    assert selection.failure == (
        "no provider can be auto-selected (engine=vllm, gpu=1, mode=aggregated); vllm is "
        'explicit-only: set spec.provider.name: "vllm" to use it'
    )


LLAMACPP = {"engine": {"type": "llamacpp"}, "image": "ghcr.io/ggml-org/llama.cpp:server"}
DISAGGREGATED = {
    "serving": {"mode": "disaggregated"},
    "resources": {},
    "scaling": {"prefill": {"gpu": {"count": 1}}, "decode": {"gpu": {"count": 1}}},
}


@pytest.mark.parametrize(
    ("spec", "provider", "kind"),
    [
        ({**LLAMACPP, "resources": {"cpu": "4"}}, "kaito", "Workspace"),
        ({**LLAMACPP, "resources": {"gpu": {"count": 1}}}, "kaito", "Workspace"),
        ({"engine": {"type": "sglang"}}, "dynamo", "DynamoGraphDeployment"),
        ({"engine": {"type": "trtllm"}}, "dynamo", "DynamoGraphDeployment"),
        ({"engine": {"type": "vllm"}, **DISAGGREGATED}, "dynamo", "DynamoGraphDeployment"),
        ({"resources": {"gpu": {"count": 1}}}, "dynamo", "DynamoGraphDeployment"),
        ({"resources": {"gpu": {"count": 2}}}, "kuberay", "RayService"),
        ({"provider": {"name": "vllm"}}, "vllm", "Deployment"),
        ({"provider": {"name": "llmd"}}, "llmd", "Deployment"),
    ],
    ids=[
        "llamacpp-cpu", "llamacpp-gpu", "sglang", "trtllm", "disaggregated-vllm", "vllm-gpu-1",
        "vllm-gpu-2", "explicit-vllm", "explicit-llmd",
    ],
)  # fmt: skip
def test_selection_end_to_end_records_the_reason_and_renders(
    make_repo, tmp_path, spec, provider, kind
):
    repo = make_repo({"deployments/a.yaml": md_yaml(**{"provider": {}, **spec})})
    locked = run_cli("lock", repo, "--skip-images")
    assert locked.exit_code == 0, locked.stderr
    pin = yaml.safe_load((repo / "runway.lock").read_text())["providers"]["team-a/m"]
    assert pin["name"] == provider
    explicit = "name" in spec.get("provider", {})
    assert pin["reason"].startswith("explicit" if explicit else "matched capabilities: ")
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    manifest = tmp_path / "out" / "team-a" / "m" / "manifest.yaml"
    objects = list(yaml.safe_load_all(manifest.read_text()))
    assert kind in {o["kind"] for o in objects}
    (md,) = [o for o in objects if o["kind"] == "ModelDeployment"]
    assert md["metadata"]["annotations"]["runwayc.dev/provider"] == provider
    assert md["metadata"]["annotations"]["runwayc.dev/provider-reason"] == pin["reason"]


def test_vllm_without_a_gpu_is_a_clear_selection_error(make_repo, tmp_path):
    text = md_yaml(provider={}, resources={"gpu": {"count": 0}})
    result = run_cli("compile", make_repo({"deployments/a.yaml": text}), "--out", tmp_path / "o")
    assert result.exit_code == 1
    # AI Runway's controller checks compatibility before it selects: its sentence, unnamed
    # provider (no registered provider runs vllm on CPU).
    line, col = line_col(text, "count: 0")
    assert (
        f"deployments/a.yaml:{line}:{col}: error[PROVIDER_NEEDS_GPU]: spec.resources.gpu.count: "
        "vllm engine requires GPU (set resources.gpu.count > 0)"
    ) in result.stderr
