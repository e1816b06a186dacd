"""Fixtures for the status agent: the Kubernetes API emulator on loopback, agents driven
through the real `kubernetes` client, and compiled objects from the quickstart example."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from compiler.io.agent.runtime import Agent, AgentSettings
from compiler.io.workspace import load_policy
from tests.agent.emulator import KubeEmulator, serve
from tests.conftest import QUICKSTART, run_cli

Objects = dict[str, dict[str, Any]]
BUILTIN_POLICY = load_policy(None)


@pytest.fixture
def emulator() -> Iterator[tuple[KubeEmulator, str]]:
    api = KubeEmulator()
    with serve(api) as url:
        yield api, url


def api_client(url: str, identity: str = "runwayc-agent/test") -> client.ApiClient:
    configuration = client.Configuration(host=url)
    api = client.ApiClient(configuration)
    api.user_agent = identity
    return api


class Clock:
    """A settable `now` for the agent, so tests can tell when conditions were written."""

    def __init__(self) -> None:
        self.value = "2026-11-23T10:00:00Z"

    def __call__(self) -> str:
        return self.value


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def start_agent(emulator: tuple[KubeEmulator, str], clock: Clock) -> Iterator[Callable[..., Agent]]:
    _, url = emulator
    started: list[Agent] = []

    def start(**settings: Any) -> Agent:
        settings.setdefault("watch_timeout_seconds", 2)
        settings.setdefault("resync_seconds", 3600)
        settings.setdefault("backoff_seconds", 0.1)
        settings.setdefault("now", clock)
        settings.setdefault("policy", BUILTIN_POLICY)
        agent = Agent(api_client(url), AgentSettings(**settings))
        agent.start()
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.shutdown()


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """The first true value of `predicate`, polled. `timeout` only bounds a hang: on a loaded
    machine an agent takes seconds to list, so it is not a measure of anything."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def deploy(api: KubeEmulator, objects: Objects, status: dict[str, Any] | None = None) -> None:
    """What the GitOps tool applies for one compiled MD; `status`: what the Deployment
    controller then reports for it."""
    for kind in ("ModelDeployment", "Service", "Deployment"):
        if kind in objects:
            api.apply(objects[kind])
    if status is not None:
        meta = objects["Deployment"]["metadata"]
        api.set_status("Deployment", meta["namespace"], meta["name"], status)


def status_written(api: KubeEmulator, namespace: str, name: str) -> dict[str, Any]:
    """The MD once the agent has written a status onto it."""
    return wait_for(
        lambda: (md := api.get("ModelDeployment", namespace, name)).get("status") and md,
        what=f"a status on {namespace}/{name}",
    )


def settle(agent: Agent, emulator: KubeEmulator, quiet: float = 0.4) -> None:
    """Wait until the agent is synced, its queue is empty and no request came for `quiet` s."""
    wait_for(lambda: agent.ready, what="caches synced")
    last = -1
    while True:
        wait_for(lambda: len(agent.queue) == 0, what="empty queue")
        seen = len(emulator.requests)
        if seen == last:
            return
        last = seen
        time.sleep(quiet)


@pytest.fixture(scope="session")
def compiled_quickstart(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Objects]:
    """The quickstart compiled for dev: objects by `namespace/name`, then by kind."""
    repo = tmp_path_factory.mktemp("agent") / "quickstart"
    shutil.copytree(QUICKSTART, repo)
    result = run_cli("compile", "--locked", "--env", "dev", repo)
    assert result.exit_code == 0, result.stderr
    found: dict[str, Objects] = {}
    for manifest in sorted(Path(repo, "rendered", "dev").glob("*/*/manifest.yaml")):
        key = f"{manifest.parent.parent.name}/{manifest.parent.name}"
        for obj in yaml.safe_load_all(manifest.read_text()):
            found.setdefault(key, {})[obj["kind"]] = obj
    return found


def available(replicas: int = 1) -> dict[str, Any]:
    """A Deployment status after a finished rollout."""
    return {
        "observedGeneration": 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ],
    }


def progressing(replicas: int = 1, ready: int = 0) -> dict[str, Any]:
    """A Deployment status while its pods load the model."""
    return {
        "observedGeneration": 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": replicas - ready,
        "conditions": [
            {
                "type": "Available",
                "status": "False",
                "reason": "MinimumReplicasUnavailable",
                "message": "Deployment does not have minimum availability.",
            },
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
        ],
    }
