"""Override denylist, sizing guard and protected top-level keys, at any depth."""

from __future__ import annotations

import pytest
import yaml

from tests.harness import ROOT, Repo
from tests.helpers import line_col, md_yaml

POLICY = yaml.safe_load((ROOT / "policies" / "overrides.yaml").read_text())["overrides"]

SECURITY = 'overriding "{key}" is not allowed for security reasons'
SIZING = (
    'overriding "{key}" is not allowed because it can bypass admission resource limits; '
    "use spec.resources / spec.scaling instead"
)
PROTECTED = 'overriding "{key}" is not allowed'
GUARANTEE = 'overriding "{key}" is not allowed: it would undo a runwayc guarantee'


def check(overrides: dict) -> tuple[str, str]:
    """The source and the diagnostics text of `runwayc check`, which must fail, in memory."""
    text = md_yaml(provider={"name": "vllm", "overrides": overrides})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert not result.ok, result.text
    return text, result.text


@pytest.mark.parametrize("key", POLICY["security"])
def test_every_security_key_is_refused_nested_in_pod_spec(key):
    overrides = {"spec": {"template": {"spec": {key: True}}}}
    text, diagnostics = check(overrides)
    line, col = line_col(text, f"{key}:")
    assert (
        f"deployments/a.yaml:{line}:{col}: error[OVERRIDE_DENIED]: "
        f"spec.provider.overrides.spec.template.spec.{key}: {SECURITY.format(key=key)}"
    ) in diagnostics


@pytest.mark.parametrize("key", POLICY["sizing"])
def test_every_sizing_key_is_refused_anywhere(key):
    overrides = {"spec": {"template": {"spec": {"containers": [{"name": "vllm", key: 1}]}}}}
    _, diagnostics = check(overrides)
    assert (
        f"spec.provider.overrides.spec.template.spec.containers[0].{key}: {SIZING.format(key=key)}"
    ) in diagnostics


@pytest.mark.parametrize("key", POLICY["protectedTopLevel"])
def test_every_protected_top_level_key_is_refused(key):
    _, diagnostics = check({key: {"x": "y"}})
    assert f"spec.provider.overrides.{key}: {PROTECTED.format(key=key)}\n" in diagnostics


@pytest.mark.parametrize("key", POLICY["guarantees"])
def test_every_guarantee_key_is_refused(key):
    overrides = {"spec": {"template": {"spec": {"containers": [{key: "x"}]}}}}
    _, diagnostics = check(overrides)
    assert f"containers[0].{key}: {GUARANTEE.format(key=key)}" in diagnostics


def test_top_level_security_context_and_host_network():
    text, diagnostics = check({"securityContext": {}, "hostNetwork": True})
    for key in ("securityContext", "hostNetwork"):
        line, col = line_col(text, f"{key}:")
        assert (
            f"deployments/a.yaml:{line}:{col}: error[OVERRIDE_DENIED]: "
            f"spec.provider.overrides.{key}: {SECURITY.format(key=key)}"
        ) in diagnostics


def test_security_context_nested_in_an_array():
    overrides: dict = {"spec": {"template": {"spec": {"containers": [{"securityContext": {}}]}}}}
    _, diagnostics = check(overrides)
    assert (
        "spec.provider.overrides.spec.template.spec.containers[0].securityContext: "
        + SECURITY.format(key="securityContext")
    ) in diagnostics


def test_safe_overrides_are_deep_merged_last():
    overrides = {
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "hijack", "extra": "yes"}},
                "spec": {"terminationGracePeriodSeconds": 60},
            },
            "selector": {"matchLabels": {"app": "hijack"}},
        }
    }
    text = md_yaml(provider={"name": "vllm", "overrides": overrides})
    result = Repo.of({"deployments/a.yaml": text}).compile()
    assert result.ok, result.text
    docs = result.objects("team-a", "m")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    spec = deployment["spec"]
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 60
    assert spec["template"]["spec"]["containers"][0]["name"] == "vllm"  # merged, not replaced
    # Overrides can add pod labels but never move the selector off the pods.
    assert spec["selector"]["matchLabels"] == {"airunway.ai/deployment": "m", "app": "m"}
    assert spec["template"]["metadata"]["labels"]["app"] == "m"
    assert spec["template"]["metadata"]["labels"]["extra"] == "yes"


def test_null_in_overrides_deletes_a_key():
    overrides = {"spec": {"template": {"spec": {"volumes": None}}}}
    spec = md_yaml(
        provider={"name": "vllm", "overrides": overrides}, resources={"gpu": {"count": 2}}
    )
    result = Repo.of({"deployments/a.yaml": spec}).compile()
    assert result.ok, result.text
    docs = result.objects("team-a", "m")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert "volumes" not in deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("overrides", "path", "reason"),
    [
        (
            {"spec": {"template": {"spec": {"containers": "x"}}}},
            "spec.provider.overrides.spec.template.spec.containers",
            "cannot replace a list with a scalar",
        ),
        (
            {"spec": {"template": None}},
            "spec.provider.overrides.spec.template",
            "overrides must not remove or retype this part of the workload",
        ),
        (
            {"spec": {"template": {"spec": {"containers": []}}}},
            "spec.provider.overrides.spec.template.spec.containers",
            "overrides must not remove or retype this part of the workload",
        ),
    ],
    ids=["retype-list", "delete-template", "empty-containers"],
)
def test_overrides_cannot_break_the_workload_shape(overrides, path, reason):
    _, diagnostics = check(overrides)
    assert f"error[OVERRIDE_SHAPE]: {path}: {reason}" in diagnostics
