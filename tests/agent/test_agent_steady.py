"""The agent's steady state (issue 27): a resync of an unchanged fleet writes nothing and
computes nothing, the echo of its own write is not reconciled again, and several workers
never hold the same ModelDeployment at once."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from compiler.core.agent.status import desired_status
from compiler.io.agent import runtime
from compiler.io.agent.runtime import Agent, AgentSettings, WorkQueue
from tests.agent.conftest import (
    BUILTIN_POLICY,
    api_client,
    available,
    deploy,
    progressing,
    settle,
    wait_for,
)

KEY = ("team-a", "phi4")
WRITES = {"PATCH", "PUT", "POST", "DELETE"}


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The MDs whose status the agent computed, in order."""
    calls: list[tuple[str, str]] = []
    original = desired_status

    def counting(observed: Any, policy: Any, now: str) -> dict[str, Any]:
        metadata = observed.model_deployment["metadata"]
        calls.append((metadata["namespace"], metadata["name"]))
        return original(observed, policy, now)

    monkeypatch.setattr(runtime, "desired_status", counting)
    return calls


def listed_agent(url: str, clock: Any) -> Agent:
    """An agent whose caches are listed once, with no threads: every reconcile is a call."""
    agent = Agent(api_client(url), AgentSettings(now=clock, policy=BUILTIN_POLICY))
    for kind in agent.kinds:
        agent._list(kind)
    return agent


def test_steady_resync_makes_no_write_request(emulator, start_agent, compiled_quickstart, clock):
    api, _ = emulator
    for objects in compiled_quickstart.values():
        deploy(api, objects, available())
    agent = start_agent()
    wait_for(lambda: api.count("patch-status") == len(compiled_quickstart), what="one write per MD")
    settle(agent, api)
    mark = len(api.requests)
    clock.value = "2026-11-23T11:30:00Z"  # later: no transition time may move
    for _ in range(3):
        agent.enqueue_all()
        settle(agent, api)
    assert [r for r in api.requests[mark:] if r.method in WRITES] == []
    assert api.requests[mark:] == [r for r in api.requests[mark:] if r.verb == "watch"]


def test_resync_of_a_steady_md_does_not_compute_its_status(
    emulator, compiled_quickstart, clock, computed
):
    """Reproduction: every resync recomputed every MD's status from the cache (about 0.2 ms
    each, so 2 s of CPU per period at 10,000 MDs) to find it unchanged."""
    api, url = emulator
    deploy(api, compiled_quickstart["team-a/phi4"], available())
    agent = listed_agent(url, clock)
    assert agent.reconcile(KEY) == "written"
    assert computed == [KEY]
    clock.value = "2026-11-23T11:30:00Z"
    assert agent.reconcile(KEY) == "unchanged"
    assert agent.reconcile(KEY) == "unchanged"
    assert computed == [KEY]  # nothing it is read from changed: not computed again
    assert api.count("patch-status") == 1


def test_a_changed_input_is_computed_again(emulator, compiled_quickstart, clock, computed):
    api, url = emulator
    deploy(api, compiled_quickstart["team-a/phi4"], available())
    agent = listed_agent(url, clock)
    assert agent.reconcile(KEY) == "written"
    assert agent.reconcile(KEY) == "unchanged"
    assert computed == [KEY]
    # The Deployment controller reports a new rollout: its version moves, the status follows.
    api.set_status("Deployment", *KEY, progressing())
    agent._list(next(k for k in agent.kinds if k.name == "Deployment"))
    clock.value = "2026-11-23T10:05:00Z"
    assert agent.reconcile(KEY) == "written"
    assert computed == [KEY, KEY]
    md = api.get("ModelDeployment", *KEY)
    assert md["status"]["phase"] == "Deploying"
    ready = {c["type"]: c for c in md["status"]["conditions"]}["Ready"]
    assert ready["lastTransitionTime"] == "2026-11-23T10:05:00Z"


def test_an_object_without_a_version_is_always_computed(emulator, compiled_quickstart, clock):
    api, url = emulator
    deploy(api, compiled_quickstart["team-a/phi4"], available())
    agent = listed_agent(url, clock)
    agent.reconcile(KEY)
    del agent.cache["Service"][KEY]["metadata"]["resourceVersion"]
    observed = agent.observed(KEY)
    assert observed is not None
    assert runtime._inputs(observed) is None


def test_the_echo_of_a_cached_version_is_not_queued(emulator, compiled_quickstart, clock):
    """Reproduction: the watch event of the agent's own write (the version its response put
    in the cache) queued the MD again, and every first write cost a second reconcile."""
    api, url = emulator
    deploy(api, compiled_quickstart["team-a/phi4"], available())
    agent = listed_agent(url, clock)
    while len(agent.queue):  # what the lists queued
        queued = agent.queue.get(0)
        assert queued is not None
        agent.queue.done(queued)
    assert agent.reconcile(KEY) == "written"
    kind = next(k for k in agent.kinds if k.name == "ModelDeployment")
    echo = api.get("ModelDeployment", *KEY)
    agent._apply_event(kind, {"type": "MODIFIED", "object": echo})
    assert len(agent.queue) == 0
    # A version the cache does not hold is news, and is queued.
    api.apply({**echo, "metadata": {**echo["metadata"], "labels": {"owner": "platform"}}})
    agent._apply_event(kind, {"type": "MODIFIED", "object": api.get("ModelDeployment", *KEY)})
    assert len(agent.queue) == 1


def test_a_key_is_held_by_one_worker_and_handed_out_again_after():
    queue = WorkQueue()
    queue.put(KEY, ("team-b", "other"))
    first = queue.get(0)
    assert first == KEY
    queue.put(KEY)  # an event while a worker has it: not handed to a second worker
    assert queue.get(0) == ("team-b", "other")
    assert queue.get(0) is None
    assert len(queue) == 2  # both still being processed
    queue.done(("team-b", "other"))
    queue.done(KEY)
    assert queue.get(0) == KEY  # the event is not lost: handed out once the first is done
    queue.done(KEY)
    assert len(queue) == 0


def test_several_workers_write_each_status_once(emulator, start_agent, compiled_quickstart):
    api, _ = emulator
    for objects in compiled_quickstart.values():
        deploy(api, objects, available())
    holding: set[tuple[str, str]] = set()
    overlaps: list[tuple[str, str]] = []
    guard = threading.Lock()
    original = Agent.reconcile

    def watched(self: Agent, key: tuple[str, str]) -> str:
        with guard:
            if key in holding:
                overlaps.append(key)
            holding.add(key)
        try:
            return original(self, key)
        finally:
            with guard:
                holding.discard(key)

    Agent.reconcile = watched  # type: ignore[method-assign]
    try:
        agent = start_agent(workers=4)
        wait_for(lambda: api.count("patch-status") == len(compiled_quickstart), what="every status")
        agent.enqueue_all()
        settle(agent, api)
    finally:
        Agent.reconcile = original  # type: ignore[method-assign]
    assert len([t for t in agent._threads if t.name.startswith("worker-")]) == 4
    assert overlaps == []
    assert api.count("patch-status") == len(compiled_quickstart)
    for key in compiled_quickstart:
        assert api.get("ModelDeployment", *key.split("/"))["status"]["phase"] == "Running"


def test_the_cache_keeps_what_status_is_read_from(emulator, compiled_quickstart, clock):
    """Reproduction: at 10,000 MDs the agent's peak RSS was 478 MiB (target 300), most of it
    pod templates, Service specs and whole lists parsed at once that no status reads."""
    api, url = emulator
    objects = compiled_quickstart["team-a/phi4"]
    deploy(api, objects, available())
    agent = listed_agent(url, clock)
    deployment = agent.cache["Deployment"][KEY]
    assert "template" not in deployment["spec"]
    assert deployment["spec"]["replicas"] == objects["Deployment"]["spec"]["replicas"]
    assert deployment["metadata"]["labels"] == objects["Deployment"]["metadata"]["labels"]
    assert deployment["status"] == available()
    assert "spec" not in agent.cache["Service"][KEY]
    assert agent.reconcile(KEY) == "written"
    md = api.get("ModelDeployment", *KEY)
    assert md["status"]["phase"] == "Running"
    assert md["status"]["endpoint"] == {"service": "phi4", "port": 8000}
    assert agent.cache["ModelDeployment"][KEY] == md  # the cached MD is the server's


@pytest.mark.parametrize(
    "text",
    [
        '{"kind":"DeploymentList","items":[]}',
        '{ "metadata" : {"resourceVersion": "7"} ,\n "items" : [ {"a": 1} , {"b": [{"c": 0}]} ] }',
        '{"items": [1, "x", {"y": true}], "z": {"items": []}}',
        '{"items": [{"k": "\\u00e9\\u2028"}]}',
        "{}",
    ],
)
def test_a_list_parsed_item_by_item_is_the_same_json(text):
    assert runtime._list_body(text, lambda item: item) == json.loads(text)


@pytest.mark.parametrize(
    "text", ["[]", '{"items": [1,}', '{"a": 1', '{"a" 1}', "", '{"items": [1 2]}']
)
def test_a_malformed_list_is_refused_as_json_refuses_it(text):
    with pytest.raises(ValueError):
        runtime._list_body(text, lambda item: item)
