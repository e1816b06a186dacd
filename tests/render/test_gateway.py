"""spec.gateway at compile time: what AI Runway's gateway reconciler creates (InferencePool, the
endpoint picker stack, HTTPRoute) for a Direct vLLM, a KAITO, an llm-d and a Dynamo spec in
examples/gateway, validated against the GAIE v1.5.0 and Gateway API v1.5.1 CRDs and
Kubernetes' schema; and the refusals of what AI Runway would only find out at run time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from compiler.core.pipeline import CompileResult
from compiler.core.stamp import MODEL_DEPLOYMENT_LABEL
from tests.conftest import FIXTURES, ROOT, needs_binary
from tests.harness import Repo
from tests.helpers import (
    compile_example,
    crd_validator,
    kustomize_build,
    manifest_objects,
    md_yaml,
    tree_objects,
)
from tests.helpers import object_label as label

EXAMPLE = ROOT / "examples" / "gateway"
NS = "prod"  # the built-in prod overlay's namespace
EPP_IMAGE = "registry.k8s.io/gateway-api-inference-extension/epp"
LLMD_EPP_IMAGE = "ghcr.io/llm-d/llm-d-inference-scheduler"
KUBERNETES_VERSION = "1.30.0"


def compiled(env: str = "prod") -> CompileResult:
    result = compile_example(EXAMPLE, env)
    assert not result.diagnostics, result.diagnostics
    return result


def objects(env: str = "prod") -> list[dict[str, Any]]:
    return manifest_objects(compiled(env).files)


def of_kind(kind: str, env: str = "prod") -> list[dict[str, Any]]:
    return [o for o in objects(env) if o["kind"] == kind]


def by_name(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in of_kind(kind) if o["metadata"]["name"] == name]
    return found


def test_each_provider_gets_what_the_gateway_reconciler_creates():
    pools = {p["metadata"]["name"]: p["spec"] for p in of_kind("InferencePool")}
    # Dynamo manages its own pool; phi-internal has the gateway off.
    assert sorted(pools) == ["gemma-kaito", "llama-llmd", "llama-llmd-pd", "qwen-vllm"]
    assert pools["qwen-vllm"] == {
        "selector": {"matchLabels": {MODEL_DEPLOYMENT_LABEL: "qwen-vllm"}},
        "targetPorts": [{"number": 8000}],
        "endpointPickerRef": {"name": "qwen-vllm-epp", "port": {"number": 9002}},
    }
    assert pools["gemma-kaito"]["targetPorts"] == [{"number": 5000}]  # KAITO's 80 -> 5000
    for kind in ("ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service"):
        names = {o["metadata"]["name"] for o in of_kind(kind)}
        assert {f"{p}-epp" for p in pools} <= names, kind
    routes = {r["metadata"]["name"]: r["spec"] for r in of_kind("HTTPRoute")}
    # llama-llmd-pd names its own route (httpRouteRef): none is rendered for it.
    assert sorted(routes) == ["gemma-kaito", "llama-dynamo", "llama-llmd", "qwen-vllm"]
    assert routes["qwen-vllm"] == {
        "parentRefs": [{"name": "inference-gateway", "namespace": "gateway-system"}],
        "rules": [
            {
                "matches": [
                    {
                        "path": {"type": "PathPrefix", "value": "/"},
                        "headers": [
                            {"type": "Exact", "name": "X-Gateway-Model-Name", "value": "qwen-small"}
                        ],
                    }
                ],
                "backendRefs": [
                    {
                        "group": "inference.networking.k8s.io",
                        "kind": "InferencePool",
                        "name": "qwen-vllm",
                        "namespace": NS,
                    }
                ],
                "timeouts": {"request": "300s"},
            }
        ],
    }
    header = {n: r["rules"][0]["matches"][0]["headers"][0]["value"] for n, r in routes.items()}
    assert header == {
        "qwen-vllm": "qwen-small",  # servedName
        "gemma-kaito": "gemma-3-1b-it",  # gateway.modelName (llama.cpp ignores servedName)
        "llama-llmd": "meta-llama/Llama-3.1-8B-Instruct",  # what vllm serve answers: model.id
        "llama-dynamo": "llama-3.1-8b",
    }
    assert routes["llama-dynamo"]["rules"][0]["backendRefs"][0]["name"] == "llama-dynamo-pool"


def test_the_endpoint_picker_is_ai_runways():
    epp = by_name("Deployment", "qwen-vllm-epp")
    assert epp["spec"]["replicas"] == 1
    assert epp["spec"]["strategy"] == {"type": "Recreate"}
    pod = epp["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "qwen-vllm-epp"
    assert pod["terminationGracePeriodSeconds"] == 130
    (container,) = pod["containers"]
    assert container["args"] == [
        *("--pool-name", "qwen-vllm", "--pool-namespace", NS, "--zap-encoder", "json"),
        *("--config-file", "/config/default-plugins.yaml", "--tracing=false"),
    ]
    assert container["readinessProbe"]["grpc"] == {"port": 9003, "service": "inference-extension"}
    config = by_name("ConfigMap", "qwen-vllm-epp")["data"]["default-plugins.yaml"]
    assert config == (
        "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"
    )
    service = by_name("Service", "qwen-vllm-epp")["spec"]
    assert service["ports"] == [
        {
            "name": "grpc-ext-proc",
            "protocol": "TCP",
            "port": 9002,
            "appProtocol": "kubernetes.io/h2c",
        }
    ]
    binding = by_name("RoleBinding", "qwen-vllm-epp")
    assert binding["roleRef"]["name"] == "qwen-vllm-epp"


def test_the_picker_runs_by_digest_from_runway_lock_and_llmd_brings_its_scheduler():
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in of_kind("Deployment")
        if d["metadata"]["name"].endswith("-epp")
    }
    assert images["qwen-vllm-epp"].startswith(EPP_IMAGE + "@sha256:")
    assert images["gemma-kaito-epp"].startswith(EPP_IMAGE + "@sha256:")
    assert images["llama-llmd-epp"].startswith(LLMD_EPP_IMAGE + "@sha256:")
    config = by_name("ConfigMap", "llama-llmd-epp")["data"]["default-plugins.yaml"]
    assert "- type: prefix-cache-scorer" in config
    assert "  - pluginRef: prefix-cache-scorer\n    weight: 2\n" in config


def test_the_picker_is_planned_in_every_environment_so_lock_never_prunes_its_pin():
    # dev names no Gateway and renders no picker, but `lock --env dev` must keep prod's pin.
    dev = {c.name: c for c in compiled("dev").deployments}
    assert any(i.startswith(EPP_IMAGE + ":") for i in dev["qwen-vllm"].images)
    assert not any(o["kind"] in ("InferencePool", "HTTPRoute") for o in objects("dev"))
    assert not any(o["metadata"]["name"].endswith("-epp") for o in objects("dev"))
    phi = {c.name: c for c in compiled("prod").deployments}["phi-internal"]
    assert not any(EPP_IMAGE in i for i in phi.images)  # enabled: false


def test_serving_pods_carry_the_pool_label_only_where_the_gateway_routes():
    templates = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind("Deployment")
    }
    assert templates["qwen-vllm"][MODEL_DEPLOYMENT_LABEL] == "qwen-vllm"
    assert templates["llama-llmd"][MODEL_DEPLOYMENT_LABEL] == "llama-llmd"
    # Disaggregated llm-d: the endpoint Service's pods (decode), as AI Runway labels them.
    assert templates["llama-llmd-pd-decode"][MODEL_DEPLOYMENT_LABEL] == "llama-llmd-pd"
    assert MODEL_DEPLOYMENT_LABEL not in templates["llama-llmd-pd-prefill"]
    assert MODEL_DEPLOYMENT_LABEL not in templates["phi-internal"]
    workspace = by_name("Workspace", "gemma-kaito")
    assert workspace["inference"]["template"]["metadata"]["labels"] == {
        MODEL_DEPLOYMENT_LABEL: "gemma-kaito"
    }
    dev = [d for d in of_kind("Deployment", "dev") if d["metadata"]["name"] == "qwen-vllm"]
    assert MODEL_DEPLOYMENT_LABEL not in dev[0]["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("pool", of_kind("InferencePool"), ids=label)
def test_inference_pools_validate_against_the_gaie_crd(pool):
    validator = crd_validator(
        FIXTURES / "crds/inference.networking.k8s.io_inferencepools.yaml", "InferencePool", "v1"
    )
    errors = sorted(validator.iter_errors(pool), key=str)
    assert not errors, [e.message for e in errors]
    assert not validator.is_valid({**pool, "spec": {**pool["spec"], "targetPorts": []}})


@pytest.mark.parametrize("route", of_kind("HTTPRoute"), ids=label)
def test_http_routes_validate_against_the_gateway_api_crd(route):
    validator = crd_validator(
        FIXTURES / "crds/gateway.networking.k8s.io_httproutes.yaml", "HTTPRoute", "v1"
    )
    errors = sorted(validator.iter_errors(route), key=str)
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(
    "obj",
    [
        o
        for o in objects()
        if o["apiVersion"] in ("apps/v1", "v1", "rbac.authorization.k8s.io/v1")
        and o["metadata"]["name"].endswith("-epp")
    ],
    ids=label,
)
def test_endpoint_picker_objects_validate_against_kubernetes_schema(obj):
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_tree_builds_with_kubectl_kustomize(tmp_path: Path):
    built = kustomize_build(needs_binary("kubectl"), compiled().files, tmp_path)
    assert sorted(map(label, built)) == sorted(map(label, tree_objects(compiled().files)))


# --- what AI Runway finds out at run time, refused ------------------------------------------

PROJECT = """\
apiVersion: runwayc.dev/v1alpha1
kind: Project
defaultEnvironment: prod
environments:
  dev: {}
  prod: {gateway: {name: gw, namespace: gateway-system}}
"""


def errors_of(result: Any) -> list[str]:
    return [d.code for d in result.diagnostics if d.is_error]


def compile_one(env: str, **spec: Any) -> Any:
    return Repo.of({"runway.yaml": PROJECT, "deployments/a.yaml": md_yaml(**spec)}).compile(env)


def test_enabled_gateway_in_an_environment_without_a_gateway_is_refused():
    result = compile_one("dev", gateway={"enabled": True})
    assert errors_of(result) == ["GATEWAY_NOT_CONFIGURED"]
    (line,) = result.errors
    assert "spec.gateway.enabled: " in line
    assert 'spec.gateway.enabled is true but environment "dev" names no Gateway: set ' in line
    assert "environments.dev.gateway: {name: <gateway>, namespace: <namespace>}" in line


def test_without_an_explicit_enabled_an_environment_without_a_gateway_routes_nothing():
    result = compile_one("dev", gateway={"modelName": "x"})
    assert result.ok
    assert not result.errors
    assert "HTTPRoute" not in result.manifest("team-a", "m")


def test_gateway_is_on_by_default_where_the_environment_names_one():
    result = compile_one("prod")
    text = result.manifest("team-a", "m")
    assert "kind: HTTPRoute" in text
    assert "kind: InferencePool" in text
    off = compile_one("prod", gateway={"enabled": False}).manifest("team-a", "m")
    assert "kind: HTTPRoute" not in off
    assert MODEL_DEPLOYMENT_LABEL not in off


KAITO_CPU = {
    "provider": {"name": "kaito"},
    "engine": {"type": "llamacpp"},
    "image": "ghcr.io/kaito-project/aikit/runners/llama-cpp-cpu:latest",
    "resources": {"cpu": "4"},
}


def test_a_model_name_only_known_at_run_time_is_refused_with_what_to_set():
    # KAITO's llama.cpp: AI Runway would ask /v1/models (its e2e CI's llama-3.2-1b-instruct).
    result = compile_one("prod", **KAITO_CPU, model={"id": "some/model", "servedName": "x"})
    assert errors_of(result) == ["GATEWAY_MODEL_NAME"]
    (line,) = result.errors
    assert line.endswith(
        "spec: the inference gateway routes by model name, and AI Runway would ask the running "
        "server's /v1/models for it (kaito serves llamacpp under its own name, not "
        "spec.model.servedName): set spec.gateway.modelName"
    )
    named = compile_one("prod", **KAITO_CPU, model={"id": "m"}, gateway={"modelName": "gemma"})
    assert named.ok, named.text


def test_direct_vllm_with_no_model_name_at_all_is_refused():
    result = compile_one("prod", model={"source": "custom"}, image="vllm/vllm-openai:v0.11.0")
    assert "GATEWAY_MODEL_NAME" in errors_of(result)
    assert any(
        "set spec.gateway.modelName, spec.model.servedName or spec.model.id" in e
        for e in result.errors
    )


def test_a_kaito_vllm_preset_cannot_carry_the_pool_label_and_is_refused():
    result = compile_one(
        "prod",
        provider={"name": "kaito"},
        engine={"type": "vllm"},
        gateway={"modelName": "phi"},
    )
    assert errors_of(result) == ["GATEWAY_POD_LABEL"]
    assert "spec.gateway.enabled: false" in result.errors[0]


def test_http_route_ref_keeps_the_pool_and_picker_and_renders_no_route():
    text = compile_one("prod", gateway={"httpRouteRef": "mine"}).manifest("team-a", "m")
    assert "kind: InferencePool" in text
    assert "name: m-epp" in text
    assert "kind: HTTPRoute" not in text


def test_the_picker_image_is_gated_like_every_default_image_under_locked():
    repo = Repo.read(EXAMPLE)
    lock = yaml.safe_load(str(repo.files["runway.lock"]))
    del lock["images"][f"{EPP_IMAGE}:v1.5.0"]
    repo.write("runway.lock", yaml.safe_dump(lock))
    result = repo.compile("prod", locked=True)
    assert errors_of(result) == ["IMAGE_NOT_PINNED", "IMAGE_NOT_PINNED"]  # qwen-vllm, gemma
    assert all(f'"{EPP_IMAGE}:v1.5.0" has no digest pin' in e for e in result.errors)
    assert repo.compile("dev", locked=True).ok  # dev renders no picker


ISTIO_PROJECT = PROJECT.replace(
    "{name: gw, namespace: gateway-system}", "{name: gw, namespace: gateway-system, istio: true}"
)


def compile_on_istio(**spec: Any) -> Any:
    files = {"runway.yaml": ISTIO_PROJECT, "deployments/a.yaml": md_yaml(**spec)}
    return Repo.of(files).compile("prod")


def test_on_istio_the_picker_gets_ai_runways_destination_rule():
    """AI Runway adds a DestinationRule for each picker when Istio's API is registered
    (gateway_reconciler.go:627-658); an environment says `istio: true` for it."""
    result = compile_on_istio()
    assert result.ok, result.errors
    rules = [
        o for o in yaml.safe_load_all(result.manifest("team-a", "m"))
        if o["kind"] == "DestinationRule"
    ]  # fmt: skip
    assert rules == [
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "DestinationRule",
            "metadata": rules[0]["metadata"],
            "spec": {
                "host": "m-epp.team-a.svc.cluster.local",
                "trafficPolicy": {"tls": {"mode": "SIMPLE", "insecureSkipVerify": True}},
            },
        }
    ]
    assert (rules[0]["metadata"]["name"], rules[0]["metadata"]["namespace"]) == ("m-epp", "team-a")
    # Without Istio, none: AI Runway creates it only where the API exists.
    assert "DestinationRule" not in compile_one("prod").manifest("team-a", "m")


def test_on_istio_a_dynamo_pool_says_its_destination_rule_is_left_to_the_user():
    result = compile_on_istio(
        provider={"name": "dynamo"}, gateway={"modelName": "llama"}
    )  # fmt: skip
    assert "DestinationRule" not in result.manifest("team-a", "m")
    (warning,) = [d for d in result.diagnostics if d.code == "GATEWAY_DESTINATION_RULE"]
    assert not warning.is_error
    assert "named after that pool's endpointPickerRef, which is known only in the cluster" in (
        warning.message
    )
    assert "m-pool" in warning.message
