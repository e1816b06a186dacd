"""Auto-selection over the real catalog: AI Runway's rules, and never Direct vLLM."""

from __future__ import annotations

import itertools

import pytest
import yaml

from compiler.model import ModelDeployment, ProviderCatalog
from compiler.providers.selection import select_provider
from tests.conftest import ROOT

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
