"""The saturation analyzer against a real Prometheus (Debian's `prometheus`, on loopback)
scraping vLLM-format metrics from loopback endpoints the test controls, with the agent
reading ModelDeployments and Deployments from the Kubernetes API emulator through the real
`kubernetes` client. Also: PromQL built from hostile names, as Prometheus itself parses it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import generate_latest

from compiler.core.agent.saturation import SaturationConfig
from compiler.core.promql import selector
from compiler.io.agent.analyzer import SaturationAnalyzer
from compiler.io.agent.prometheus import PrometheusClient, PrometheusConfig
from tests.agent.conftest import deploy, settle, wait_for
from tests.agent.prometheus_server import Pod, VllmPods, run_prometheus, vllm_pods
from tests.conftest import ROOT, needs_binary
from tests.helpers import compile_example

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
# A short window so a change of load shows in `max_over_time` within seconds.
CONFIG = SaturationConfig(window="2s")
HOT = (0.92, 7.0)
IDLE = (0.05, 0.0)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VllmPods, str]]:
    binary = needs_binary("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    with vllm_pods(workdir) as fleet, run_prometheus(binary, workdir, fleet.targets_file) as url:
        yield fleet, url


@pytest.fixture
def fleet(prometheus: tuple[VllmPods, str]) -> Iterator[VllmPods]:
    pods, _ = prometheus
    pods.clear()
    yield pods
    pods.clear()


@pytest.fixture
def prometheus_client(prometheus: tuple[VllmPods, str]) -> Iterator[PrometheusClient]:
    client = PrometheusClient(PrometheusConfig(base_url=prometheus[1]))
    yield client
    client.close()


def pod_name(variant: str, index: int) -> str:
    return f"{variant}-5d8f9c7b6-{index:05d}"


def show(fleet: VllmPods, variant: str, *loads: tuple[float, float] | None) -> None:
    """The variant's pods and what each reports (None: still loading, no metrics)."""
    for index, load in enumerate(loads):
        kv, waiting = load if load is not None else (0.0, 0.0)
        pod = Pod("chat", MODEL, kv, waiting, serving=load is not None)
        fleet.set(pod_name(variant, index), pod)


def scraped(client: PrometheusClient, expected: dict[str, tuple[float, float]]) -> None:
    """Wait until Prometheus' answer for the model is exactly `expected` (pod -> load)."""

    def current() -> bool:
        loads = client.replica_loads("chat", MODEL, CONFIG.window)
        return {load.pod: (load.kv_cache, load.queue) for load in loads} == expected

    wait_for(current, what=f"Prometheus to report {expected}")


def autoscaling_example() -> dict[str, dict[str, dict[str, Any]]]:
    result = compile_example(ROOT / "examples" / "autoscaling", "prod")
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for name in ("llama-a100", "llama-l40s"):
        for obj in yaml.safe_load_all(result.files[f"chat/{name}/manifest.yaml"]):
            found.setdefault(name, {})[obj["kind"]] = obj
    return found


def scale(api: Any, objects: dict[str, Any], replicas: int, ready: int) -> None:
    """What the HPA and the Deployment controller do: replicas asked for, replicas ready."""
    deployment = copy.deepcopy(objects["Deployment"])
    deployment["spec"]["replicas"] = replicas
    api.apply(deployment)
    meta = deployment["metadata"]
    api.set_status(
        "Deployment",
        meta["namespace"],
        meta["name"],
        {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready},
    )


def variants_seen(agent: Any, expected: dict[str, tuple[int, int]]) -> None:
    wait_for(
        lambda: {v.name: (v.current, v.ready) for v in agent.variants()} == expected,
        what=f"the agent to see {expected}",
    )


def condition(api: Any, name: str, kind: str) -> dict[str, Any]:
    status = api.get("ModelDeployment", "chat", name).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def gauge(agent: Any, variant: str) -> float | None:
    return agent.metrics.registry.get_sample_value(
        "wva_desired_replicas",
        {"variant_name": variant, "namespace": "chat", "accelerator_type": ACCELERATORS[variant]},
    )


ACCELERATORS = {"llama-a100": "NVIDIA-A100-SXM4-80GB", "llama-l40s": "L40S"}


def test_pending_aware_scale_up_against_real_prometheus(
    emulator, start_agent, fleet, prometheus_client
):
    api, _ = emulator
    objects = autoscaling_example()
    # l40s (cost 8.5) runs 1 replica, a100 (cost 20) runs 2; every replica is saturated.
    deploy(api, objects["llama-l40s"])
    scale(api, objects["llama-l40s"], 1, 1)
    deploy(api, objects["llama-a100"])
    scale(api, objects["llama-a100"], 2, 2)
    show(fleet, "llama-l40s", HOT)
    show(fleet, "llama-a100", HOT, HOT)
    agent = start_agent()
    analyzer = SaturationAnalyzer(agent, prometheus_client, CONFIG)
    variants_seen(agent, {"llama-a100": (2, 2), "llama-l40s": (1, 1)})
    scraped(prometheus_client, {pod_name("llama-l40s", 0): HOT} | a100(HOT, HOT))

    # 1. Saturated: the cheapest variant scales up by exactly one.
    decisions = analyzer.cycle()
    assert summary(decisions) == {
        "chat/llama-a100": ("Hold", 2, None),
        "chat/llama-l40s": ("ScaleUp", 2, None),
    }
    assert gauge(agent, "llama-l40s") == 2
    assert gauge(agent, "llama-a100") == 2
    wait_for(lambda: condition(api, "llama-l40s", "Saturated").get("status") == "True")
    status = api.get("ModelDeployment", "chat", "llama-l40s")["status"]
    assert status["autoscaling"] == {
        "desiredReplicas": 2,
        "saturatedReplicas": 1,
        "pendingReplicas": 0,
        "action": "ScaleUp",
    }
    assert condition(api, "llama-l40s", "ScalingBlocked")["reason"] == "NotBlocked"

    # 2. The HPA applied it; the new l40s replica is loading (no metrics, not ready). Still
    #    saturated: l40s is skipped, and the other variant of the model scales instead.
    scale(api, objects["llama-l40s"], 2, 1)
    show(fleet, "llama-l40s", HOT, None)
    variants_seen(agent, {"llama-a100": (2, 2), "llama-l40s": (2, 1)})
    scraped(prometheus_client, {pod_name("llama-l40s", 0): HOT} | a100(HOT, HOT))
    decisions = analyzer.cycle()
    assert summary(decisions) == {
        "chat/llama-a100": ("ScaleUp", 3, None),
        "chat/llama-l40s": ("Hold", 2, "PendingReplicas"),
    }
    assert gauge(agent, "llama-l40s") == 2  # not 3: no cascade while a replica loads
    wait_for(lambda: condition(api, "llama-l40s", "ScalingBlocked").get("status") == "True")
    blocked = condition(api, "llama-l40s", "ScalingBlocked")
    assert blocked["reason"] == "PendingReplicas"
    assert blocked["message"] == (
        "1 replica(s) still starting (2 desired, 1 ready): scale-up waits for them"
    )

    # 3. The l40s replica is ready (and busy); a100's new one is loading: l40s is eligible again.
    scale(api, objects["llama-l40s"], 2, 2)
    scale(api, objects["llama-a100"], 3, 2)
    show(fleet, "llama-l40s", HOT, HOT)
    show(fleet, "llama-a100", HOT, HOT, None)
    variants_seen(agent, {"llama-a100": (3, 2), "llama-l40s": (2, 2)})
    scraped(
        prometheus_client,
        {pod_name("llama-l40s", 0): HOT, pod_name("llama-l40s", 1): HOT} | a100(HOT, HOT),
    )
    decisions = analyzer.cycle()
    assert summary(decisions) == {
        "chat/llama-a100": ("Hold", 3, "PendingReplicas"),
        "chat/llama-l40s": ("ScaleUp", 3, None),
    }
    wait_for(lambda: condition(api, "llama-l40s", "ScalingBlocked").get("status") == "False")
    settle(agent, api)
    # The gauge is what the wva-mode HPA reads, exposed in WVA's shape.
    exposed = generate_latest(agent.metrics.registry).decode()
    assert (
        'wva_desired_replicas{accelerator_type="L40S",namespace="chat",variant_name="llama-l40s"} '
        "3.0"
    ) in exposed


def a100(*loads: tuple[float, float] | None) -> dict[str, tuple[float, float]]:
    return {pod_name("llama-a100", i): load for i, load in enumerate(loads) if load is not None}


def summary(decisions: dict[str, Any]) -> dict[str, tuple[str, int, str | None]]:
    return {key: (d.action, d.desired, d.blocked) for key, d in decisions.items()}


def test_scale_down_is_refused_with_one_non_saturated_replica(
    emulator, start_agent, fleet, prometheus_client
):
    api, _ = emulator
    objects = autoscaling_example()["llama-a100"]
    deploy(api, objects)
    scale(api, objects, 2, 2)
    agent = start_agent()
    analyzer = SaturationAnalyzer(agent, prometheus_client, CONFIG)
    variants_seen(agent, {"llama-a100": (2, 2)})
    # One idle replica, one saturated: plenty of spare on the idle one, so no scale-up, but
    # only one non-saturated replica: removing one is not safe.
    show(fleet, "llama-a100", IDLE, HOT)
    scraped(prometheus_client, a100(IDLE, HOT))
    assert summary(analyzer.cycle()) == {"chat/llama-a100": ("Hold", 2, None)}
    # Both idle: the load fits on one replica fewer; the analyzer steps down by one.
    show(fleet, "llama-a100", IDLE, IDLE)
    scraped(prometheus_client, a100(IDLE, IDLE))
    assert summary(analyzer.cycle()) == {"chat/llama-a100": ("ScaleDown", 1, None)}


HOSTILE = [
    'prod",malicious="attack',
    'prod"} or vector(1) or up{a="',
    "back\\slash\\",
    'quote\\"mix',
    "new\nline",
]


def test_hostile_label_values_stay_one_literal_matcher(prometheus, fleet):
    """Prometheus formats (so parses) each selector back to one matcher per label, and selects
    exactly the series whose label holds the hostile string, not a decoy that an injected
    matcher would select. (All targets are announced at once: Prometheus passes discovered
    targets on every 5 s.)"""
    _, url = prometheus
    fleet.set("decoy-5d8f9c7b6-00000", Pod("prod", "m", 0.5, 1, labels={"variant_name": "v"}))
    for index, value in enumerate(HOSTILE):
        # The hostile string as namespace, model (scraped) and variant name (target label).
        pod = Pod(value, value, 0.5, 1, labels={"variant_name": value})
        fleet.set(pod_name("target", index), pod)
    client = PrometheusClient(PrometheusConfig(base_url=url))
    try:
        for index, value in enumerate(HOSTILE):
            labels = {"namespace": value, "model_name": value, "variant_name": value}
            query = selector("vllm:kv_cache_usage_perc", labels)
            formatted = httpx.get(f"{url}/api/v1/format_query", params={"query": query}).json()
            assert formatted["status"] == "success", formatted
            assert formatted["data"] == query  # Prometheus' own rendering of what it parsed
            series = wait_for(partial(client.query, query), what=repr(value))
            assert [labels["pod"] for labels, _ in series] == [pod_name("target", index)]
            assert {k: series[0][0][k] for k in labels} == labels
            assert "malicious" not in series[0][0]
    finally:
        client.close()


def test_prometheus_errors_are_runway_errors(prometheus):
    _, url = prometheus
    client = PrometheusClient(PrometheusConfig(base_url=url))
    try:
        with pytest.raises(Exception, match="Prometheus refused the query") as caught:
            client.query("sum(")
    finally:
        client.close()
    assert type(caught.value).__name__ == "PrometheusError"


def test_the_analyzer_loop_survives_an_unreachable_prometheus(emulator, start_agent):
    api, _ = emulator
    objects = autoscaling_example()["llama-a100"]
    deploy(api, objects)
    scale(api, objects, 2, 2)
    agent = start_agent()
    variants_seen(agent, {"llama-a100": (2, 2)})
    # Nothing listens on port 1 of loopback: every query fails at once.
    client = PrometheusClient(PrometheusConfig(base_url="http://127.0.0.1:1"))
    analyzer = SaturationAnalyzer(agent, client, CONFIG, interval_seconds=0.05)
    analyzer.start()
    registry = agent.metrics.registry

    def failed_cycles() -> float:
        sample = {"operation": "prometheus query"}
        return registry.get_sample_value("runwayc_agent_errors_total", sample) or 0

    wait_for(lambda: failed_cycles() >= 3, what="three failed cycles")
    assert agent.saturation == {}  # nothing decided, nothing published
    assert gauge(agent, "llama-a100") is None
    agent.stop.set()
    analyzer.join(5)
