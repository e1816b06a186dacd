"""examples/providers: one ModelDeployment per provider and serving mode, compiled --locked.

Snapshots of every manifest; each rendered object validated against its upstream schema
(KAITO's and KubeRay's CRDs, Kubernetes' own for llm-d, a field schema for Dynamo); the
tree built by `kubectl kustomize`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from compiler.core.pipeline import CompileResult
from tests.conftest import FIXTURES, ROOT, needs_binary
from tests.helpers import (
    compile_example,
    crd_validator,
    kustomize_build,
    manifest_objects,
    tree_objects,
)
from tests.helpers import object_label as label

EXAMPLE = ROOT / "examples" / "providers"
ENV = "prod"
KUBERNETES_VERSION = "1.30.0"


def compiled() -> CompileResult:
    return compile_example(EXAMPLE, ENV)


def manifest_names() -> list[str]:
    return sorted(name for name in compiled().files if name.endswith("manifest.yaml"))


def objects() -> list[dict[str, Any]]:
    return manifest_objects(compiled().files)


def of_kind(api_version: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in objects() if o["apiVersion"] == api_version and o["kind"] == kind]


@pytest.mark.parametrize("name", manifest_names(), ids=lambda v: v.replace("/", "_"))
def test_provider_manifest_snapshot(yaml_snapshot, name):
    assert compiled().files[name].decode() == yaml_snapshot


def test_every_provider_and_serving_mode_is_rendered():
    seen = {
        (
            o["metadata"]["annotations"]["runwayc.dev/provider"],
            o["spec"].get("serving", {}).get("mode", "aggregated"),
        )
        for o in objects()
        if o["kind"] == "ModelDeployment"
    }
    assert seen == {
        ("kaito", "aggregated"),
        ("dynamo", "aggregated"),
        ("dynamo", "disaggregated"),
        ("kuberay", "aggregated"),
        ("kuberay", "disaggregated"),
        ("llmd", "aggregated"),
        ("llmd", "disaggregated"),
    }
    graphs = of_kind("nvidia.com/v1alpha1", "DynamoGraphDeployment")
    routers = {
        tuple(sorted(k for k in g["spec"]["services"] if k in ("Epp", "Frontend"))) for g in graphs
    }
    assert routers == {("Epp",), ("Frontend",)}  # gateway on and off


@pytest.mark.parametrize("workspace", of_kind("kaito.sh/v1beta1", "Workspace"), ids=label)
def test_workspace_validates_against_kaito_crd(workspace):
    validator = crd_validator(FIXTURES / "crds/kaito.sh_workspaces.yaml", "Workspace", "v1beta1")
    errors = sorted(validator.iter_errors(workspace), key=str)
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("service", of_kind("ray.io/v1", "RayService"), ids=label)
def test_rayservice_validates_against_kuberay_crd(service):
    validator = crd_validator(FIXTURES / "crds/ray.io_rayservices.yaml", "RayService", "v1")
    errors = sorted(validator.iter_errors(service), key=str)
    assert not errors, [e.message for e in errors]
    # serveConfigV2 is a YAML document in a string, with the app AI Runway deploys.
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert config["applications"][0]["import_path"] == "vllm_serve:deployment"


@cache
def dynamo_validator() -> jsonschema.Draft202012Validator:
    schema = yaml.safe_load((FIXTURES / "schemas/dynamographdeployment.fields.yaml").read_text())
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    "graph", of_kind("nvidia.com/v1alpha1", "DynamoGraphDeployment"), ids=label
)
def test_dynamo_graph_has_only_the_listed_fields(graph):
    errors = sorted(dynamo_validator().iter_errors(graph), key=str)
    assert not errors, [e.message for e in errors]


def test_dynamo_field_schema_rejects_a_stray_field():
    graph = of_kind("nvidia.com/v1alpha1", "DynamoGraphDeployment")[0]
    stray = {**graph, "routerMode": "kv"}  # what AI Runway's root merge would leave behind
    assert not dynamo_validator().is_valid(stray)


@pytest.mark.parametrize(
    "obj",
    [o for o in objects() if o["apiVersion"] in ("apps/v1", "v1")],
    ids=label,
)
def test_llmd_objects_validate_against_kubernetes_schema(obj):
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def _images(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "image" and isinstance(v, str)]
        return found + [i for v in node.values() for i in _images(v)]
    if isinstance(node, list):
        return [i for v in node for i in _images(v)]
    return []


def test_every_image_is_pinned_by_digest():
    images = [i for o in objects() if o["kind"] != "ModelDeployment" for i in _images(o)]
    assert len(images) >= 10
    assert all("@sha256:" in image for image in images), images


def test_compiled_model_deployments_match_ai_runway_crd():
    validator = crd_validator(
        FIXTURES / "crds/airunway.ai_modeldeployments.yaml", "ModelDeployment", "v1alpha1"
    )
    for md in of_kind("airunway.ai/v1alpha1", "ModelDeployment"):
        errors = sorted(validator.iter_errors(md), key=str)
        assert not errors, (label(md), [e.message for e in errors])


def test_tree_builds_with_kubectl_kustomize(tmp_path: Path):
    built = kustomize_build(needs_binary("kubectl"), compiled().files, tmp_path)
    assert sorted(map(label, built)) == sorted(map(label, tree_objects(compiled().files)))


def test_upstream_crds_catch_the_mistakes_they_guard_against():
    workspace = of_kind("kaito.sh/v1beta1", "Workspace")[0]
    kaito = crd_validator(FIXTURES / "crds/kaito.sh_workspaces.yaml", "Workspace", "v1beta1")
    assert not kaito.is_valid({**workspace, "spec": {"resource": workspace["resource"]}})
    service = of_kind("ray.io/v1", "RayService")[0]
    ray = crd_validator(FIXTURES / "crds/ray.io_rayservices.yaml", "RayService", "v1")
    as_mapping = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert not ray.is_valid({**service, "spec": {**service["spec"], "serveConfigV2": as_mapping}})
