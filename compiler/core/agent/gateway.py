"""`GatewayReady` from what the cluster says about the rendered HTTPRoute and InferencePool.

AI Runway sets the condition when it has created the objects; here Git creates them, so the
agent reports what the Gateway's controller says of them: the route's and the pool's
`status.parents[]` entry for the Gateway, `Accepted` and `ResolvedRefs`. A route refused by the
Gateway's listeners (`NotAllowedByListeners`) says which namespace the shared Gateway must
admit: runwayc does not patch a Gateway it does not render.

Once the route is configured, `status.gateway` says where to send requests, as AI Runway's
does: the Gateway's first non-empty `status.addresses[].value`, the model name the route
matches and the Gateway's namespace. The endpoint is left out while the agent cannot see
the Gateway (a namespaced agent, or a Gateway with no address yet). Unlike AI Runway, which
leaves the last status.gateway in place when the route later fails, the agent drops it with
GatewayReady=False: an endpoint a client may not use should not be advertised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compiler.core.agent.readers import Condition, mapping
from compiler.core.stamp import GATEWAY, GATEWAY_MODEL_NAME, GATEWAY_POOL, GATEWAY_ROUTE

CONDITION = "GatewayReady"
# AI Runway's reason and message once the objects exist (gateway_reconciler.go:191-197).
MSG_CONFIGURED = "InferencePool and HTTPRoute created"
# group, version, plural, kind of what the agent reads back.
GATEWAY_KINDS = {
    "InferencePool": ("inference.networking.k8s.io", "v1", "inferencepools", "InferencePool"),
    "HTTPRoute": ("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute"),
    "Gateway": ("gateway.networking.k8s.io", "v1", "gateways", "Gateway"),
}


def split(value: str) -> tuple[str, str]:
    namespace, _, name = value.partition("/")
    return namespace, name


def watched_names(facts: Mapping[str, str], namespace: str) -> tuple[Any, Any] | None:
    """((ns, pool), (ns, route)) keys the agent looks up; None when no gateway was rendered."""
    if GATEWAY not in facts or GATEWAY_POOL not in facts or GATEWAY_ROUTE not in facts:
        return None
    return split(facts[GATEWAY_POOL]), (namespace, facts[GATEWAY_ROUTE])


def gateway_key(facts: Mapping[str, str]) -> tuple[str, str] | None:
    """(namespace, name) of the shared Gateway the MD is routed through, if any."""
    return split(facts[GATEWAY]) if GATEWAY in facts and GATEWAY_POOL in facts else None


def gateway_status(
    facts: Mapping[str, str], gateway: Mapping[str, Any] | None
) -> dict[str, str] | None:
    """status.gateway for a configured route (gateway_reconciler.go:191-197)."""
    key = gateway_key(facts)
    if key is None:
        return None
    status: dict[str, str] = {}
    addresses = mapping(mapping(gateway).get("status")).get("addresses") if gateway else None
    for address in addresses if isinstance(addresses, list) else []:
        value = mapping(address).get("value")
        if isinstance(value, str) and value:
            status["endpoint"] = value
            break
    if facts.get(GATEWAY_MODEL_NAME):
        status["modelName"] = facts[GATEWAY_MODEL_NAME]
    status["gatewayNamespace"] = key[0]
    return status


def _parent_conditions(obj: Mapping[str, Any], gateway: str) -> dict[str, Mapping[str, Any]]:
    """The conditions of `obj`'s status.parents entry for the Gateway `<ns>/<name>`."""
    namespace, name = split(gateway)
    parents = mapping(obj.get("status")).get("parents")
    for parent in parents if isinstance(parents, list) else []:
        ref = mapping(mapping(parent).get("parentRef"))
        ref_namespace = ref.get("namespace") or mapping(obj.get("metadata")).get("namespace")
        if ref.get("name") == name and ref_namespace == namespace:
            conditions = mapping(parent).get("conditions")
            return {
                str(c.get("type")): c
                for c in (conditions if isinstance(conditions, list) else [])
                if isinstance(c, Mapping)
            }
    return {}


def _pool_conditions(pool: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """An InferencePool's conditions from any parent (its parent is the Gateway)."""
    found: dict[str, Mapping[str, Any]] = {}
    parents = mapping(pool.get("status")).get("parents")
    for parent in parents if isinstance(parents, list) else []:
        conditions = mapping(parent).get("conditions")
        for c in conditions if isinstance(conditions, list) else []:
            if isinstance(c, Mapping) and (found.get(str(c.get("type"))) is None):
                found[str(c.get("type"))] = c
    return found


def _refused(conditions: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for kind in ("Accepted", "ResolvedRefs"):
        condition = conditions.get(kind)
        if condition is not None and condition.get("status") == "False":
            return condition
    return None


def gateway_condition(
    facts: Mapping[str, str],
    namespace: str,
    pool: Mapping[str, Any] | None,
    route: Mapping[str, Any] | None,
) -> Condition | None:
    """GatewayReady, or None for a ModelDeployment the gateway does not route."""
    names = watched_names(facts, namespace)
    if names is None:
        return None
    (pool_namespace, pool_name), (_, route_name) = names
    gateway = facts[GATEWAY]
    if route is None:
        message = f"HTTPRoute {namespace}/{route_name} not found"
        return Condition(CONDITION, "False", "HTTPRouteFailed", message)
    if pool is None:
        message = f"InferencePool {pool_namespace}/{pool_name} not found"
        return Condition(CONDITION, "False", "InferencePoolFailed", message)
    route_conditions = _parent_conditions(route, gateway)
    refused = _refused(route_conditions)
    if refused is not None:
        reason = str(refused.get("reason") or "Refused")
        message = (
            f"HTTPRoute {namespace}/{route_name}: Gateway {gateway} says "
            f"{refused.get('type')}=False ({reason}): {refused.get('message') or ''}".rstrip(": ")
        )
        if reason == "NotAllowedByListeners":
            message += (
                f"; the Gateway's listeners must admit routes from namespace {namespace} "
                "(allowedRoutes.namespaces), which runwayc leaves to the Gateway's owner"
            )
        return Condition(CONDITION, "False", "HTTPRouteFailed", message)
    pool_refused = _refused(_pool_conditions(pool))
    if pool_refused is not None:
        message = (
            f"InferencePool {pool_namespace}/{pool_name}: {pool_refused.get('type')}=False "
            f"({pool_refused.get('reason') or 'Refused'}): {pool_refused.get('message') or ''}"
        ).rstrip(": ")
        return Condition(CONDITION, "False", "InferencePoolFailed", message)
    accepted = route_conditions.get("Accepted")
    if accepted is None or accepted.get("status") != "True":
        message = f"waiting for Gateway {gateway} to accept HTTPRoute {namespace}/{route_name}"
        return Condition(CONDITION, "False", "GatewayPending", message)
    return Condition(CONDITION, "True", "GatewayConfigured", MSG_CONFIGURED)
