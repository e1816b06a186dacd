"""How the agent runs in the cluster: the facts its Deployment and RBAC
(compiler.core.cluster.agent) and its process (the `agent` command, compiler.io.agent) must
agree on. A module of constants alone, so the CLI can offer them as defaults without
importing the cluster objects at start-up."""

from __future__ import annotations

AGENT = "runwayc-agent"
# The Lease the replicas elect a leader with; the RBAC grants exactly this name.
LEASE_NAME = AGENT
DEFAULT_NAMESPACE = "runwayc-system"
METRICS_PORT = 8080
POLICY_MOUNT = "/etc/runwayc/policies"
# --saturation: where the analyzer's two ConfigMaps are mounted (the agent's defaults).
PROMETHEUS_MOUNT = "/etc/runwayc/prometheus"
SATURATION_MOUNT = "/etc/runwayc/saturation"
# Status writes in flight at once (`runwayc agent --workers`).
DEFAULT_WORKERS = 1
