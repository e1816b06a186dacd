"""The saturation analyzer as pure functions: WVA v0.5.0's rules, its pending-replica timeline,
variant choice, and the validation of its ConfigMap."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.core.agent.saturation import (
    ReplicaLoad,
    SaturationConfig,
    Variant,
    analyze_model,
    decide,
    pod_variant,
    saturation_config,
    variant_of,
)
from compiler.core.errors import ConfigError

CONFIG = SaturationConfig()
MODEL = ("chat", "meta-llama/Llama-3.1-8B-Instruct")


BASE = Variant(
    namespace="chat",
    name="variant-1",
    model=MODEL[1],
    accelerator="A100",
    cost=Decimal("10.0"),
    current=2,
    ready=2,
    min_replicas=1,
    max_replicas=10,
)


def variant(name: str = "variant-1", current: int = 2, ready: int | None = None, **kw) -> Variant:
    ready = current if ready is None else ready
    return replace(BASE, name=name, current=current, ready=ready, **kw)


def pods(owner: str, *loads: tuple[float, float]) -> list[ReplicaLoad]:
    return [
        ReplicaLoad(f"{owner}-5d8f9c7b6-{index:05d}", kv, queue)
        for index, (kv, queue) in enumerate(loads)
    ]


SATURATED = ((0.92, 7.0), (0.88, 6.0))
IDLE = ((0.10, 0.0), (0.15, 0.0), (0.12, 0.0))


def test_replica_saturation_and_spare_capacity_follow_wva_thresholds():
    loads = pods("v", (0.80, 0), (0.5, 5), (0.79, 4.9), (0.5, 1))
    analysis = analyze_model(loads, CONFIG)
    assert analysis.saturated == 2  # KV >= 0.80, queue >= 5: both bounds inclusive
    # Spare averaged over the two non-saturated: KV 0.80 - (0.79+0.5)/2, queue 5 - (4.9+1)/2.
    assert analysis.spare_kv == pytest.approx(0.155)
    assert analysis.spare_queue == pytest.approx(2.05)
    assert analysis.scale_up  # spare queue 2.05 < 3
    assert not analysis.scale_down_safe


def test_scale_up_triggers_on_either_spare():
    assert analyze_model(pods("v", (0.75, 0)), CONFIG).scale_up  # spare KV 0.05 < 0.1
    assert analyze_model(pods("v", (0.1, 2.5)), CONFIG).scale_up  # spare queue 2.5 < 3
    assert not analyze_model(pods("v", (0.6, 1.0)), CONFIG).scale_up


def test_scale_down_needs_two_free_replicas_and_room_after_redistribution():
    assert not analyze_model(pods("v", (0.05, 0)), CONFIG).scale_down_safe  # one replica
    assert analyze_model(pods("v", (0.1, 0), (0.1, 0)), CONFIG).scale_down_safe
    # 0.35 + 0.35 on one replica is 0.70: spare 0.10 is not below the trigger: safe.
    assert analyze_model(pods("v", (0.35, 0), (0.35, 0)), CONFIG).scale_down_safe
    # 0.36 + 0.36 = 0.72: spare 0.08 < 0.1 after: not safe.
    assert not analyze_model(pods("v", (0.36, 0), (0.36, 0)), CONFIG).scale_down_safe
    # Queues: 1.5 + 1.5 = 3 waiting on one replica leaves spare 2 < 3: not safe.
    assert not analyze_model(pods("v", (0.1, 1.5), (0.1, 1.5)), CONFIG).scale_down_safe


def test_wva_v050_pending_replica_timeline_never_cascades():
    """T+0 saturated -> 2->3 (pending 1); T+30 still saturated -> variant-1 skipped;
    T+90 the new replica is ready -> eligible again. Never more than one replica ahead."""
    desired: list[int] = []
    # T+0: two ready replicas, both saturated.
    v = variant(current=2)
    decision = decide([v], {MODEL: pods(v.name, *SATURATED)}, CONFIG)[v.key]
    assert (decision.action, decision.desired, decision.blocked) == ("ScaleUp", 3, None)
    desired.append(decision.desired)
    # The HPA applies it: 3 desired, 2 ready while the model loads (minutes).
    v = replace(v, current=3, ready=2)
    assert v.pending == 1
    # T+30: still saturated (the loading pod serves nothing yet): skipped, held at 3.
    decision = decide([v], {MODEL: pods(v.name, *SATURATED)}, CONFIG)[v.key]
    assert (decision.action, decision.desired, decision.blocked) == ("Hold", 3, "PendingReplicas")
    assert "1 replica(s) still starting (3 desired, 2 ready)" in decision.message
    desired.append(decision.desired)
    # T+60: the same.
    decision = decide([v], {MODEL: pods(v.name, *SATURATED)}, CONFIG)[v.key]
    desired.append(decision.desired)
    # T+90: ready; still saturated: eligible again, one more.
    v = replace(v, ready=3)
    loads = pods(v.name, *SATURATED, (0.85, 6.0))
    decision = decide([v], {MODEL: loads}, CONFIG)[v.key]
    assert (decision.action, decision.desired, decision.blocked) == ("ScaleUp", 4, None)
    desired.append(decision.desired)
    assert desired == [3, 3, 3, 4]


def test_a_pending_variant_gives_way_to_another_variant_of_the_same_model():
    loading = variant("variant-1", current=3, ready=2, cost=Decimal("5"))
    other = variant("variant-2", current=1, cost=Decimal("20"))
    loads = {MODEL: pods("variant-1", *SATURATED) + pods("variant-2", (0.9, 8))}
    decisions = decide([loading, other], loads, CONFIG)
    assert decisions["chat/variant-1"].blocked == "PendingReplicas"
    assert decisions["chat/variant-1"].desired == 3
    assert (decisions["chat/variant-2"].action, decisions["chat/variant-2"].desired) == (
        "ScaleUp",
        2,
    )
    assert decisions["chat/variant-2"].saturated == 1
    assert decisions["chat/variant-1"].saturated == 2


def test_cheapest_eligible_variant_scales_first_ties_by_name():
    a = variant("b-variant", cost=Decimal("8.5"))
    b = variant("a-variant", cost=Decimal("8.5"))
    c = variant("c-variant", cost=Decimal("2"), current=10)  # cheapest, but at max
    loads = {MODEL: pods("a-variant", *SATURATED)}
    decisions = decide([a, b, c], loads, CONFIG)
    assert {k: d.action for k, d in decisions.items()} == {
        "chat/a-variant": "ScaleUp",
        "chat/b-variant": "Hold",
        "chat/c-variant": "Hold",
    }
    assert decisions["chat/c-variant"].blocked == "MaxReplicas"


def test_variants_are_keyed_by_namespace_and_name():
    one = variant("llama", namespace="team-a")
    two = variant("llama", namespace="team-b")
    saturated = pods("llama", *SATURATED)
    decisions = decide(
        [one, two], {("team-a", MODEL[1]): saturated, ("team-b", MODEL[1]): []}, CONFIG
    )
    assert decisions["team-a/llama"].action == "ScaleUp"
    assert decisions["team-b/llama"].action == "Hold"
    assert "no replica" in decisions["team-b/llama"].message


def test_scale_down_takes_the_most_expensive_variant_above_its_minimum():
    cheap = variant("cheap", current=2, cost=Decimal("1"))
    dear = variant("dear", current=2, cost=Decimal("30"))
    loads = {MODEL: pods("cheap", *IDLE[:2]) + pods("dear", *IDLE[:2])}
    decisions = decide([cheap, dear], loads, CONFIG)
    assert (decisions["chat/dear"].action, decisions["chat/dear"].desired) == ("ScaleDown", 1)
    assert decisions["chat/cheap"].action == "Hold"


def test_scale_down_is_refused_with_one_non_saturated_replica():
    v = variant(current=2)
    loads = {MODEL: pods(v.name, (0.05, 0), (0.95, 9))}
    decision = decide([v], loads, CONFIG)[v.key]
    # One free replica with plenty of spare, one saturated: not safe to remove either.
    assert decision.action == "Hold"
    assert decision.desired == 2


def test_pods_are_matched_to_the_longest_deployment_name():
    short, long = variant("llama"), variant("llama-b")
    assert pod_variant("llama-b-5d8f9c7b6-x2x4z", [short, long]) == long
    assert pod_variant("llama-5d8f9c7b6-x2x4z", [short, long]) == short
    assert pod_variant("llamas-5d8f9c7b6-x2x4z", [short, long]) is None


@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 50, allow_nan=False)), min_size=0, max_size=8),
    st.integers(1, 6),
    st.integers(0, 6),
)
def test_no_decision_moves_more_than_one_replica_or_past_the_bounds(loads, current, ready):
    v = variant(current=current, ready=min(ready, current), max_replicas=6)
    decision = decide([v], {MODEL: pods(v.name, *loads)}, CONFIG)[v.key]
    assert abs(decision.desired - v.current) <= 1
    assert v.min_replicas <= decision.desired <= v.max_replicas
    if v.pending:
        assert decision.desired <= v.current  # never scale up while a replica loads


# --- configuration -----------------------------------------------------------------------------


def test_config_defaults_are_wvas():
    config = saturation_config(None, "cm")
    assert (
        config.kv_cache_threshold,
        config.queue_length_threshold,
        config.kv_spare_trigger,
        config.queue_spare_trigger,
    ) == (0.80, 5, 0.1, 3)


def test_config_reads_the_configmap_default_entry():
    config = saturation_config(
        {"default": "kvCacheThreshold: 0.7\nqueueLengthThreshold: 10\nkvSpareTrigger: 0.2\n"}, "cm"
    )
    assert (config.kv_cache_threshold, config.queue_length_threshold) == (0.7, 10)
    assert (config.kv_spare_trigger, config.queue_spare_trigger) == (0.2, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kvCacheThreshold: 1.5", "kvCacheThreshold: Input should be less than or equal to 1"),
        ("queueLengthThreshold: -1", "queueLengthThreshold: Input should be greater than"),
        ("kvCacheThreshold: 0.1\nkvSpareTrigger: 0.2", "must not exceed kvCacheThreshold"),
        ("kvCacheTreshold: 0.8", "kvCacheTreshold: Extra inputs are not permitted"),
        ("[1, 2]", "expected a mapping of thresholds"),
        ("a: [", "not YAML"),
        ("[" * 100_000, "default:1:65: document nests deeper than 64 levels"),
    ],
)
def test_config_errors_name_the_source_and_the_field(text, message):
    with pytest.raises(ConfigError) as caught:
        saturation_config({"default": text}, "configmap saturation-scaling-config")
    assert str(caught.value).startswith("configmap saturation-scaling-config: ")
    assert message in str(caught.value)


def test_variant_from_live_objects():
    md: dict[str, Any] = {
        "metadata": {"name": "llama-a100", "namespace": "chat"},
        "spec": {
            "model": {"id": MODEL[1]},
            "nodeSelector": {"nvidia.com/gpu.product": "A100"},
            "scaling": {
                "autoscaling": {
                    "mode": "wva",
                    "minReplicas": 1,
                    "maxReplicas": 4,
                    "variantCost": "20.0",
                }
            },
        },
    }
    deployment = {"spec": {"replicas": 3}, "status": {"readyReplicas": 2}}
    found = variant_of(md, deployment, Decimal("10.0"))
    assert found == variant("llama-a100", current=3, ready=2, cost=Decimal("20.0"), max_replicas=4)
    assert found is not None
    assert found.pending == 1
    assert variant_of(md, None, Decimal("10.0")) is None
    queue_mode = {**md, "spec": {**md["spec"], "scaling": {"autoscaling": {"mode": "queue"}}}}
    assert variant_of(queue_mode, deployment, Decimal("10.0")) is None


def test_a_variant_without_a_cost_takes_the_policys_default():
    md = {
        "metadata": {"name": "v", "namespace": "chat"},
        "spec": {"model": {"id": MODEL[1]}, "scaling": {"autoscaling": {"mode": "wva"}}},
    }
    deployment = {"spec": {"replicas": 1}, "status": {"readyReplicas": 1}}
    found = variant_of(md, deployment, Decimal("3.5"))
    assert found is not None
    assert found.cost == Decimal("3.5")
