"""GatewayReady from the HTTPRoute's and InferencePool's status, against the Kubernetes API
emulator through the real `kubernetes` client: pending until the Gateway accepts the route,
True once it has, False with the listeners' refusal (the shared Gateway's allowedRoutes,
which runwayc does not patch) or a missing pool; no condition for a model not routed."""

from __future__ import annotations

from typing import Any

import yaml

from compiler.core.agent.gateway import gateway_condition
from compiler.core.agent.readers import Condition
from tests.agent.conftest import available, settle, status_written, wait_for
from tests.conftest import ROOT
from tests.helpers import compile_example

NS = "prod"
GATEWAY_PARENT = {"name": "inference-gateway", "namespace": "gateway-system"}


def example_objects(name: str) -> list[dict[str, Any]]:
    result = compile_example(ROOT / "examples" / "gateway", "prod")
    return list(yaml.safe_load_all(result.files[f"{NS}/{name}/manifest.yaml"]))


def gateway_ready(api: Any, name: str) -> dict[str, Any] | None:
    conditions = api.get("ModelDeployment", NS, name).get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "GatewayReady"), None)


def route_status(accepted: str, reason: str, message: str = "") -> dict[str, Any]:
    condition = {"type": "Accepted", "status": accepted, "reason": reason, "message": message}
    return {
        "parents": [
            {
                "parentRef": GATEWAY_PARENT,
                "controllerName": "example.com/gateway",
                "conditions": [condition],
            }
        ]
    }


def test_gateway_ready_follows_the_route_and_pool_status(emulator, start_agent):
    api, _ = emulator
    api.installed.update({"InferencePool", "HTTPRoute"})
    for obj in example_objects("qwen-vllm"):
        api.apply(obj)
    api.set_status("Deployment", NS, "qwen-vllm", available())
    agent = start_agent()
    status_written(api, NS, "qwen-vllm")
    settle(agent, api)
    pending = gateway_ready(api, "qwen-vllm")
    assert pending is not None
    assert (pending["status"], pending["reason"]) == ("False", "GatewayPending")
    assert pending["message"] == (
        "waiting for Gateway gateway-system/inference-gateway to accept HTTPRoute prod/qwen-vllm"
    )
    api.set_status("HTTPRoute", NS, "qwen-vllm", route_status("True", "Accepted"))
    wait_for(
        lambda: (gateway_ready(api, "qwen-vllm") or {}).get("status") == "True",
        what="GatewayReady=True",
    )
    ready = gateway_ready(api, "qwen-vllm")
    assert ready is not None
    assert (ready["reason"], ready["message"]) == (
        "GatewayConfigured",
        "InferencePool and HTTPRoute created",
    )
    refused = route_status("False", "NotAllowedByListeners", "no listener admits namespace")
    api.set_status("HTTPRoute", NS, "qwen-vllm", refused)
    wait_for(
        lambda: (gateway_ready(api, "qwen-vllm") or {}).get("status") == "False",
        what="GatewayReady=False",
    )
    failed = gateway_ready(api, "qwen-vllm")
    assert failed is not None
    assert failed["reason"] == "HTTPRouteFailed"
    assert failed["message"] == (
        "HTTPRoute prod/qwen-vllm: Gateway gateway-system/inference-gateway says "
        "Accepted=False (NotAllowedByListeners): no listener admits namespace; the Gateway's "
        "listeners must admit routes from namespace prod (allowedRoutes.namespaces), which "
        "runwayc leaves to the Gateway's owner"
    )


def test_a_model_the_gateway_does_not_route_has_no_gateway_condition(emulator, start_agent):
    api, _ = emulator
    api.installed.update({"InferencePool", "HTTPRoute"})
    for obj in example_objects("phi-internal"):
        api.apply(obj)
    agent = start_agent()
    status_written(api, NS, "phi-internal")
    settle(agent, api)
    assert gateway_ready(api, "phi-internal") is None


FACTS = {
    "gateway": "gateway-system/gw",
    "gateway-pool": "team-a/m",
    "gateway-route": "m",
}


def test_a_missing_pool_or_route_is_named():
    route = {"metadata": {"namespace": "team-a", "name": "m"}}
    assert gateway_condition(FACTS, "team-a", None, route) == Condition(
        "GatewayReady", "False", "InferencePoolFailed", "InferencePool team-a/m not found"
    )
    assert gateway_condition(FACTS, "team-a", {}, None) == Condition(
        "GatewayReady", "False", "HTTPRouteFailed", "HTTPRoute team-a/m not found"
    )
    assert gateway_condition({}, "team-a", None, None) is None


def test_a_pool_the_gateway_refuses_is_reported_with_its_condition():
    route = {
        "metadata": {"namespace": "team-a", "name": "m"},
        "status": {
            "parents": [
                {
                    "parentRef": {"name": "gw", "namespace": "gateway-system"},
                    "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}],
                }
            ]
        },
    }
    refused = {"type": "ResolvedRefs", "status": "False", "reason": "InvalidExtensionRef"}
    pool = {"status": {"parents": [{"conditions": [{**refused, "message": "no m-epp"}]}]}}
    assert gateway_condition(FACTS, "team-a", pool, route) == Condition(
        "GatewayReady",
        "False",
        "InferencePoolFailed",
        "InferencePool team-a/m: ResolvedRefs=False (InvalidExtensionRef): no m-epp",
    )
    assert gateway_condition(FACTS, "team-a", {}, route) == Condition(
        "GatewayReady", "True", "GatewayConfigured", "InferencePool and HTTPRoute created"
    )


def md_status(api: Any, name: str) -> dict[str, Any]:
    status: dict[str, Any] = api.get("ModelDeployment", NS, name).get("status", {})
    return status


def test_status_gateway_says_where_to_send_requests(emulator, start_agent):
    """AI Runway writes status.gateway={endpoint, modelName, gatewayNamespace} once the route
    is configured; the endpoint is the shared Gateway's first address, and follows it."""
    api, _ = emulator
    api.installed.update({"InferencePool", "HTTPRoute", "Gateway"})
    for obj in example_objects("qwen-vllm"):
        api.apply(obj)
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "inference-gateway", "namespace": "gateway-system"},
        "spec": {"gatewayClassName": "example", "listeners": []},
    }
    api.apply(gateway)
    api.set_status("Deployment", NS, "qwen-vllm", available())
    agent = start_agent()
    status_written(api, NS, "qwen-vllm")
    settle(agent, api)
    assert "gateway" not in md_status(api, "qwen-vllm")  # not routed yet
    api.set_status("HTTPRoute", NS, "qwen-vllm", route_status("True", "Accepted"))
    wait_for(lambda: "gateway" in md_status(api, "qwen-vllm"), what="status.gateway")
    model_name = md_status(api, "qwen-vllm")["gateway"]["modelName"]
    assert md_status(api, "qwen-vllm")["gateway"] == {
        "modelName": model_name,
        "gatewayNamespace": "gateway-system",
    }
    route = next(o for o in example_objects("qwen-vllm") if o["kind"] == "HTTPRoute")
    headers = route["spec"]["rules"][0]["matches"][0]["headers"]
    assert model_name == headers[0]["value"]
    addresses = {"addresses": [{"type": "IPAddress", "value": ""}, {"value": "10.0.0.7"}]}
    api.set_status("Gateway", "gateway-system", "inference-gateway", addresses)
    wait_for(
        lambda: md_status(api, "qwen-vllm").get("gateway", {}).get("endpoint") == "10.0.0.7",
        what="status.gateway.endpoint from the Gateway's address",
    )
    refused = route_status("False", "NotAllowedByListeners", "no listener admits namespace")
    api.set_status("HTTPRoute", NS, "qwen-vllm", refused)
    wait_for(lambda: "gateway" not in md_status(api, "qwen-vllm"), what="status.gateway gone")
