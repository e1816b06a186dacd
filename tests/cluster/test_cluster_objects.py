"""`runwayc bootstrap --cluster`: the CRD from the models, RBAC, the agent Deployment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from compiler.core.agent.readers import Observed
from compiler.core.agent.status import desired_status
from compiler.core.model import ModelDeploymentStatus
from compiler.io.agent.serve import saturation_options
from compiler.io.workspace import load_policy
from tests.cluster.conftest import AGENT_IMAGE
from tests.conftest import FIXTURES, QUICKSTART, ROOT, run_cli
from tests.helpers import strict_crd_schema

KUBERNETES_VERSION = "1.33.0"


def crd_schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_bundle_is_a_reviewed_snapshot(cluster_text, yaml_snapshot):
    assert cluster_text == yaml_snapshot


def test_every_object_validates_as_a_kubernetes_object(cluster):
    for obj in cluster.values():
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_output_is_deterministic(cluster_text):
    again = run_cli("bootstrap", "--cluster", "--agent-image", AGENT_IMAGE, QUICKSTART)
    assert again.stdout == cluster_text


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, child in (node.get("properties") or {}).items():
        found.extend(_walk(child, f"{path}.{name}"))
    if isinstance(node.get("additionalProperties"), dict):
        found.extend(_walk(node["additionalProperties"], f"{path}.*"))
    if isinstance(node.get("items"), dict):
        found.extend(_walk(node["items"], f"{path}[]"))
    return found


def test_crd_schema_is_structural(cluster):
    """The API server's structural-schema rules, as far as they apply to this schema."""
    for path, node in _walk(crd_schema(cluster["CustomResourceDefinition"])):
        assert "$ref" not in node, path
        assert "anyOf" not in node or node.get("x-kubernetes-int-or-string"), path
        assert node.get("type") or node.get("x-kubernetes-int-or-string"), path
        assert node.get("additionalProperties") is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert "default" not in node or node["default"] is not None, path
        if node.get("type") == "object" and path not in ("", ".metadata"):
            assert (
                "properties" in node
                or "additionalProperties" in node
                or node.get("x-kubernetes-preserve-unknown-fields")
            ), path


def test_crd_names_columns_and_status_subresource(cluster):
    crd = cluster["CustomResourceDefinition"]
    assert crd["spec"]["names"]["shortNames"] == ["md"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("Phase", ".status.phase"),
        ("Provider", ".status.provider.name"),
        ("Engine", ".status.engine.type"),
        ("Replicas", ".status.replicas.ready"),
        ("Age", ".metadata.creationTimestamp"),
    ]


def _property_paths(node: Any, path: str = "") -> set[str]:
    found = {path} if path else set()
    for name, child in (node.get("properties") or {}).items():
        found |= _property_paths(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found |= _property_paths(node["items"], path + "[]")
    return found


def test_crd_accepts_every_field_of_ai_runways_crd(cluster):
    upstream = yaml.safe_load((FIXTURES / "crds" / "airunway.ai_modeldeployments.yaml").read_text())
    theirs = _property_paths(crd_schema(upstream)["properties"]["spec"])
    ours = _property_paths(crd_schema(cluster["CustomResourceDefinition"])["properties"]["spec"])
    # env[].valueFrom sub-selectors are Kubernetes' own types; both sides carry them.
    assert sorted(theirs - ours) == []


def test_compiled_model_deployments_validate_against_the_crd(cluster, tmp_path):
    repo = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, repo)
    assert run_cli("compile", "--locked", repo).exit_code == 0
    validator = jsonschema.Draft7Validator(
        strict_crd_schema(crd_schema(cluster["CustomResourceDefinition"]))
    )
    mds = [
        obj
        for manifest in sorted(Path(repo, "rendered").glob("*/*/*/manifest.yaml"))
        for obj in yaml.safe_load_all(manifest.read_text())
        if obj["kind"] == "ModelDeployment"
    ]
    assert len(mds) >= 4
    for md in mds:
        errors = [
            e.message
            for e in validator.iter_errors({k: v for k, v in md.items() if k != "metadata"})
        ]
        assert errors == [], md["metadata"]["name"]
        # ... and the status the agent writes for it validates too.
        md = {**md, "metadata": {**md["metadata"], "generation": 1}}
        status = desired_status(Observed(md), load_policy(None), "2026-11-23T00:00:00Z")
        ModelDeploymentStatus.model_validate(status)
        assert list(validator.iter_errors({"spec": md["spec"], "status": status})) == []


def test_rbac_is_least_privilege(cluster):
    rules = cluster["ClusterRole"]["rules"]
    writes = [
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"]))
        for r in rules
        if set(r["verbs"]) - {"get", "list", "watch"}
    ]
    assert writes == [(("airunway.ai",), ("modeldeployments/status",), ("update", "patch"))]
    readable = {res for r in rules for res in r["resources"]}
    assert readable == {
        "modeldeployments",
        "modeldeployments/status",
        "deployments",
        "replicasets",
        "services",
        "pods",
        "horizontalpodautoscalers",
        "workspaces",  # KAITO
        "dynamographdeployments",  # Dynamo
        "rayservices",  # KubeRay
        "inferencepools",  # the inference gateway, for GatewayReady
        "httproutes",
        "gateways",  # the shared Gateway's address, for status.gateway.endpoint
    }
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in rules)
    lease_rules = cluster["Role"]["rules"]
    assert {r["resources"][0] for r in lease_rules} == {"leases"}
    named = [r for r in lease_rules if "update" in r["verbs"]]
    assert named
    assert all(r.get("resourceNames") == ["runwayc-agent"] for r in named)
    binding = cluster["ClusterRoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "runwayc-agent", "namespace": "runwayc-system"}
    ]


def test_agent_deployment_is_hardened(cluster):
    deployment = cluster["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert "--leader-elect" in container["args"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["image"] == AGENT_IMAGE
    # The arguments are ones `runwayc agent` accepts.
    args = container["args"]
    assert args[0] == "agent"
    help_text = run_cli("agent", "--help").stdout
    for flag in [a for a in args[1:] if a.startswith("--")]:
        assert flag in help_text


def test_dockerfile_runs_the_agent_as_the_deployments_user(cluster):
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = cluster["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert f"USER {user}:{user}" in dockerfile
    assert 'ENTRYPOINT ["runwayc"]' in dockerfile


def test_repository_policies_travel_in_the_configmap(make_repo):
    policy = (
        "apiVersion: runwayc.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: team\n"
        "overrides:\n  security: [dnsPolicy]\n"
    )
    repo = make_repo({"policies/team.yaml": policy})
    result = run_cli("bootstrap", "--cluster", "--agent-image", AGENT_IMAGE, repo)
    assert result.exit_code == 0, result.stderr
    objects = {o["kind"]: o for o in yaml.safe_load_all(result.stdout) if o}
    assert objects["ConfigMap"]["data"] == {"team.yaml": policy}
    # ... and the admission policy carries the extra key.
    assert any(
        "'dnsPolicy'" in v["expression"]
        for v in objects["ValidatingAdmissionPolicy"]["spec"]["variables"]
    )


def test_the_agent_image_is_required_and_taken_by_digest():
    """runwayc publishes no agent image, so the default tag bootstrap used to print named an
    image nobody pushed, and a tag can move under a running cluster."""
    missing = run_cli("bootstrap", "--cluster", QUICKSTART)
    assert missing.exit_code == 2
    assert "--cluster needs the agent's image by digest: runwayc publishes none" in missing.stderr
    assert "--agent-image REPO@sha256:<digest>" in missing.stderr
    assert "docker inspect --format '{{index .RepoDigests 0}}' IMAGE" in missing.stderr
    assert missing.stdout == ""

    tag = "ghcr.io/acme/runwayc:0.1.0"
    tagged = run_cli("bootstrap", "--cluster", "--agent-image", tag, QUICKSTART)
    assert tagged.exit_code == 2
    assert f'"{tag}" is a tag, not a digest' in tagged.stderr
    assert f"docker inspect --format '{{{{index .RepoDigests 0}}}}' {tag}" in tagged.stderr
    assert "or --allow-tag to run the tag as it is" in tagged.stderr
    assert tagged.stdout == ""

    allowed = run_cli("bootstrap", "--cluster", "--agent-image", tag, "--allow-tag", QUICKSTART)
    assert allowed.exit_code == 0, allowed.stderr
    (deployment,) = [
        o for o in yaml.safe_load_all(allowed.stdout) if o and o["kind"] == "Deployment"
    ]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == tag

    bad = run_cli(
        "bootstrap", "--cluster", "--agent-image", "ghcr.io/acme/runwayc@sha256:abc", QUICKSTART
    )
    assert bad.exit_code == 2
    assert "digest must be sha256: and 64 lower-case hex digits" in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cluster", "--env", "dev"], "--env only apply to --argocd or --flux"),
        (["--argocd", "--agent-image", "x"], "--agent-image only applies to --cluster"),
        (["--flux", "--allow-tag"], "--allow-tag only applies to --cluster"),
        (["--flux", "--saturation"], "--saturation only applies to --cluster"),
    ],
)
def test_cluster_flags_are_checked(args, message):
    result = run_cli("bootstrap", *args, QUICKSTART)
    assert result.exit_code == 2
    assert message in result.stderr


def test_saturation_bundle_runs_the_analyzer_from_its_configmaps(tmp_path, monkeypatch):
    result = run_cli(
        "bootstrap", "--cluster", "--saturation", "--agent-image", AGENT_IMAGE, QUICKSTART
    )
    assert result.exit_code == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("--saturation") :] == [
        "--saturation",
        "--saturation-config",
        "/etc/runwayc/saturation",
        "--prometheus-config",
        "/etc/runwayc/prometheus",
    ]
    token = next(e for e in container["env"] if e["name"] == "PROMETHEUS_BEARER_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["optional"] is True
    # What the agent reads from those mounts: each ConfigMap key becomes a file.
    for name, mount in (("saturation-scaling-config", "sat"), ("runwayc-agent-prometheus", "p")):
        (tmp_path / mount).mkdir()
        for key, value in maps[name].items():
            (tmp_path / mount / key).write_text(value)
    for key in [k for k in os.environ if k.startswith("PROMETHEUS_")]:
        monkeypatch.delenv(key)
    options = saturation_options(tmp_path / "sat", tmp_path / "p", 30)
    assert options.prometheus.base_url == "http://prometheus-operated.monitoring.svc:9090"
    assert options.prometheus.source == f"ConfigMap at {tmp_path / 'p'}"
    assert (options.config.kv_cache_threshold, options.config.queue_spare_trigger) == (0.8, 3)
    # Without --saturation none of it is rendered.
    plain = run_cli("bootstrap", "--cluster", "--agent-image", AGENT_IMAGE, QUICKSTART).stdout
    assert "--saturation" not in plain
    assert "saturation-scaling-config" not in plain
