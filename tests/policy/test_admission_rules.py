"""AI Runway's webhook rules beyond the override and flag checks: names, model id,
disaggregated sizing, ceilings and the admission warnings."""

from __future__ import annotations

import pytest

from tests.harness import Checked, Repo
from tests.helpers import dedent, line_col, md_yaml


def check(text: str, files: dict[str, str] | None = None) -> Checked:
    """`runwayc check` of a repository holding `text` as deployments/a.yaml, in memory."""
    return Repo.of({"deployments/a.yaml": text, **(files or {})}).check()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("my.model", "name must not contain dots (dots are invalid in derived Kubernetes "
                     "volume and service names)"),
        ("Model", 'metadata.name "Model" is not a valid DNS-1035 label'),
        ("1model", 'metadata.name "1model" is not a valid DNS-1035 label'),
        ("m" * 64, "is 64 characters; at most 63 are allowed (the Service takes the same name)"),
    ],
    ids=["dots", "uppercase", "leading-digit", "too-long"],
)  # fmt: skip
def test_names_are_dns_1035_labels(name, message):
    text = md_yaml(name)
    result = check(text)
    assert not result.ok
    line, col = line_col(text, "name: ")
    assert f"deployments/a.yaml:{line}:{col}: error[INVALID_NAME]: metadata.name: " in result.text
    assert message in result.text


def test_duplicate_namespace_and_name_names_both_files():
    result = check(md_yaml("m"), {"deployments/b.yaml": md_yaml("m")})
    assert not result.ok
    assert (
        "deployments/b.yaml:4:3: error[DUPLICATE_DEPLOYMENT]: metadata.name: ModelDeployment "
        "team-a/m is defined twice: here and at deployments/a.yaml:4:3"
    ) in result.text


def test_model_id_is_required_for_huggingface():
    result = check(md_yaml(model={"source": "huggingface"}))
    assert "spec.model.id: model.id is required when source is huggingface" in result.text


@pytest.mark.parametrize(
    ("field", "value", "path", "limit"),
    [
        ("resources", {"gpu": {"count": 65}}, "spec.resources.gpu.count", "64"),
        ("scaling", {"replicas": 33}, "spec.scaling.replicas", "32"),
        ("resources", {"gpu": {"count": 1}, "cpu": "513"}, "spec.resources.cpu", "512"),
        ("resources", {"gpu": {"count": 1}, "memory": "5Ti"}, "spec.resources.memory", "4Ti"),
    ],
    ids=["gpu", "replicas", "cpu", "memory"],
)
def test_builtin_ceilings(field, value, path, limit):
    files = {"overlays/dev.yaml": "apiVersion: runwayc.dev/v1alpha1\nkind: Overlay\n"}
    result = check(md_yaml(**{field: value}), files)
    assert not result.ok
    assert f"error[CEILING_EXCEEDED]: {path}: Invalid value: " in result.text
    assert f"exceeds maximum allowed ({limit})" in result.text


OVERLAY = dedent(
    """
    apiVersion: runwayc.dev/v1alpha1
    kind: Overlay
    ceilings:
      gpuCount: 4
    """
)


def test_overlay_tightens_a_ceiling():
    result = check(md_yaml(resources={"gpu": {"count": 8}}), {"overlays/dev.yaml": OVERLAY})
    assert not result.ok
    assert "spec.resources.gpu.count: Invalid value: 8: exceeds maximum allowed (4)" in (
        result.text
    )


def test_overlay_cannot_loosen_a_ceiling():
    loose = OVERLAY.replace("gpuCount: 4", "gpuCount: 128")
    result = check(md_yaml(), {"overlays/dev.yaml": loose})
    assert not result.ok
    assert (
        "overlays/dev.yaml:4:3: error[POLICY_LOOSENING]: ceilings.gpuCount: overlay "
        "overlays/dev.yaml raises ceilings.gpuCount from 64 to 128; loosening a built-in rule "
        "needs a named waiver in a policy file"
    ) in result.text


POLICY = dedent(
    """
    apiVersion: runwayc.dev/v1alpha1
    kind: Policy
    metadata:
      name: big-training-cluster
    ceilings:
      gpuCount: 128
    """
)


def test_user_policy_loosening_needs_a_named_waiver():
    files = {"overlays/dev.yaml": "apiVersion: runwayc.dev/v1alpha1\nkind: Overlay\n"}
    spec = md_yaml(resources={"gpu": {"count": 100}})
    result = check(spec, {**files, "policies/big.yaml": POLICY})
    assert not result.ok
    assert 'policy "big-training-cluster" raises ceilings.gpuCount from 64 to 128' in result.text
    waived = POLICY + dedent(
        """
        waivers:
          - name: h100-superpod
            rule: ceilings.gpuCount
            value: 128
            reason: the superpod serves 100-GPU models
        """
    )
    result = check(spec, {**files, "policies/big.yaml": waived})
    assert result.ok, result.text


def test_user_policy_extends_the_denylist_and_waives_a_builtin_key():
    policy = dedent(
        """
        apiVersion: runwayc.dev/v1alpha1
        kind: Policy
        metadata:
          name: house-rules
        overrides:
          security: [dnsPolicy]
        waivers:
          - name: allow-priority
            rule: overrides.security
            key: priorityClassName
            reason: the platform team sets priorities per model
        """
    )
    overrides = {"spec": {"template": {"spec": {"dnsPolicy": "None", "priorityClassName": "x"}}}}
    text = md_yaml(provider={"name": "vllm", "overrides": overrides})
    result = check(text, {"policies/house.yaml": policy})
    assert 'overriding "dnsPolicy" is not allowed for security reasons' in result.text
    assert "priorityClassName" not in result.text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"serving": {"mode": "disaggregated"}, "resources": {"gpu": {"count": 0}}},
         "spec.scaling: disaggregated mode requires scaling.prefill and scaling.decode"),
        ({"serving": {"mode": "disaggregated"}, "resources": {"gpu": {"count": 2}},
          "scaling": {"prefill": {"gpu": {"count": 1}}}},
         "spec.resources.gpu: cannot specify both resources.gpu and scaling.prefill/decode in "
         "disaggregated mode"),
        ({"serving": {"mode": "disaggregated"}, "resources": {"gpu": {"count": 0}},
          "scaling": {"prefill": {"gpu": {"count": 1}}}},
         "spec.scaling.decode: disaggregated mode requires scaling.prefill and scaling.decode"),
        ({"serving": {"mode": "disaggregated"}, "resources": {"gpu": {"count": 0}},
          "scaling": {"prefill": {"gpu": {"count": 1}}, "decode": {"replicas": 1}}},
         "spec.scaling.decode.gpu.count: disaggregated mode requires scaling.decode.gpu.count > 0"),
    ],
    ids=["no-scaling", "gpu-and-components", "no-decode", "decode-without-gpu"],
)  # fmt: skip
def test_disaggregated_rules(spec, message):
    result = check(md_yaml(**spec))
    assert not result.ok
    assert message in result.text


def test_trust_remote_code_is_a_warning_not_an_error():
    result = check(md_yaml(engine={"type": "vllm", "trustRemoteCode": True}))
    assert result.ok
    assert (
        "warning[ADMISSION_WARNING]: spec.engine.trustRemoteCode: trustRemoteCode=true allows "
        "execution of arbitrary code from HuggingFace"
    ) in result.text
