"""Overrides cannot take back what runwayc guarantees about the engine container, and pod
security cannot be loosened through annotations."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.core.cluster.admission import admission_policy
from compiler.io.workspace import load_policy
from tests.cluster.cel import admission_rejections
from tests.harness import Repo
from tests.helpers import md_yaml


def _with_overrides(overrides: Any, **spec: Any) -> Repo:
    provider = {"name": "vllm", "overrides": overrides}
    return Repo.of({"deployments/a.yaml": md_yaml(provider=provider, **spec)})


@pytest.mark.parametrize("field", ["containers", "initContainers"])
def test_replacing_the_container_list_is_refused(field):
    overrides = {"spec": {"template": {"spec": {field: [{"name": "sidecar", "args": ["x"]}]}}}}
    result = _with_overrides(overrides).compile()
    assert not result.ok
    assert "OVERRIDE_GUARANTEE" in result.codes
    assert f'overriding "{field}" is not allowed' in result.text
    assert f"spec.provider.overrides.spec.template.spec.{field}" in result.text


def test_an_engine_container_without_its_image_args_or_probes_is_refused():
    overrides = {"spec": {"template": {"spec": {"containers": [{"name": "vllm"}]}}}}
    result = _with_overrides(overrides).compile()
    assert 'overriding the "vllm" container is not allowed: it would change its image, args' in (
        result.text
    )


def test_overrides_that_keep_the_containers_still_apply():
    overrides = {"spec": {"template": {"spec": {"terminationGracePeriodSeconds": 120}}}}
    result = _with_overrides(overrides).compile()
    assert result.ok, result.text
    (deployment,) = [o for o in result.objects("team-a", "m") if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 120


APPARMOR = "container.apparmor.security.beta.kubernetes.io/vllm"


def test_an_apparmor_annotation_in_overrides_is_refused():
    overrides = {"spec": {"template": {"metadata": {"annotations": {APPARMOR: "unconfined"}}}}}
    result = _with_overrides(overrides).check()
    assert "OVERRIDE_DENIED" in result.codes
    assert f'overriding "{APPARMOR}" is not allowed for security reasons' in result.text


@pytest.mark.parametrize("key", [APPARMOR, "seccomp.security.alpha.kubernetes.io/pod"])
def test_a_pod_security_annotation_on_the_pod_template_is_refused(key):
    text = md_yaml(podTemplate={"metadata": {"annotations": {key: "unconfined"}}})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert f'setting "{key}" is not allowed for security reasons' in result.text


def test_the_admission_policy_refuses_the_same_annotations():
    policy = admission_policy(load_policy(None))[0]
    base: dict[str, Any] = {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "m", "namespace": "team-a"},
        "spec": {"model": {"id": "x"}, "provider": {"name": "vllm"}},
    }
    assert admission_rejections(policy, base) == []
    templated = {
        **base,
        "spec": {**base["spec"], "podTemplate": {"metadata": {"annotations": {APPARMOR: "u"}}}},
    }
    assert admission_rejections(policy, templated) == [
        f'spec.podTemplate.metadata.annotations: setting "{APPARMOR}" is not allowed for '
        "security reasons"
    ]
    overridden = {
        **base,
        "spec": {
            **base["spec"],
            "provider": {
                "name": "vllm",
                "overrides": {"spec": {"template": {"metadata": {"annotations": {APPARMOR: "u"}}}}},
            },
        },
    }
    assert admission_rejections(policy, overridden) == [
        f'spec.provider.overrides: overriding "{APPARMOR}" is not allowed for security reasons'
    ]
