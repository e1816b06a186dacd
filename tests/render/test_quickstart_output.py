"""The quickstart's rendered output: snapshots, Kubernetes schemas, kustomize, the CRD."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from compiler.core.pipeline import CompileResult
from tests.conftest import FIXTURES, QUICKSTART, needs_binary
from tests.helpers import (
    compile_example,
    crd_validator,
    kustomize_build,
    object_label,
    tree_objects,
)

ENVIRONMENTS = sorted(yaml.safe_load((QUICKSTART / "runway.yaml").read_text())["environments"])
KUBERNETES_VERSION = "1.30.0"


def compiled(env: str) -> CompileResult:
    return compile_example(QUICKSTART, env)


def manifests() -> list[tuple[str, str]]:
    return [
        (env, name)
        for env in ENVIRONMENTS
        for name in sorted(compiled(env).files)
        if name.endswith("manifest.yaml")
    ]


@pytest.mark.parametrize(("env", "name"), manifests(), ids=lambda v: v.replace("/", "_"))
def test_rendered_manifest_snapshot(yaml_snapshot, env, name):
    assert compiled(env).files[name].decode() == yaml_snapshot


def rendered_objects() -> list[tuple[str, dict]]:
    return [
        (f"{env}/{name}/{obj['kind']}", obj)
        for env, name in manifests()
        for obj in yaml.safe_load_all(compiled(env).files[name])
    ]


@pytest.mark.parametrize(
    "obj",
    [obj for _, obj in rendered_objects() if obj["kind"] != "ModelDeployment"],
    ids=[label for label, obj in rendered_objects() if obj["kind"] != "ModelDeployment"],
)
def test_rendered_object_validates_against_kubernetes_schema(obj):
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@cache
def md_validator() -> jsonschema.Draft7Validator:
    crd = FIXTURES / "crds/airunway.ai_modeldeployments.yaml"
    return crd_validator(crd, "ModelDeployment", "v1alpha1")


@pytest.mark.parametrize(
    "obj",
    [obj for _, obj in rendered_objects() if obj["kind"] == "ModelDeployment"],
    ids=[label for label, obj in rendered_objects() if obj["kind"] == "ModelDeployment"],
)
def test_compiled_model_deployment_matches_ai_runway_crd(obj):
    errors = sorted(md_validator().iter_errors(obj), key=str)
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_environment_builds_with_kubectl_kustomize(env, tmp_path: Path):
    files = compiled(env).files
    built = kustomize_build(needs_binary("kubectl"), files, tmp_path)
    assert sorted(map(object_label, built)) == sorted(map(object_label, tree_objects(files)))
