"""The agent as a process would run it: health, readiness and metrics over HTTP, and two
replicas of which only the Lease holder writes (against the Kubernetes API emulator)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import yaml

from compiler.agent.runtime import Agent, AgentSettings
from compiler.agent.serve import health_server
from tests.agent.conftest import BUILTIN_POLICY, api_client, available, deploy, settle, wait_for


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


def test_only_the_lease_holder_writes_status(emulator, compiled_quickstart, tmp_path):
    """Two `runwayc agent --leader-elect` processes, as the two replicas run."""
    api, url = emulator
    for objects in compiled_quickstart.values():
        deploy(api, objects, available())
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulator", "cluster": {"server": url}}],
                "users": [{"name": "agent", "user": {}}],
                "contexts": [{"name": "e", "context": {"cluster": "emulator", "user": "agent"}}],
                "current-context": "e",
            }
        )
    )
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
        "0",
    ]
    processes = {
        name: subprocess.Popen(
            command,
            env={**os.environ, "POD_NAME": f"agent-{name}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in "ab"
    }
    try:
        wait_for(
            lambda: api.count("patch-status") == len(compiled_quickstart),
            timeout=30,
            what="every MD written once",
        )
        time.sleep(1.0)  # the standby has had time to try
        lease = api.get("Lease", "runwayc-system", "runwayc-agent")
        holder = lease["spec"]["holderIdentity"]
        writers = {r.user_agent for r in api.requests if r.verb == "patch-status"}
        assert writers == {f"runwayc-agent ({holder})"}
        assert api.count("patch-status") == len(compiled_quickstart)
        # Both watch (a warm standby); only the holder renews the Lease.
        watchers = {r.user_agent for r in api.requests if r.verb == "watch"}
        assert watchers == {"runwayc-agent (agent-a)", "runwayc-agent (agent-b)"}
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        errors = {name: process.communicate(timeout=30)[1] for name, process in processes.items()}
    codes = {name: process.returncode for name, process in processes.items()}
    assert codes == {"a": 0, "b": 0}, errors
