"""The inference gateway (`spec.gateway`): what AI Runway's gateway reconciler creates, known at
compile time (commit b0d3fb7, `controller/internal/controller/gateway_reconciler.go`).

Per ModelDeployment, where the environment names a Gateway in runway.yaml: an InferencePool
selecting the model's pods on the provider's serving port, the endpoint picker (EPP)
ServiceAccount, Role, RoleBinding, ConfigMap, Deployment and Service, and an HTTPRoute from the
Gateway matching the model name (none when `httpRouteRef` names the user's own route). A
provider that manages its own pool (Dynamo) gets only the HTTPRoute, to its pool.

What AI Runway finds out at run time is decided here or refused: the Gateway (listed in the
cluster there; named per environment here), the model name (asked of `/v1/models` there;
derived here only where runwayc renders the server and so knows its answer) and the serving
port (read from the endpoint Service there; the provider's known port here). The shared
Gateway's `allowedRoutes`, which AI Runway patches, is left to whoever owns the Gateway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from compiler.core.diagnostics import Diagnostic
from compiler.core.kube import VLLM_HTTP_PORT, KubeObject
from compiler.core.model import (
    GatewayCapability,
    GatewayRef,
    ModelDeployment,
    ProjectConfig,
    ProviderCatalog,
    ProviderEntry,
)
from compiler.core.policy import CheckContext
from compiler.core.providers.base import ImagePlan
from compiler.core.stamp import (
    GATEWAY,
    GATEWAY_MODEL_NAME,
    GATEWAY_POOL,
    GATEWAY_ROUTE,
    MODEL_DEPLOYMENT_LABEL,
)

# The image plan's role for the endpoint picker (pinned in runway.lock like every component).
EPP_ROLE = "gatewayEndpointPicker"
EPP_PORT = 9002  # AI Runway's --epp-service-port default
EPP_HEALTH_PORT = 9003
EPP_HEALTH_SERVICE = "inference-extension"
EPP_CONFIG_KEY = "default-plugins.yaml"
DEFAULT_EPP_CONFIG = (
    "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"
)
MODEL_HEADER = "X-Gateway-Model-Name"
ROUTE_TIMEOUT = "300s"
POOL_API = "inference.networking.k8s.io"
ROUTE_API = "gateway.networking.k8s.io/v1"

DESTINATION_RULE_API = "networking.istio.io/v1beta1"

# The container port behind the Service each provider reports as its endpoint: what AI
# Runway reads the InferencePool's targetPort from. KAITO's Workspace Service is `http` 80 ->
# targetPort 5000 (KAITO's consts.PortInferenceServer, pkg/workspace/manifests), the port its
# llama.cpp template listens on (`--address=:5000`).
SERVING_PORTS = {
    "vllm": VLLM_HTTP_PORT,
    "llmd": VLLM_HTTP_PORT,
    "kuberay": VLLM_HTTP_PORT,
    "kaito": 5000,
}
# Providers whose server runwayc renders itself (`vllm serve <model.id>`), so the name its
# `/v1/models` answers with is known: the served name, else the model ID.
KNOWN_MODEL_LIST = frozenset({"vllm", "llmd"})

MSG_NO_GATEWAY = (
    'spec.gateway.enabled is true but environment "{env}" names no Gateway: set '
    "environments.{env}.gateway: {{name: <gateway>, namespace: <namespace>}} in runway.yaml "
    "(AI Runway would pick one in the cluster at run time), or spec.gateway.enabled: false"
)
# AI Runway labels the running pods; a KAITO preset's pod template is KAITO's, not in Git.
MSG_KAITO_PRESET = (
    "the InferencePool selects pods labelled airunway.ai/model-deployment, which AI Runway "
    "patches onto running pods; a KAITO vLLM preset's pods are KAITO's and cannot carry it "
    "from Git: use the llamacpp engine with spec.image, another provider, or "
    "spec.gateway.enabled: false"
)
# Dynamo creates the pool, and AI Runway names the DestinationRule after the picker that pool
# references: a name known only once Dynamo has run.
MSG_DYNAMO_DESTINATION_RULE = (
    "environment {env} runs Istio, where AI Runway adds a DestinationRule for the endpoint "
    "picker of the InferencePool {pool} that {provider} creates, named after that pool's "
    "endpointPickerRef, which is known only in the cluster: runwayc does not render it; add "
    "it beside the model (host <picker>.{namespace}.svc.cluster.local, "
    "trafficPolicy.tls.mode SIMPLE)"
)
MSG_NO_MODEL_NAME = (
    "the inference gateway routes by model name, and AI Runway would ask the running server's "
    "/v1/models for it{why}: set spec.gateway.modelName{alternatives}"
)


def gateway_capability(md: ModelDeployment, entry: ProviderEntry) -> GatewayCapability:
    capability = next((e for e in entry.engines if e.name == md.engine), None)
    if capability is not None and capability.gateway is not None:
        return capability.gateway
    return GatewayCapability()


def disabled(md: ModelDeployment) -> bool:
    gateway = md.spec.gateway
    return gateway is not None and gateway.enabled is False


def gateway_on(md: ModelDeployment, gateway: GatewayRef | None) -> bool:
    """AI Runway's rule: on unless `enabled: false`, where there is a Gateway to attach to."""
    return gateway is not None and not disabled(md)


def environment_gateway(project: ProjectConfig | None, env: str) -> GatewayRef | None:
    if project is None:
        return None
    environment = project.environments.get(env)
    return environment.gateway if environment is not None else None


def gateway_image_plan(
    plan: ImagePlan,
    md: ModelDeployment,
    entry: ProviderEntry,
    catalog: ProviderCatalog,
    project: ProjectConfig | None,
) -> ImagePlan:
    """The plan plus the endpoint picker's image, wherever some environment routes this model
    through a Gateway: the need is the same in every environment, so `lock` run for one
    never prunes the pin another renders."""
    if disabled(md) or project is None:
        return plan
    if not any(e.gateway is not None for e in project.environments.values()):
        return plan
    image = endpoint_picker_image(md, entry, catalog)
    if image is None:
        return plan
    return replace(plan, components={**plan.components, EPP_ROLE: image})


def endpoint_picker_image(
    md: ModelDeployment, entry: ProviderEntry, catalog: ProviderCatalog
) -> str | None:
    capability = gateway_capability(md, entry)
    if capability.manages_inference_pool:
        return None
    picker = capability.endpoint_picker
    if picker is not None and picker.image:
        return picker.image
    return catalog.gateway.endpoint_picker_image if catalog.gateway is not None else None


def model_name(md: ModelDeployment, provider: str, entry: ProviderEntry) -> str | None:
    """AI Runway's order: gateway.modelName, the served name (unless the engine ignores it),
    what `/v1/models` answers (known only for servers runwayc renders), then model.id."""
    gateway = md.spec.gateway
    if gateway is not None and gateway.model_name:
        return gateway.model_name
    if md.spec.model.served_name and not gateway_capability(md, entry).ignores_served_name:
        return md.spec.model.served_name
    if provider in KNOWN_MODEL_LIST and md.spec.model.id:
        return md.spec.model.id
    return None


def check_gateway(
    md: ModelDeployment,
    ctx: CheckContext,
    provider: str,
    entry: ProviderEntry,
    env: str,
    gateway: GatewayRef | None,
) -> list[Diagnostic]:
    if disabled(md):
        return []
    where: tuple[str, ...] = ("spec", "gateway") if md.spec.gateway is not None else ("spec",)
    if gateway is None:
        if md.spec.gateway is None or md.spec.gateway.enabled is not True:
            # Nothing insisted on: as AI Runway in a cluster without the gateway's CRDs.
            return []
        enabled = ("spec", "gateway", "enabled")
        return [ctx.at("GATEWAY_NOT_CONFIGURED", MSG_NO_GATEWAY.format(env=env), enabled)]
    found: list[Diagnostic] = []
    if provider == "kaito" and md.engine != "llamacpp":
        found.append(ctx.at("GATEWAY_POD_LABEL", MSG_KAITO_PRESET, where))
    if gateway.istio and gateway_capability(md, entry).manages_inference_pool:
        namespace = md.metadata.namespace or "<namespace>"
        pool, _ = pool_of(md, namespace, entry)
        message = MSG_DYNAMO_DESTINATION_RULE.format(
            env=env, pool=pool, provider=provider, namespace=namespace
        )
        found.append(ctx.warning_at("GATEWAY_DESTINATION_RULE", message, where))
    if model_name(md, provider, entry) is not None:
        return found
    capability = gateway_capability(md, entry)
    if provider in KNOWN_MODEL_LIST:
        why, alternatives = "", ", spec.model.servedName or spec.model.id"
    else:
        why = f" ({provider} chooses what it serves the model as, so runwayc cannot know it)"
        alternatives = "" if capability.ignores_served_name else " or spec.model.servedName"
        if capability.ignores_served_name and md.spec.model.served_name:
            why = f" ({provider} serves {md.engine} under its own name, not spec.model.servedName)"
    message = MSG_NO_MODEL_NAME.format(why=why, alternatives=alternatives)
    return [*found, ctx.at("GATEWAY_MODEL_NAME", message, where)]


def label_endpoint_pods(objects: Sequence[KubeObject], md: ModelDeployment) -> list[KubeObject]:
    """The pool's label on the pods behind the endpoint Service (`<md>`, or `<md>-decode`),
    which AI Runway patches onto running pods: in Git it belongs in the pod template."""
    targets = {md.name, f"{md.name}-decode"}
    out: list[KubeObject] = []
    for obj in objects:
        if obj.get("kind") == "Deployment" and obj["metadata"]["name"] in targets:
            template = obj["spec"]["template"]
            meta = template.setdefault("metadata", {})
            meta["labels"] = {**(meta.get("labels") or {}), MODEL_DEPLOYMENT_LABEL: md.name}
        out.append(obj)
    return out


def pool_of(md: ModelDeployment, namespace: str, entry: ProviderEntry) -> tuple[str, str]:
    """(name, namespace) of the InferencePool the route sends to: ours, or the provider's."""
    capability = gateway_capability(md, entry)
    if not capability.manages_inference_pool:
        return md.name, namespace
    pool = (capability.inference_pool_name_pattern or "{name}-pool").format(name=md.name)
    pool_namespace = (capability.inference_pool_namespace or "{namespace}").format(
        namespace=namespace
    )
    return pool, pool_namespace


def gateway_facts(
    md: ModelDeployment, namespace: str, provider: str, entry: ProviderEntry, gateway: GatewayRef
) -> dict[str, str]:
    """The compile facts the agent reads GatewayReady from."""
    pool, pool_namespace = pool_of(md, namespace, entry)
    route_ref = md.spec.gateway.http_route_ref if md.spec.gateway is not None else None
    return {
        GATEWAY: f"{gateway.namespace}/{gateway.name}",
        GATEWAY_POOL: f"{pool_namespace}/{pool}",
        GATEWAY_ROUTE: route_ref or md.name,
        GATEWAY_MODEL_NAME: model_name(md, provider, entry) or "",
    }


def render_gateway(
    md: ModelDeployment,
    namespace: str,
    provider: str,
    entry: ProviderEntry,
    gateway: GatewayRef,
    epp_image: str | None,
) -> list[KubeObject]:
    """The gateway objects of a checked ModelDeployment (`check_gateway` passed)."""
    name = model_name(md, provider, entry) or ""
    capability = gateway_capability(md, entry)
    objects: list[KubeObject] = []
    pool, pool_namespace = pool_of(md, namespace, entry)
    if not capability.manages_inference_pool:
        config = DEFAULT_EPP_CONFIG
        if capability.endpoint_picker is not None and capability.endpoint_picker.config_data:
            config = capability.endpoint_picker.config_data
        objects.append(inference_pool(md, namespace, SERVING_PORTS[provider]))
        objects.extend(endpoint_picker(md, namespace, epp_image or "", config))
        if gateway.istio:
            objects.append(destination_rule(md, namespace))
    route_ref = md.spec.gateway.http_route_ref if md.spec.gateway is not None else None
    if not route_ref:
        objects.append(http_route(md, namespace, gateway, name, pool, pool_namespace))
    return objects


def inference_pool(md: ModelDeployment, namespace: str, port: int) -> KubeObject:
    return {
        "apiVersion": f"{POOL_API}/v1",
        "kind": "InferencePool",
        "metadata": {"name": md.name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {MODEL_DEPLOYMENT_LABEL: md.name}},
            "targetPorts": [{"number": port}],
            "endpointPickerRef": {"name": epp_name(md), "port": {"number": EPP_PORT}},
        },
    }


def destination_rule(md: ModelDeployment, namespace: str) -> KubeObject:
    """Istio's TLS origination to the picker (gateway_reconciler.go:627-658): the EPP serves
    gRPC over TLS with its own certificate, so the mesh must not verify it."""
    name = epp_name(md)
    return {
        "apiVersion": DESTINATION_RULE_API,
        "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "host": f"{name}.{namespace}.svc.cluster.local",
            "trafficPolicy": {"tls": {"mode": "SIMPLE", "insecureSkipVerify": True}},
        },
    }


def epp_name(md: ModelDeployment) -> str:
    return f"{md.name}-epp"


def endpoint_picker(
    md: ModelDeployment, namespace: str, image: str, config: str
) -> Iterable[KubeObject]:
    name = epp_name(md)
    meta = {"name": name, "namespace": namespace}
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": md.name,
        "app.kubernetes.io/managed-by": "airunway",
    }
    read = ["get", "watch", "list"]
    yield {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)}
    yield {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": dict(meta),
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": read},
            {"apiGroups": [POOL_API], "resources": ["inferencepools"], "verbs": read},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["create", "get", "update"],
            },
            {
                "apiGroups": ["inference.networking.x-k8s.io"],
                "resources": ["inferenceobjectives", "inferencemodelrewrites"],
                "verbs": read,
            },
        ],
    }
    yield {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": dict(meta),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    yield {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": dict(meta),
        "data": {EPP_CONFIG_KEY: config},
    }
    probe: dict[str, Any] = {"grpc": {"port": EPP_HEALTH_PORT, "service": EPP_HEALTH_SERVICE}}
    container: dict[str, Any] = {
        "name": "epp",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            *("--pool-name", md.name),
            *("--pool-namespace", namespace),
            *("--zap-encoder", "json"),
            *("--config-file", f"/config/{EPP_CONFIG_KEY}"),
            "--tracing=false",
        ],
        "ports": [
            {"name": "grpc", "containerPort": EPP_PORT},
            {"name": "grpc-health", "containerPort": EPP_HEALTH_PORT},
        ],
        "env": [
            {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "livenessProbe": {
            **probe,
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
            "failureThreshold": 5,
        },
        "readinessProbe": {**probe, "initialDelaySeconds": 10, "periodSeconds": 5},
        "volumeMounts": [{"name": "plugins-config", "mountPath": "/config"}],
    }
    yield {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": dict(meta),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "serviceAccountName": name,
                    "terminationGracePeriodSeconds": 130,
                    "containers": [container],
                    "volumes": [{"name": "plugins-config", "configMap": {"name": name}}],
                },
            },
        },
    }
    yield {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": dict(meta),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(labels),
            "ports": [
                {
                    "name": "grpc-ext-proc",
                    "protocol": "TCP",
                    "port": EPP_PORT,
                    "appProtocol": "kubernetes.io/h2c",
                }
            ],
        },
    }


def http_route(
    md: ModelDeployment,
    namespace: str,
    gateway: GatewayRef,
    model: str,
    pool: str,
    pool_namespace: str,
) -> KubeObject:
    return {
        "apiVersion": ROUTE_API,
        "kind": "HTTPRoute",
        "metadata": {"name": md.name, "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": gateway.name, "namespace": gateway.namespace}],
            "rules": [
                {
                    "matches": [
                        {
                            "path": {"type": "PathPrefix", "value": "/"},
                            "headers": [{"type": "Exact", "name": MODEL_HEADER, "value": model}],
                        }
                    ],
                    "backendRefs": [
                        {
                            "group": POOL_API,
                            "kind": "InferencePool",
                            "name": pool,
                            "namespace": pool_namespace,
                        }
                    ],
                    "timeouts": {"request": ROUTE_TIMEOUT},
                }
            ],
        },
    }
