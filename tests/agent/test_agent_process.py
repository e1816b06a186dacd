"""The agent as a process would run it: health, readiness and metrics over HTTP, and two
replicas of which only the Lease holder writes (against the Kubernetes API emulator)."""

from __future__ import annotations

import threading

import httpx
from kubernetes import client

from compiler.agent.runtime import Agent, AgentSettings
from compiler.agent.serve import LeaseTimings, elect, health_server
from tests.agent.conftest import BUILTIN_POLICY, api_client, available, settle, wait_for


def test_health_readiness_and_metrics(emulator, compiled_quickstart, clock):
    api, url = emulator
    for kind in ("ModelDeployment", "Service", "Deployment"):
        api.apply(compiled_quickstart["team-a/phi4"][kind])
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


def test_only_the_lease_holder_writes_status(emulator, compiled_quickstart, clock):
    api, url = emulator
    for objects in compiled_quickstart.values():
        for kind in ("ModelDeployment", "Service", "Deployment"):
            api.apply(objects[kind])
        meta = objects["Deployment"]["metadata"]
        api.set_status("Deployment", meta["namespace"], meta["name"], available())
    previous = client.Configuration.get_default_copy()
    client.Configuration.set_default(client.Configuration(host=url))  # what LeaseLock uses
    settings = AgentSettings(now=clock, policy=BUILTIN_POLICY, watch_timeout_seconds=2)
    agents = {name: Agent(api_client(url, f"runwayc-agent/{name}"), settings) for name in "ab"}
    lost = {name: threading.Event() for name in agents}
    try:
        for name, agent in agents.items():
            agent.start(leading=False)
            elect(agent, "runwayc-system", lost[name], f"agent-{name}", LeaseTimings(30, 2, 1))
        wait_for(
            lambda: api.count("patch-status") == len(compiled_quickstart),
            what="every MD written once",
        )
        for agent in agents.values():
            settle(agent, api)
        leaders = [name for name, agent in agents.items() if agent.leading.is_set()]
        assert len(leaders) == 1
        lease = api.get("Lease", "runwayc-system", "runwayc-agent")
        assert lease["spec"]["holderIdentity"] == f"agent-{leaders[0]}"
        writers = {r.user_agent for r in api.requests if r.verb == "patch-status"}
        assert writers == {f"runwayc-agent/{leaders[0]}"}
        assert not any(event.is_set() for event in lost.values())
    finally:
        for agent in agents.values():
            agent.shutdown()
        # The library's election threads cannot be stopped; point them at nothing.
        closed = client.Configuration(host="http://127.0.0.1:9")
        client.Configuration.set_default(closed)
        del previous
