"""spec.scaling.autoscaling: HPA (queue, kvcache), WVA (VariantAutoscaling + External-metric
HPA) and KEDA (ScaledObject) outputs from examples/autoscaling, validated against Kubernetes'
schema and the upstream CRDs; the checks on bounds, modes and targets with their messages;
overlay clamping; and the KEDA query's escaping of names users control."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from compiler.core.cluster.crd import model_deployment_crd
from compiler.core.pipeline import CompileResult
from compiler.io.workspace import load_policy
from tests.conftest import FIXTURES, ROOT, needs_binary
from tests.harness import Compiled, Repo
from tests.helpers import (
    compile_example,
    crd_validator,
    kustomize_build,
    line_col,
    manifest_objects,
    md_yaml,
    strict_crd_schema,
    tree_objects,
)
from tests.helpers import object_label as label

EXAMPLE = ROOT / "examples" / "autoscaling"
ENV = "prod"
KUBERNETES_VERSION = "1.30.0"


def compiled() -> CompileResult:
    result = compile_example(EXAMPLE, ENV)
    assert not result.diagnostics, result.diagnostics  # no warnings either
    return result


def manifest_names() -> list[str]:
    return sorted(name for name in compiled().files if name.endswith("manifest.yaml"))


def objects() -> list[dict[str, Any]]:
    return manifest_objects(compiled().files)


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in objects() if o["kind"] == kind]


def by_name(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in of_kind(kind) if o["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("name", manifest_names(), ids=lambda v: v.replace("/", "_"))
def test_autoscaling_manifest_snapshot(yaml_snapshot, name):
    assert compiled().files[name].decode() == yaml_snapshot


def test_each_mode_renders_its_autoscaler_next_to_the_deployment():
    kinds = {
        md["metadata"]["name"]: sorted(
            o["kind"]
            for o in objects()
            if o["metadata"]["name"] == md["metadata"]["name"]
            and o["kind"] not in ("ModelDeployment", "Deployment", "Service")
        )
        for md in of_kind("ModelDeployment")
    }
    assert kinds == {
        "qwen-queue": ["HorizontalPodAutoscaler"],
        "qwen-kvcache": ["HorizontalPodAutoscaler"],
        "llama-a100": ["HorizontalPodAutoscaler", "VariantAutoscaling"],
        "llama-l40s": ["HorizontalPodAutoscaler", "VariantAutoscaling"],
        "phi-keda": ["ScaledObject"],
    }
    queue = by_name("HorizontalPodAutoscaler", "qwen-queue")["spec"]
    assert queue["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "vllm:num_requests_waiting"},
                "target": {"type": "AverageValue", "averageValue": "5"},
            },
        }
    ]
    kv = by_name("HorizontalPodAutoscaler", "qwen-kvcache")["spec"]
    assert kv["metrics"][0]["pods"]["metric"]["name"] == "vllm:kv_cache_usage_perc"
    assert kv["metrics"][0]["pods"]["target"]["averageValue"] == "0.7"  # the policy default
    assert (kv["minReplicas"], kv["maxReplicas"]) == (2, 8)
    wva = by_name("HorizontalPodAutoscaler", "llama-a100")["spec"]
    assert wva["metrics"][0]["external"]["metric"] == {
        "name": "wva_desired_replicas",
        "selector": {"matchLabels": {"variant_name": "llama-a100"}},
    }
    variant = by_name("VariantAutoscaling", "llama-a100")
    assert variant["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llama-a100"},
        "modelID": "meta-llama/Llama-3.1-8B-Instruct",
        "variantCost": "20.0",
    }
    labels = variant["metadata"]["labels"]
    assert labels["inference.optimization/acceleratorName"] == "NVIDIA-A100-SXM4-80GB"


def test_behavior_limits_scale_up_to_one_pod_per_period():
    for hpa in of_kind("HorizontalPodAutoscaler"):
        up = hpa["spec"]["behavior"]["scaleUp"]
        assert up["stabilizationWindowSeconds"] >= 60
        assert up["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 300}]
        assert up["selectPolicy"] == "Min"
    keda = by_name("ScaledObject", "phi-keda")["spec"]
    assert (
        keda["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        == (of_kind("HorizontalPodAutoscaler")[0]["spec"]["behavior"])
    )


def test_the_autoscaler_owns_the_replica_count():
    for deployment in of_kind("Deployment"):
        assert "replicas" not in deployment["spec"], label(deployment)
        for scaler in of_kind("HorizontalPodAutoscaler") + of_kind("ScaledObject"):
            if scaler["metadata"]["name"] == deployment["metadata"]["name"]:
                assert scaler["spec"]["scaleTargetRef"] == {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": deployment["metadata"]["name"],
                }


@pytest.mark.parametrize(
    "obj",
    [o for o in objects() if o["apiVersion"] in ("apps/v1", "v1", "autoscaling/v2")],
    ids=label,
)
def test_kubernetes_objects_validate_against_kubernetes_schema(obj):
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("variant", of_kind("VariantAutoscaling"), ids=label)
def test_variant_autoscaling_validates_against_wva_crd(variant):
    validator = crd_validator(
        FIXTURES / "crds/llmd.ai_variantautoscalings.yaml", "VariantAutoscaling", "v1alpha1"
    )
    errors = sorted(validator.iter_errors(variant), key=str)
    assert not errors, [e.message for e in errors]
    assert not validator.is_valid({**variant, "spec": {**variant["spec"], "variantCost": "ten"}})


@pytest.mark.parametrize("scaled", of_kind("ScaledObject"), ids=label)
def test_scaled_object_validates_against_keda_crd(scaled):
    validator = crd_validator(
        FIXTURES / "crds/keda.sh_scaledobjects.yaml", "ScaledObject", "v1alpha1"
    )
    errors = sorted(validator.iter_errors(scaled), key=str)
    assert not errors, [e.message for e in errors]
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["metadata"]["query"] == (
        'sum(vllm:num_requests_waiting{model_name="microsoft/Phi-4-mini-instruct",namespace="batch"})'
    )


def test_compiled_model_deployments_validate_against_runwaycs_crd():
    crd = model_deployment_crd(load_policy(None))
    schema = strict_crd_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    validator = jsonschema.Draft7Validator(schema)
    for md in of_kind("ModelDeployment"):
        body = {k: v for k, v in md.items() if k != "metadata"}
        assert not list(validator.iter_errors(body)), label(md)
        assert "autoscaling" in md["spec"]["scaling"]


def test_tree_builds_with_kubectl_kustomize(tmp_path: Path):
    built = kustomize_build(needs_binary("kubectl"), compiled().files, tmp_path)
    assert sorted(map(label, built)) == sorted(map(label, tree_objects(compiled().files)))


# --- checks ------------------------------------------------------------------------------------


PROJECT = """\
apiVersion: runwayc.dev/v1alpha1
kind: Project
environments: {dev: {}, prod: {}}
"""


def compile_one(env: str | None = None, **spec: Any) -> tuple[str, Compiled]:
    """deployments/a.yaml of `spec`, compiled in memory for `env` (runway.yaml's default)."""
    text = md_yaml(**spec)
    result = Repo.of({"deployments/a.yaml": text, "runway.yaml": PROJECT}).compile(env)
    return text, result


def scaling(replicas: int = 1, **autoscaling: Any) -> dict[str, Any]:
    return {"scaling": {"replicas": replicas, "autoscaling": autoscaling}}


@pytest.mark.parametrize(
    ("spec", "needle", "message"),
    [
        (
            scaling(mode="queue", minReplicas=0, maxReplicas=4),
            "minReplicas: 0",
            "spec.scaling.autoscaling.minReplicas: minReplicas: 0 is only supported by mode keda "
            "(it scales to zero itself); mode queue renders a HorizontalPodAutoscaler, whose "
            "minReplicas must be at least 1",
        ),
        (
            scaling(mode="wva", minReplicas=0, maxReplicas=4),
            "minReplicas: 0",
            "minReplicas: 0 is only supported by mode keda",
        ),
        (
            scaling(mode="queue", minReplicas=3, maxReplicas=2, replicas=3),
            "minReplicas: 3",
            "spec.scaling.autoscaling.minReplicas: minReplicas (3) is greater than maxReplicas (2)",
        ),
        (
            scaling(mode="queue", minReplicas=2, maxReplicas=4, replicas=1),
            "replicas: 1",
            "spec.scaling.replicas: spec.scaling.replicas (1) must lie within the autoscaling "
            "bounds: minReplicas (2) <= replicas <= maxReplicas (4)",
        ),
        (
            scaling(mode="kvcache", minReplicas=1, maxReplicas=4, replicas=5),
            "replicas: 5",
            "minReplicas (1) <= replicas <= maxReplicas (4)",
        ),
        (
            scaling(mode="keda", minReplicas=0, maxReplicas=0, replicas=0),
            "maxReplicas: 0",
            "spec.scaling.autoscaling.maxReplicas: maxReplicas must be at least 1",
        ),
        (
            scaling(mode="wva", maxReplicas=4, target="5"),
            "target: '5'",
            "spec.scaling.autoscaling.target: target has no meaning in mode wva",
        ),
        (
            scaling(mode="queue", maxReplicas=4, target="0"),
            "target: '0'",
            "spec.scaling.autoscaling.target: target must be a quantity greater than 0, got '0'",
        ),
        (
            scaling(mode="kvcache", maxReplicas=4, target="80"),
            "target: '80'",
            "target of mode kvcache is the KV-cache usage per pod, a fraction in (0, 1], got '80'",
        ),
        (
            scaling(mode="queue", maxReplicas=40),
            "maxReplicas: 40",
            "spec.scaling.autoscaling.maxReplicas: Invalid value",
        ),
        (
            {
                "provider": {"name": "kuberay"},
                "resources": {"gpu": {"count": 2}},
                **scaling(mode="queue", maxReplicas=4),
            },
            "autoscaling:",
            "spec.scaling.autoscaling: spec.scaling.autoscaling needs a provider that renders a "
            "Deployment (vllm, llmd); provider kuberay scales its own resource",
        ),
        (
            scaling(mode="hpa", maxReplicas=4),
            "mode: hpa",
            "spec.scaling.autoscaling.mode",
        ),
        (
            scaling(mode="wva", maxReplicas=4, variantCost="cheap"),
            "variantCost: cheap",
            "spec.scaling.autoscaling.variantCost",
        ),
    ],
    ids=[
        "hpa-min-zero",
        "wva-min-zero",
        "min-over-max",
        "replicas-below-min",
        "replicas-above-max",
        "max-zero",
        "wva-target",
        "target-zero",
        "kvcache-target-fraction",
        "max-over-ceiling",
        "provider-without-deployment",
        "unknown-mode",
        "variant-cost-pattern",
    ],
)
def test_autoscaling_refusals_name_file_line_path_and_reason(spec, needle, message):
    # prod: no replica clamp (dev's caps replicas at 1), so the ceiling meets the bounds.
    text, result = compile_one("prod", **spec)
    assert not result.ok, result.text
    line, _ = line_col(text, needle)
    errors = [ln for ln in result.lines if ": error[" in ln]
    assert any(ln.startswith(f"deployments/a.yaml:{line}:") and message in ln for ln in errors), (
        line,
        result.text,
    )
    assert not result.files  # nothing to write


def test_wva_fields_outside_wva_mode_warn():
    text, result = compile_one(**scaling(mode="queue", maxReplicas=4, variantCost="3.5"))
    assert result.ok, result.text
    line, col = line_col(text, "variantCost")
    assert (
        f"deployments/a.yaml:{line}:{col}: warning[FIELD_IGNORED]: "
        "spec.scaling.autoscaling.variantCost: spec.scaling.autoscaling.variantCost is only "
        "read in mode wva"
    ) in result.text


def test_bounds_are_checked_as_written_even_where_the_overlay_clamps():
    spec = scaling(replicas=3, mode="queue", minReplicas=3, maxReplicas=2)
    _, result = compile_one("dev", **spec)
    assert not result.ok
    assert "minReplicas (3) is greater than maxReplicas (2)" in result.text


def test_overlay_clamps_the_autoscaling_bounds():
    # The built-in dev overlay runs at most one replica.
    _, result = compile_one("dev", **scaling(mode="queue", minReplicas=1, maxReplicas=6))
    assert result.ok, result.text
    objects = result.objects("team-a", "m")
    (hpa,) = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 1)
    (md,) = [o for o in objects if o["kind"] == "ModelDeployment"]
    note = md["metadata"]["annotations"]["runwayc.dev/replicas-clamped"]
    assert note == "autoscaling 1..6 -> 1..1 (overlay dev)"


def test_keda_query_keeps_an_injected_served_name_one_literal():
    served = 'x"} or vector(1) or up{a="\\'
    _, result = compile_one(
        model={"id": "Qwen/Qwen2.5-0.5B-Instruct", "servedName": served},
        **scaling(mode="keda", minReplicas=0, maxReplicas=2),
    )
    assert result.ok, result.text
    objects = result.objects("team-a", "m")
    (scaled,) = [o for o in objects if o["kind"] == "ScaledObject"]
    query = scaled["spec"]["triggers"][0]["metadata"]["query"]
    assert query == (
        'sum(vllm:num_requests_waiting{model_name="x\\"} or vector(1) or up{a=\\"\\\\",'
        'namespace="team-a"})'
    )


def test_a_user_policy_sets_the_keda_prometheus_address():
    policy = (
        "apiVersion: runwayc.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: ours\n"
        "autoscaling:\n  keda:\n    serverAddress: http://prometheus.obs.svc:9090\n"
    )
    text = md_yaml(**scaling(mode="keda", minReplicas=0, maxReplicas=2))
    result = Repo.of({"deployments/a.yaml": text, "policies/prometheus.yaml": policy}).compile()
    assert result.ok, result.text
    objects = result.objects("team-a", "m")
    (scaled,) = [o for o in objects if o["kind"] == "ScaledObject"]
    metadata = scaled["spec"]["triggers"][0]["metadata"]
    assert metadata["serverAddress"] == "http://prometheus.obs.svc:9090"
    assert scaled["spec"]["pollingInterval"] == 30  # the rest of the built-in settings stay


@pytest.mark.parametrize("accelerator", ["Ä100", "-H100", "H100 SXM", "H100\n"])
def test_an_accelerator_that_is_no_label_value_is_not_written_as_a_label(accelerator):
    spec = scaling(mode="wva", maxReplicas=2, accelerator=accelerator)
    _, result = compile_one(**spec)
    assert result.ok, result.text
    objects = result.objects("team-a", "m")
    (variant,) = [o for o in objects if o["kind"] == "VariantAutoscaling"]
    assert "inference.optimization/acceleratorName" not in variant["metadata"]["labels"]
    kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": variant["metadata"]},
        KUBERNETES_VERSION,
        strict=True,
    )
