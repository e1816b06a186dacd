"""The status agent's objects: namespace, ServiceAccount, least-privilege RBAC, the policy
ConfigMap, the Deployment (two replicas, one leader through a Lease) and its metrics Service.

The agent reads ModelDeployments and the objects they own and writes one thing, the
ModelDeployment status subresource (plus its own Lease); the RBAC says exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compiler.core.agent.deployment import (
    AGENT,
    LEASE_NAME,
    METRICS_PORT,
    POLICY_MOUNT,
    PROMETHEUS_MOUNT,
    SATURATION_MOUNT,
)
from compiler.core.agent.gateway import GATEWAY_KINDS
from compiler.core.agent.readers import RESOURCE_KINDS
from compiler.core.agent.saturation import CONFIG_KEY, DEFAULT_THRESHOLDS
from compiler.core.errors import FlagError, ImageError
from compiler.core.images import parse_reference
from compiler.core.kube import API_GROUP, PLURAL, KubeObject

SATURATION_CONFIGMAP = "saturation-scaling-config"  # WVA's name for it
PROMETHEUS_CONFIGMAP = f"{AGENT}-prometheus"
READ = ["get", "list", "watch"]
LABELS = {
    "app.kubernetes.io/name": AGENT,
    "app.kubernetes.io/part-of": "runwayc",
    "app.kubernetes.io/managed-by": "runwayc",
}
SELECTOR = {"app.kubernetes.io/name": AGENT}


AGENT_IMAGE_OPTION = "'--agent-image'"
# How to read the digest of an image just pushed (docker records it once the push is done).
DIGEST_HINT = "docker inspect --format '{{index .RepoDigests 0}}' IMAGE"


def agent_image(given: str | None, *, allow_tag: bool) -> str:
    """The agent's image as the Deployment will run it: by digest, or a tag only when the
    user said so. runwayc publishes no image, so there is no default to fall back on: a
    default would be a reference nobody pushed, and the cluster would find out as
    ImagePullBackOff. A tag can be moved to other code under a running cluster; a digest
    cannot. FlagError (exit 2) says how to get the digest."""
    if given is None:
        raise FlagError(
            "--cluster needs the agent's image by digest: runwayc publishes none. Build it "
            "from runwayc's Dockerfile, push it to a registry the cluster pulls from, and give "
            f"--agent-image REPO@sha256:<digest> (after the push, `{DIGEST_HINT}` prints it)"
        )
    try:
        reference = parse_reference(given)
    except ImageError as exc:
        raise FlagError(exc.message, param_hint=AGENT_IMAGE_OPTION) from exc
    if reference.digest is None and not allow_tag:
        shown = DIGEST_HINT.replace("IMAGE", given)
        raise FlagError(
            f'"{given}" is a tag, not a digest: a tag can be moved to another image under a '
            f"running cluster. Give REPO@sha256:<digest> (after `docker push {given}`, "
            f"`{shown}` prints it), or --allow-tag to run the tag as it is",
            param_hint=AGENT_IMAGE_OPTION,
        )
    return given


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(LABELS)
    return metadata


def rbac(namespace: str) -> list[KubeObject]:
    cluster_rules = [
        {"apiGroups": [API_GROUP], "resources": [PLURAL], "verbs": READ},
        {
            "apiGroups": [API_GROUP],
            "resources": [f"{PLURAL}/status"],
            "verbs": ["update", "patch"],
        },
        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": READ},
        {"apiGroups": [""], "resources": ["services", "pods"], "verbs": READ},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": READ},
        # Each provider's own kind, read back for status (absent CRDs are simply not listed).
        *(
            {"apiGroups": [group], "resources": [plural], "verbs": READ}
            for group, _, plural, _ in RESOURCE_KINDS.values()
        ),
        # The inference gateway's route and pool, read back for GatewayReady.
        *(
            {"apiGroups": [group], "resources": [plural], "verbs": READ}
            for group, _, plural, _ in GATEWAY_KINDS.values()
        ),
    ]
    lease_rules = [
        # create cannot be limited to a name; everything else is limited to the agent's Lease.
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [LEASE_NAME],
            "verbs": ["get", "update", "patch"],
        },
    ]
    subject = [{"kind": "ServiceAccount", "name": AGENT, "namespace": namespace}]
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(AGENT, namespace),
            "automountServiceAccountToken": True,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(AGENT),
            "rules": cluster_rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(AGENT),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": AGENT,
            },
            "subjects": subject,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(f"{AGENT}-leader-election", namespace),
            "rules": lease_rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(f"{AGENT}-leader-election", namespace),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": f"{AGENT}-leader-election",
            },
            "subjects": subject,
        },
    ]


def _probe(path: str, period: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "metrics"},
        "initialDelaySeconds": 5,
        "periodSeconds": period,
        "failureThreshold": 3,
    }


def agent_deployment(namespace: str, image: str, saturation: bool = False) -> KubeObject:
    container: dict[str, Any] = {
        "name": "agent",
        "image": image,
        "args": [
            "agent",
            "--all-namespaces",
            "--leader-elect",
            "--lease-namespace",
            namespace,
            "--metrics-port",
            str(METRICS_PORT),
            "--policies",
            POLICY_MOUNT,
        ],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "livenessProbe": _probe("/healthz", 20),
        "readinessProbe": _probe("/readyz", 10),
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "policies", "mountPath": POLICY_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's
        ],
    }
    volumes: list[dict[str, Any]] = [
        {"name": "policies", "configMap": {"name": f"{AGENT}-policies"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    if saturation:
        container["args"] += [
            "--saturation",
            "--saturation-config",
            SATURATION_MOUNT,
            "--prometheus-config",
            PROMETHEUS_MOUNT,
        ]
        # The token lives in a Secret the platform team creates; absent, none is sent.
        container["env"].append(
            {
                "name": "PROMETHEUS_BEARER_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": PROMETHEUS_CONFIGMAP, "key": "token", "optional": True}
                },
            }
        )
        container["volumeMounts"] += [
            {"name": "prometheus", "mountPath": PROMETHEUS_MOUNT, "readOnly": True},
            {"name": "saturation", "mountPath": SATURATION_MOUNT, "readOnly": True},
        ]
        volumes += [
            {"name": "prometheus", "configMap": {"name": PROMETHEUS_CONFIGMAP}},
            {"name": "saturation", "configMap": {"name": SATURATION_CONFIGMAP}},
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(AGENT, namespace),
        "spec": {
            "replicas": 2,  # one leads (Lease), the other takes over within the lease time
            "selector": {"matchLabels": dict(SELECTOR)},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "serviceAccountName": AGENT,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": dict(SELECTOR)},
                        }
                    ],
                },
            },
        },
    }


def saturation_objects(namespace: str, prometheus_url: str) -> list[KubeObject]:
    """The analyzer's ConfigMaps: where Prometheus is (the PROMETHEUS_* keys, edit to suit)
    and WVA's thresholds, at WVA v0.5.0's defaults."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(PROMETHEUS_CONFIGMAP, namespace),
            "data": {
                "PROMETHEUS_BASE_URL": prometheus_url,
                "PROMETHEUS_TLS_INSECURE_SKIP_VERIFY": "false",
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(SATURATION_CONFIGMAP, namespace),
            "data": {CONFIG_KEY: DEFAULT_THRESHOLDS},
        },
    ]


def agent_objects(
    namespace: str,
    image: str,
    policy_files: Mapping[str, str],
    prometheus_url: str | None = None,
) -> list[KubeObject]:
    """Everything the agent needs in its namespace; `policy_files` are the repository's
    `policies/*.yaml` (the built-in ones ship in the image). With `prometheus_url`, the agent
    also runs the saturation analyzer (`--saturation`) against it."""
    saturation = prometheus_url is not None
    extra = saturation_objects(namespace, prometheus_url) if prometheus_url is not None else []
    return [
        *extra,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)},
        *rbac(namespace),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(f"{AGENT}-policies", namespace),
            "data": dict(sorted(policy_files.items())),
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(f"{AGENT}-metrics", namespace),
            "spec": {
                "selector": dict(SELECTOR),
                "ports": [
                    {
                        "name": "metrics",
                        "port": METRICS_PORT,
                        "targetPort": "metrics",
                        "protocol": "TCP",
                    }
                ],
            },
        },
        agent_deployment(namespace, image, saturation),
    ]
