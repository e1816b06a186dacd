"""Running the agent as a process: cluster credentials, the health and metrics endpoint,
leader election through a Lease, and a clean stop on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from urllib3.exceptions import HTTPError

from compiler.core.agent.deployment import DEFAULT_WORKERS, LEASE_NAME
from compiler.core.agent.saturation import CONFIG_KEY, SaturationConfig, saturation_config
from compiler.core.errors import AgentError
from compiler.core.policy import PolicySet
from compiler.io.agent.analyzer import SaturationAnalyzer
from compiler.io.agent.prometheus import PrometheusClient, PrometheusConfig
from compiler.io.agent.prometheus import load_config as load_prometheus_config
from compiler.io.agent.runtime import Agent, AgentSettings, Metrics
from compiler.io.workspace import load_policy, mounted_configmap

log = logging.getLogger("runwayc.agent")

# client-go's defaults for controllers: a standby takes over within ~15 s of a lost leader.
LEASE_SECONDS = 15
RENEW_DEADLINE_SECONDS = 10
RETRY_SECONDS = 2


@dataclass(frozen=True, slots=True)
class AgentOptions:
    namespace: str | None
    kubeconfig: Path | None
    metrics_port: int
    leader_elect: bool
    lease_namespace: str
    policy: PolicySet
    resync_seconds: float
    workers: int = DEFAULT_WORKERS
    # --saturation: the analyzer's thresholds and Prometheus (None: no analyzer).
    saturation: SaturationOptions | None = None


@dataclass(frozen=True, slots=True)
class SaturationOptions:
    config: SaturationConfig
    prometheus: PrometheusConfig
    interval_seconds: float


def saturation_options(
    config_dir: Path | None, prometheus_dir: Path, interval_seconds: float
) -> SaturationOptions:
    """The analyzer's settings, read and validated before the agent starts: a bad threshold
    or a missing Prometheus stops the process with its reason, not later in a loop."""
    data: dict[str, str] = {}
    source = "built-in thresholds"
    if config_dir is not None:
        source = f"ConfigMap at {config_dir}"
        data = mounted_configmap(config_dir, [CONFIG_KEY])
    return SaturationOptions(
        saturation_config(data, source),
        load_prometheus_config(configmap_dir=prometheus_dir),
        interval_seconds,
    )


def agent_options(
    *,
    namespace: str | None,
    kubeconfig: Path | None,
    metrics_port: int,
    leader_elect: bool,
    lease_namespace: str,
    policies: Path | None,
    resync_seconds: float,
    saturation: bool,
    workers: int = DEFAULT_WORKERS,
    saturation_interval: float,
    saturation_config: Path | None,
    prometheus_config: Path,
) -> AgentOptions:
    """`runwayc agent`'s flags as options, everything they name read and checked first: the
    analyzer's settings (with --saturation), then the policy (built-in plus `policies`)."""
    analysis = None
    if saturation:
        analysis = saturation_options(saturation_config, prometheus_config, saturation_interval)
    return AgentOptions(
        namespace=namespace,
        kubeconfig=kubeconfig,
        metrics_port=metrics_port,
        leader_elect=leader_elect,
        lease_namespace=lease_namespace,
        policy=load_policy(policies),
        resync_seconds=resync_seconds,
        workers=workers,
        saturation=analysis,
    )


def identity() -> str:
    """Who this replica is, in the Lease and in the API server's audit log."""
    return os.environ.get("POD_NAME") or socket.gethostname()


def api_client(kubeconfig: Path | None) -> client.ApiClient:
    """In-cluster credentials (the ServiceAccount), or a kubeconfig when given or outside."""
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
        else:
            config.load_kube_config(config_file=str(kubeconfig) if kubeconfig else None)
    except (ConfigException, OSError) as exc:
        raise AgentError(f"no cluster credentials: {str(exc)[:200]}") from exc
    api = client.ApiClient()
    api.user_agent = f"runwayc-agent ({identity()})"
    return api


def health_server(agent: Agent, metrics: Metrics, port: int) -> ThreadingHTTPServer:
    """`/healthz` (the loop is alive), `/readyz` (every cache is synced) and `/metrics`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                alive = not agent.stop.is_set()
                self._send(200 if alive else 503, b"ok\n" if alive else b"stopping\n")
            elif self.path == "/readyz":
                ready = agent.ready
                self._send(200 if ready else 503, b"ok\n" if ready else b"caches not synced\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    # Every interface: the kubelet probes and Prometheus scrapes the pod IP.
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def elect(
    agent: Agent,
    api: client.ApiClient,
    namespace: str,
    lost: threading.Event,
) -> threading.Thread:
    """Lead through the Lease; reconcile only while leading. Losing the Lease stops the
    process (the Deployment restarts it as a standby), as client-go controllers do.

    Returns the election thread, which ends once `agent.stop` is set: the process joins it
    before exiting, because a daemon thread whose request returns while the interpreter
    finalizes aborts the process (SIGABRT instead of a clean exit on SIGTERM)."""
    from kubernetes.leaderelection import electionconfig, leaderelection
    from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

    lock = LeaseLock(LEASE_NAME, namespace, identity())
    # The Lease calls go out as this replica (its user agent), like its watches and writes;
    # LeaseLock would otherwise build a client of its own with the generic one.
    lock.api_instance = client.CoordinationV1Api(api)
    election = leaderelection.LeaderElection(
        electionconfig.Config(
            lock,
            lease_duration=LEASE_SECONDS,
            renew_deadline=RENEW_DEADLINE_SECONDS,
            retry_period=RETRY_SECONDS,
            # Config checks the timings and wants a callback; `_lead` runs the loop itself.
            onstarted_leading=agent.start_leading,
            onstopped_leading=None,
        )
    )
    thread = threading.Thread(
        target=_lead, args=(election, agent, lost), name="leader-election", daemon=True
    )
    thread.start()
    return thread


def _attempt(election: Any) -> bool:
    """One try to take or renew the Lease. LeaseLock turns API errors into False, but not a
    broken connection: counted as a failed try here, since the library's own loop would die
    of it, leaving a leader that never renews yet keeps writing, or a standby that never
    takes over."""
    try:
        return bool(election.try_acquire_or_renew())
    except (ApiException, HTTPError, OSError, ValueError) as exc:
        log.warning("leader election: the Lease could not be read or written: %s", exc)
        return False


def _lead(election: Any, agent: Agent, lost: threading.Event) -> None:
    """client-go's loop (what `LeaderElection.run` does), but stoppable: every wait is on
    `agent.stop`, so SIGTERM ends it within one request."""
    stop = agent.stop
    while not _attempt(election):
        if stop.wait(RETRY_SECONDS):
            return
    log.info("%s holds the Lease %s", identity(), LEASE_NAME)
    agent.start_leading()
    while not stop.wait(RETRY_SECONDS):
        deadline = time.monotonic() + RENEW_DEADLINE_SECONDS
        while not _attempt(election):
            if stop.wait(RETRY_SECONDS):
                return
            if time.monotonic() >= deadline:
                # Not renewed in time: a standby may take the Lease once it expires, so stop
                # writing before then.
                lost.set()
                agent.stop_leading()
                return


def run_agent(options: AgentOptions) -> None:
    api = api_client(options.kubeconfig)
    metrics = Metrics()
    agent = Agent(
        api,
        AgentSettings(
            namespace=options.namespace,
            resync_seconds=options.resync_seconds,
            policy=options.policy,
            workers=options.workers,
        ),
        metrics,
    )

    def terminate(signum: int, frame: FrameType | None) -> None:
        agent.stop.set()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    server = health_server(agent, metrics, options.metrics_port) if options.metrics_port else None
    lost = threading.Event()
    analyzer = None
    if options.saturation is not None:
        analyzer = SaturationAnalyzer(
            agent,
            PrometheusClient(options.saturation.prometheus),
            options.saturation.config,
            options.saturation.interval_seconds,
        )
    agent.start(leading=not options.leader_elect)
    if analyzer is not None:
        analyzer.start()
    election = elect(agent, api, options.lease_namespace, lost) if options.leader_elect else None
    where = options.namespace or "all namespaces"
    log.info("runwayc agent watching %s", where)
    agent.stop.wait()
    agent.shutdown()
    if election is not None:
        election.join(RENEW_DEADLINE_SECONDS)
    if analyzer is not None:
        analyzer.join(10.0)
    if server is not None:
        server.shutdown()
    if lost.is_set():
        raise AgentError("lost the leader Lease; exiting so that a standby takes over")
