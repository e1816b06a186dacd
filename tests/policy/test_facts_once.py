"""Every shared fact lives once: the compile stamp, the Kubernetes API facts, the policy
defaults (and how partial policy blocks merge over them)."""

from __future__ import annotations

import ast
import inspect
from decimal import Decimal
from typing import Any, get_args

import yaml

from compiler.core import kube, stamp
from compiler.core.agent import deployment, readers, saturation, status
from compiler.core.cluster import agent as cluster_agent
from compiler.core.model import ModelDeployment
from compiler.core.pipeline import SourceFile, resolve_policy
from compiler.io.workspace import builtin_policies
from tests.harness import Repo
from tests.helpers import md_yaml


def _policy(text: str) -> SourceFile:
    return SourceFile(
        "policies/ours.yaml",
        "apiVersion: runwayc.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: ours\n" + text,
    )


def _builtin() -> dict[str, Any]:
    """policies/autoscaling.yaml's `autoscaling` block, as written."""
    (text,) = [f.text for f in builtin_policies() if f.path.endswith("/autoscaling.yaml")]
    block: dict[str, Any] = yaml.safe_load(text)["autoscaling"]
    return block


def _scaled_object(policy: str) -> dict[str, Any]:
    scaling = {"replicas": 1, "autoscaling": {"mode": "keda", "maxReplicas": 2}}
    result = Repo.of(
        {"deployments/a.yaml": md_yaml(scaling=scaling), "policies/ours.yaml": _policy(policy).text}
    ).compile()
    assert result.ok, result.text
    (scaled,) = [o for o in result.objects("team-a", "m") if o["kind"] == "ScaledObject"]
    return scaled


# --- KEDA: a partial block keeps the built-in values of the fields it does not set --------------


def test_a_repository_policy_setting_only_the_keda_address_keeps_the_builtin_cooldown():
    builtin = _builtin()["keda"]
    assert builtin["cooldownPeriod"] == 600
    scaled = _scaled_object("autoscaling:\n  keda:\n    serverAddress: http://prom.obs.svc:9090\n")
    trigger = scaled["spec"]["triggers"][0]["metadata"]
    assert trigger["serverAddress"] == "http://prom.obs.svc:9090"
    assert scaled["spec"]["cooldownPeriod"] == 600
    assert scaled["spec"]["pollingInterval"] == builtin["pollingInterval"]
    assert trigger["activationThreshold"] == builtin["activationThreshold"]


def test_a_repository_policy_setting_only_the_cooldown_keeps_the_builtin_address():
    scaled = _scaled_object("autoscaling:\n  keda:\n    cooldownPeriod: 120\n")
    assert scaled["spec"]["cooldownPeriod"] == 120
    trigger = scaled["spec"]["triggers"][0]["metadata"]
    assert trigger["serverAddress"] == _builtin()["keda"]["serverAddress"]


def test_one_default_target_keeps_the_other_modes_targets():
    policy, diagnostics = resolve_policy(
        builtin_policies(), [_policy('autoscaling:\n  defaultTargets:\n    queue: "3"\n')]
    )
    assert not diagnostics
    assert policy.autoscaling.default_targets == {**_builtin()["defaultTargets"], "queue": "3"}
    assert policy.autoscaling.metrics == _builtin()["metrics"]


def test_the_builtin_policy_sets_every_autoscaling_default_the_models_leave_unset():
    policy, diagnostics = resolve_policy(builtin_policies(), [])
    assert not diagnostics
    rules = policy.autoscaling
    assert rules.keda is not None
    unset = [name for name, value in rules.keda if value is None]
    unset += [name for name, value in rules if value is None]
    assert not unset, unset
    assert policy.name_max_length == 63  # policies/ceilings.yaml


def test_a_wva_variant_without_a_cost_gets_the_policys_default_cost():
    scaling = {"replicas": 1, "autoscaling": {"mode": "wva", "maxReplicas": 2}}
    result = Repo.of({"deployments/a.yaml": md_yaml(scaling=scaling)}).compile()
    assert result.ok, result.text
    (variant,) = [o for o in result.objects("team-a", "m") if o["kind"] == "VariantAutoscaling"]
    assert variant["spec"]["variantCost"] == _builtin()["defaultVariantCost"]


# --- the compile stamp ---------------------------------------------------------------------------


def _imports(module: object) -> set[str]:
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_the_agent_reads_the_stamp_without_importing_the_pipeline():
    for module in (status, readers):
        assert "compiler.core.pipeline" not in _imports(module)
        assert "compiler.core.stamp" in _imports(module)


def test_every_stamped_annotation_is_a_named_fact():
    keys = {
        value
        for name, value in vars(stamp).items()
        if name.isupper() and isinstance(value, str) and not value.startswith(("airunway", "app."))
    }
    result = Repo.of({"deployments/a.yaml": md_yaml(scaling={"replicas": 1})}).compile()
    assert result.ok, result.text
    (md,) = [o for o in result.objects("team-a", "m") if o["kind"] == kube.KIND]
    written = {
        key.removeprefix(stamp.PREFIX)
        for key in md["metadata"]["annotations"]
        if key.startswith(stamp.PREFIX)
    }
    assert written <= keys, written - keys
    facts = stamp.read_stamp(md)
    assert facts.current
    assert stamp.stamped_provider(md) == "vllm"
    assert facts.facts[stamp.PROVIDER_REASON] == stamp.EXPLICIT_REASON


# --- Kubernetes facts ----------------------------------------------------------------------------


def test_the_model_deployment_literals_are_the_api_constants():
    assert get_args(kube.ApiVersionLiteral) == (kube.API_VERSION,)
    assert get_args(kube.KindLiteral) == (kube.KIND,)
    fields = ModelDeployment.model_fields
    assert get_args(fields["api_version"].annotation) == (kube.API_VERSION,)
    assert get_args(fields["kind"].annotation) == (kube.KIND,)


def test_the_agents_lease_is_the_one_its_rbac_grants():
    granted = [
        rule["resourceNames"]
        for obj in cluster_agent.rbac("ns")
        for rule in obj.get("rules", [])
        if "resourceNames" in rule
    ]
    assert granted == [[deployment.LEASE_NAME]]


def test_the_rendered_thresholds_are_the_analyzers_defaults():
    objects = cluster_agent.saturation_objects("ns", "http://prometheus:9090")
    (configmap,) = [
        o for o in objects if o["metadata"]["name"] == cluster_agent.SATURATION_CONFIGMAP
    ]
    parsed = saturation.saturation_config(configmap["data"], "rendered")
    assert parsed == saturation.SaturationConfig()
    assert saturation.SaturationConfig().kv_cache_threshold == 0.8


def test_variant_cost_comes_from_the_md_else_the_default_given():
    def md(autoscaling: dict[str, Any]) -> dict[str, Any]:
        return {
            "metadata": {"name": "v", "namespace": "chat"},
            "spec": {"scaling": {"autoscaling": {"mode": "wva", **autoscaling}}},
        }

    deployment = {"spec": {"replicas": 1}, "status": {"readyReplicas": 1}}
    found = saturation.variant_of(md({"variantCost": "0"}), deployment, Decimal("3"))
    assert found is not None
    assert found.cost == Decimal("0")
    assert saturation.variant_of(md({}), deployment, None) is None
