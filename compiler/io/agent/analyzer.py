"""`runwayc agent --saturation`: the analyzer's cycle, between Prometheus and the agent.

Each cycle takes the variants (ModelDeployments in mode wva and their Deployments) from the
agent's cache, asks Prometheus for each model's replica loads (two queries per model and
namespace), decides with `compiler.core.agent.saturation`, and hands the decisions to the agent,
which publishes `wva_desired_replicas` and writes the Saturated / ScalingBlocked conditions.
A cycle that cannot reach Prometheus changes nothing: the last decisions stand.
"""

from __future__ import annotations

import logging
import threading

from compiler.core.agent.saturation import Decision, ReplicaLoad, SaturationConfig, decide
from compiler.core.errors import PrometheusError
from compiler.io.agent.prometheus import PrometheusClient
from compiler.io.agent.runtime import Agent

log = logging.getLogger("runwayc.agent")


class SaturationAnalyzer:
    def __init__(
        self,
        agent: Agent,
        client: PrometheusClient,
        config: SaturationConfig,
        interval_seconds: float = 30.0,
    ) -> None:
        self.agent = agent
        self.client = client
        self.config = config
        self.interval_seconds = interval_seconds
        self._thread: threading.Thread | None = None

    def cycle(self) -> dict[str, Decision]:
        """One analysis of every variant; the decisions, also handed to the agent."""
        variants = self.agent.variants()
        loads: dict[tuple[str, str], list[ReplicaLoad]] = {}
        for namespace, model in sorted({(v.namespace, v.model) for v in variants}):
            loads[(namespace, model)] = self.client.replica_loads(
                namespace, model, self.config.window
            )
        decisions = decide(variants, loads, self.config)
        for key, decision in sorted(decisions.items()):
            if decision.action != "Hold" or decision.blocked:
                log.info("saturation %s: %s", key, decision.message)
        self.agent.record_saturation(decisions)
        return decisions

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="saturation", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        agent = self.agent
        while not agent.stop.wait(self.interval_seconds):
            if not (agent.leading.is_set() and agent.ready):
                continue
            try:
                self.cycle()
            except PrometheusError as exc:
                agent.metrics.errors.labels("prometheus query").inc()
                log.warning("saturation analysis skipped: %s", exc)

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.close()
