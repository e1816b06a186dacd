"""Direct vLLM details matched to AI Runway's transformer: storage, env, flags, overrides."""

from __future__ import annotations

import pytest

from tests.harness import Repo
from tests.helpers import md_yaml


def render(text: str) -> dict[str, dict]:
    """team-a/m's rendered objects by kind, compiled in memory from deployments/a.yaml."""
    result = Repo.of({"deployments/a.yaml": text}).compile()
    assert result.ok, result.text
    return {d["kind"]: d for d in result.objects("team-a", "m")}


def container(objects: dict[str, dict]) -> dict:
    return objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def test_managed_volume_renders_a_claim_and_purpose_mount_paths():
    volumes = [
        {"name": "cache", "purpose": "modelCache", "size": "50Gi", "accessMode": "ReadWriteMany"},
        {"name": "jit", "purpose": "compilationCache", "claimName": "shared-jit", "readOnly": True},
    ]
    objects = render(md_yaml(model={"id": "a/b", "storage": {"volumes": volumes}}))
    claim = objects["PersistentVolumeClaim"]
    assert claim["metadata"]["name"] == "m-cache"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "50Gi"}},
    }
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "cache", "persistentVolumeClaim": {"claimName": "m-cache"}},
        {"name": "jit", "persistentVolumeClaim": {"claimName": "shared-jit"}},
    ]
    assert container(objects)["volumeMounts"] == [
        {"name": "cache", "mountPath": "/model-cache"},
        {"name": "jit", "mountPath": "/compilation-cache", "readOnly": True},
    ]


@pytest.mark.parametrize(
    ("volume", "field", "message"),
    [
        ({"name": "v", "mountPath": "/x"}, "claimName",
         "claimName is required when size is not set (must reference a pre-existing PVC)"),
        ({"name": "v", "size": "1Gi", "readOnly": True, "mountPath": "/x"}, "readOnly",
         "readOnly must not be true when size is set (controller-created PVCs need write access)"),
        ({"name": "v", "size": "1Gi", "claimName": "other", "mountPath": "/x"}, "claimName",
         'claimName must not be set when size is set (auto-generated as "m-v")'),
        ({"name": "v", "claimName": "c", "accessMode": "ReadWriteOnce", "mountPath": "/x"},
         "accessMode", "accessMode is only applicable when size is set (controller-created PVCs)"),
        ({"name": "v", "claimName": "c", "mountPath": "data"}, "mountPath",
         "mountPath must be an absolute path (start with /)"),
        ({"name": "v", "claimName": "c", "mountPath": "/etc/x"}, "mountPath",
         "mountPath must not overlap with system path /etc"),
        ({"name": "v", "claimName": "c"}, "mountPath",
         "mountPath is required when purpose is custom"),
    ],
    ids=["claim-required", "read-only-managed", "claim-with-size", "access-mode",
         "relative-path", "system-path", "custom-needs-path"],
)  # fmt: skip
def test_storage_rules(volume, field, message):
    text = md_yaml(model={"id": "a/b", "storage": {"volumes": [volume]}})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert not result.ok
    assert (
        f"error[INVALID_STORAGE]: spec.model.storage.volumes[0].{field}: {message}\n" in result.text
    )


def test_env_prefers_value_from_and_drops_user_hf_token():
    env = [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HF_TOKEN", "value": "leaked"},
    ]
    text = md_yaml(env=env, secrets={"huggingFaceToken": "hf"})
    assert container(render(text))["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "HF_TOKEN"}}},
    ]


def test_prefix_caching_off_and_user_model_flag():
    text = md_yaml(
        engine={"type": "vllm", "enablePrefixCaching": False, "args": {"model": "/models/x"}}
    )
    args = container(render(text))["args"]
    assert args.count("--model") == 1
    assert args[args.index("--model") + 1] == "/models/x"
    assert "--no-enable-prefix-caching" in args
    assert "--enable-prefix-caching" not in args


def test_user_prefix_caching_spelling_replaces_the_derived_one():
    text = md_yaml(engine={"type": "vllm", "extraArgs": ["--no-enable-prefix-caching"]})
    args = container(render(text))["args"]
    assert "--enable-prefix-caching" not in args
    assert args.count("--no-enable-prefix-caching") == 1


def test_override_root_keys_other_than_spec_are_refused():
    text = md_yaml(provider={"name": "vllm", "overrides": {"spek": {}, "data": {}}})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert not result.ok
    assert (
        "error[OVERRIDE_UNSUPPORTED]: spec.provider.overrides.data: unsupported "
        'provider.overrides key(s) ["data" "spek"]: only "spec" is supported'
    ) in result.text


def test_pod_template_metadata_reaches_deployment_and_pods():
    text = md_yaml(
        podTemplate={"metadata": {"labels": {"app": "x", "team": "a"}, "annotations": {"k": "v"}}}
    )
    deployment = render(text)["Deployment"]
    assert deployment["metadata"]["labels"]["team"] == "a"
    assert deployment["metadata"]["annotations"] == {"k": "v"}
    template = deployment["spec"]["template"]["metadata"]
    assert template["labels"]["app"] == "m"  # the selector wins over user pod labels
    assert template["labels"]["team"] == "a"
    assert template["annotations"] == {"k": "v"}
