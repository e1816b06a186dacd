"""The agent as a process would run it: health, readiness and metrics over HTTP, and two
replicas of which only the Lease holder writes (against the Kubernetes API emulator)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from compiler.io.agent import serve
from compiler.io.agent.runtime import Agent, AgentSettings
from compiler.io.agent.serve import health_server
from tests.agent.conftest import (
    BUILTIN_POLICY,
    api_client,
    available,
    deploy,
    progressing,
    settle,
    wait_for,
)
from tests.agent.emulator import KubeEmulator, write_kubeconfig


def test_health_readiness_and_metrics(emulator, compiled_quickstart, clock):
    api, url = emulator
    deploy(api, compiled_quickstart["team-a/phi4"])
    agent = Agent(
        api_client(url),
        AgentSettings(now=clock, policy=BUILTIN_POLICY, watch_timeout_seconds=2),
    )
    server = health_server(agent, agent.metrics, 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert httpx.get(f"{base}/readyz").status_code == 503  # nothing listed yet
        assert httpx.get(f"{base}/healthz").status_code == 200
        agent.start()
        wait_for(lambda: httpx.get(f"{base}/readyz").status_code == 200, what="ready")
        # The write itself, not a quiet spell: on a loaded machine the worker can still be
        # computing the status when the queue is already empty.
        wait_for(lambda: agent.metrics.reconciles.labels("written")._value.get(), what="a write")
        settle(agent, api)
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'runwayc_agent_reconciles_total{result="written"} 1.0' in metrics.text
        assert 'runwayc_agent_cached_objects{kind="ModelDeployment"} 1.0' in metrics.text
        assert "# TYPE runwayc_agent_watch_restarts_total counter" in metrics.text
        assert "# TYPE runwayc_agent_errors_total counter" in metrics.text
        assert httpx.get(f"{base}/nothing").status_code == 404
    finally:
        agent.shutdown()
        server.shutdown()
        server.server_close()


# Bounds a hang only: two agent processes importing on a loaded 2-core machine take seconds.
DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int, path: str) -> httpx.Response | None:
    """A replica's health endpoint, or None while it is not listening yet."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=DEADLINE)
    except httpx.TransportError:
        return None


def reconciles(port: int) -> dict[str, float]:
    """A replica's `runwayc_agent_reconciles_total`, by result."""
    response = scrape(port, "/metrics")
    assert response is not None
    return {
        sample.labels["result"]: sample.value
        for family in text_string_to_metric_families(response.text)
        if family.name == "runwayc_agent_reconciles"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def lease_requests(api: KubeEmulator, user_agent: str, verb: str, after: int = 0) -> int:
    """How many `verb` requests on the Lease `user_agent` made from position `after` of the
    request log on."""
    log = list(api.requests)[after:]
    return sum(1 for r in log if (r.user_agent, r.verb, r.kind) == (user_agent, verb, "Lease"))


def lease_holder(api: KubeEmulator) -> str | None:
    try:
        lease = api.get("Lease", "runwayc-system", "runwayc-agent")
    except KeyError:
        return None
    return lease.get("spec", {}).get("holderIdentity")


def phase(api: KubeEmulator, key: str) -> str | None:
    namespace, name = key.split("/")
    return (api.get("ModelDeployment", namespace, name).get("status") or {}).get("phase")


def test_only_the_lease_holder_writes_status(emulator, compiled_quickstart, tmp_path):
    """Two `runwayc agent --leader-elect` processes, as the two replicas run. Every step waits
    for what the replicas show (the emulator's request log, their /readyz and /metrics), with
    no sleeps: on a loaded machine the two processes start seconds apart."""
    api, url = emulator
    for objects in compiled_quickstart.values():
        deploy(api, objects, available())
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(url, kubeconfig)
    command = [
        sys.executable,
        "-m",
        "compiler.cli",
        "agent",
        "--all-namespaces",
        "--kubeconfig",
        str(kubeconfig),
        "--leader-elect",
        "--metrics-port",
    ]
    ports = {name: free_port() for name in ("agent-a", "agent-b")}
    processes = {
        name: subprocess.Popen(
            [*command, str(port)],
            env={**os.environ, "POD_NAME": name},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, port in ports.items()
    }

    def up(predicate: Callable[[], Any]) -> Callable[[], Any]:
        """`predicate`, failing at once (not at the deadline) if a replica has exited."""

        def check() -> Any:
            exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
            assert not exited, exited
            return predicate()

        return check

    def ready(port: int) -> bool:
        response = scrape(port, "/readyz")
        return response is not None and response.status_code == 200

    try:
        # Both replicas have listed every kind and watch it: a warm standby.
        wait_for(
            up(lambda: all(ready(port) for port in ports.values())),
            timeout=DEADLINE,
            what="both replicas ready",
        )
        holder = wait_for(up(lambda: lease_holder(api)), timeout=DEADLINE, what="a Lease holder")
        (standby,) = set(ports) - {holder}
        writer = f"runwayc-agent ({holder})"
        wait_for(
            up(lambda: all(phase(api, key) for key in compiled_quickstart)),
            timeout=DEADLINE,
            what="a status on every MD",
        )
        assert phase(api, "team-a/phi4") == "Running"
        # A rollout both replicas see through their watches: the holder writes it.
        progressing_md = "team-a/phi4"
        meta = compiled_quickstart[progressing_md]["Deployment"]["metadata"]
        api.set_status("Deployment", meta["namespace"], meta["name"], progressing())
        wait_for(
            up(lambda: phase(api, progressing_md) == "Deploying"),
            timeout=DEADLINE,
            what="the rollout in the status",
        )
        # The standby has had its chance: since then it has asked for the Lease twice (a
        # retry period apart) and been refused, and the holder has renewed it.
        since = len(api.requests)
        wait_for(
            up(lambda: lease_requests(api, f"runwayc-agent ({standby})", "get", since) >= 2),
            timeout=DEADLINE,
            what="the standby to try the Lease",
        )
        wait_for(
            up(lambda: lease_requests(api, writer, "replace", since)),
            timeout=DEADLINE,
            what="the holder to renew the Lease",
        )
        assert lease_holder(api) == holder  # no hand-over on the way
        writers = {r.user_agent for r in api.requests if r.verb == "patch-status"}
        assert writers == {writer}
        # Each MD written once, then the rollout.
        assert api.count("patch-status") == len(compiled_quickstart) + 1
        # The standby computed nothing at all: it dropped every event.
        assert sum(reconciles(ports[standby]).values()) == 0
        assert reconciles(ports[holder])["written"] == len(compiled_quickstart) + 1
        # Only the holder renews the Lease.
        renewers = {r.user_agent for r in api.requests if r.verb == "replace"}
        assert renewers == {writer}
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        errors = {
            name: process.communicate(timeout=DEADLINE)[1] for name, process in processes.items()
        }
    codes = {name: process.returncode for name, process in processes.items()}
    assert codes == {"agent-a": 0, "agent-b": 0}, errors


class Election:
    """LeaderElection's one step, scripted: each try answers the next of `answers` (an
    exception is raised), the last one forever."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.answers: Iterator[bool | Exception] = iter(answers)
        self.last: bool | Exception = False
        self.tries = 0

    def try_acquire_or_renew(self) -> bool:
        self.tries += 1
        self.last = next(self.answers, self.last)
        if isinstance(self.last, Exception):
            raise self.last
        return self.last


@pytest.fixture
def fast_election(monkeypatch):
    monkeypatch.setattr(serve, "RETRY_SECONDS", 0.01)
    monkeypatch.setattr(serve, "RENEW_DEADLINE_SECONDS", 0.1)


def lead(agent: Agent, election: Election) -> tuple[threading.Thread, threading.Event]:
    lost = threading.Event()
    thread = threading.Thread(target=serve._lead, args=(election, agent, lost), daemon=True)
    thread.start()
    return thread, lost


def test_a_leader_that_cannot_reach_the_api_stops_writing(emulator, fast_election):
    """A broken connection on renewal is a failed renewal, not the end of the election loop
    (which would leave a leader writing on after its Lease expired)."""
    _, url = emulator
    agent = Agent(api_client(url), AgentSettings())
    election = Election(True, OSError("connection refused"))
    thread, lost = lead(agent, election)
    thread.join(DEADLINE)
    assert not thread.is_alive()
    assert lost.is_set()
    assert agent.stop.is_set()
    assert not agent.leading.is_set()
    assert election.tries >= 3  # renewal was retried until the deadline


def test_a_standby_keeps_trying_through_errors_and_stops_on_sigterm(emulator, fast_election):
    _, url = emulator
    agent = Agent(api_client(url), AgentSettings())
    election = Election(OSError("connection reset"), False)
    thread, lost = lead(agent, election)
    wait_for(lambda: election.tries >= 3, what="tries after the error")
    assert thread.is_alive()
    assert not agent.leading.is_set()
    agent.stop.set()  # what SIGTERM does
    thread.join(DEADLINE)
    assert not thread.is_alive()  # so the process can join it before exiting
    assert not lost.is_set()
