"""What `runwayc bootstrap --cluster` renders: the ModelDeployment CRD, the admission policy,
and the status agent with its RBAC. Pure: policy data and names in, objects out."""

from __future__ import annotations

from collections.abc import Mapping

from compiler.core.agent.deployment import DEFAULT_NAMESPACE
from compiler.core.cluster.admission import admission_policy
from compiler.core.cluster.agent import agent_image, agent_objects
from compiler.core.cluster.crd import model_deployment_crd
from compiler.core.emit import object_sort_key
from compiler.core.kube import KubeObject
from compiler.core.policy import PolicySet

__all__ = ["DEFAULT_NAMESPACE", "agent_image", "cluster_objects"]


def cluster_objects(
    policy: PolicySet,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    image: str,
    policy_files: Mapping[str, str] | None = None,
    saturation: bool = False,
) -> list[KubeObject]:
    # The analyzer asks the Prometheus the KEDA triggers query (policies/autoscaling.yaml).
    keda = policy.autoscaling.keda
    prometheus_url = (keda.server_address if keda else "") if saturation else None
    objects = [
        model_deployment_crd(policy),
        *admission_policy(policy),
        *agent_objects(namespace, image, policy_files or {}, prometheus_url),
    ]
    return sorted(objects, key=object_sort_key)
