"""The status agent against the Kubernetes API emulator (tests/agent/emulator.py), driven
through the real `kubernetes` client: the seed situations of the agent issue."""

from __future__ import annotations

import copy
from typing import Any

from compiler.io.agent.runtime import Agent, AgentSettings
from tests.agent.conftest import (
    api_client,
    available,
    deploy,
    progressing,
    settle,
    status_written,
    wait_for,
)

KEY = "team-a/phi4"


def conditions(md: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (md.get("status") or {}).get("conditions", [])}


def test_provider_and_digest_appear_in_status(emulator, start_agent, compiled_quickstart):
    api, _ = emulator
    objects = compiled_quickstart[KEY]
    deploy(api, objects, available())
    agent = start_agent()
    md = status_written(api, "team-a", "phi4")
    settle(agent, api)
    md = api.get("ModelDeployment", "team-a", "phi4")
    annotations = objects["ModelDeployment"]["metadata"]["annotations"]
    status = md["status"]
    assert status["provider"]["name"] == "vllm"
    assert status["image"]["digest"] == annotations["runwayc.dev/image-digest"]
    assert status["image"]["resolved"].endswith("@" + annotations["runwayc.dev/image-digest"])
    assert status["phase"] == "Running"
    assert status["replicas"] == {"desired": 1, "ready": 1, "available": 1, "pending": 0}
    assert status["endpoint"] == {"service": "phi4", "port": 8000}
    assert status["observedGeneration"] == md["metadata"]["generation"]
    assert conditions(md)["InSync"]["status"] == "True"
    assert conditions(md)["Ready"]["reason"] == "DeploymentReady"
    # One write for the first status; the agent's own write echoing back writes nothing.
    assert api.count("patch-status") == 1
    # Watch only: no per-object GETs, and nothing but status was ever written.
    assert api.count("get") == 0
    assert {r.verb for r in api.requests} <= {"list", "watch", "patch-status"}


def test_foreign_deployment_is_never_touched_and_reported(
    emulator, start_agent, compiled_quickstart
):
    api, _ = emulator
    objects = compiled_quickstart[KEY]
    api.apply(objects["ModelDeployment"])
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "phi4", "namespace": "team-a", "labels": {"app": "someone-else"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "someone-else"}},
            "template": {
                "metadata": {"labels": {"app": "someone-else"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    before = api.apply(foreign)
    api.set_status("Deployment", "team-a", "phi4", available(3))
    before = api.get("Deployment", "team-a", "phi4")
    agent = start_agent()
    status_written(api, "team-a", "phi4")
    settle(agent, api)
    md = api.get("ModelDeployment", "team-a", "phi4")
    after = api.get("Deployment", "team-a", "phi4")
    assert after == before  # same UID, image, resourceVersion; still no owner references
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert "ownerReferences" not in after["metadata"]
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    created = conditions(md)["ResourceCreated"]
    assert created["status"] == "False"
    assert created["reason"] == "ResourceConflict"
    assert created["message"] == (
        "Deployment team-a/phi4 exists but is not managed by this ModelDeployment "
        "(no owner references)"
    )
    assert md["status"]["phase"] == "Failed"
    assert conditions(md)["Ready"]["reason"] == "DeploymentFailed"
    assert api.count("patch-status", "Deployment") == 0


def test_restart_changes_nothing_and_writes_nothing(
    emulator, start_agent, compiled_quickstart, clock
):
    api, _ = emulator
    for objects in compiled_quickstart.values():
        deploy(api, objects, available())
    first = start_agent()
    wait_for(lambda: api.count("patch-status") == len(compiled_quickstart), what="one write per MD")
    settle(first, api)
    first.shutdown()
    world = {key: copy.deepcopy(obj) for key, obj in api.objects.items()}
    writes = api.count("patch-status")
    clock.value = "2026-11-23T11:30:00Z"  # a later start: transition times must not move
    second = start_agent()
    # Every MD looked at (the worker may still be on the last one when the queue is already
    # empty), then no request for a while: nothing was written.
    results = second.metrics.reconciles
    wait_for(
        lambda: (
            sum(results.labels(r)._value.get() for r in ("written", "unchanged", "gone"))
            >= len(compiled_quickstart)
        ),
        what="every MD reconciled",
    )
    settle(second, api)
    assert api.count("patch-status") == writes
    assert api.objects == world
    assert results.labels("unchanged")._value.get() >= len(compiled_quickstart)


def test_rollout_moves_phase_from_deploying_to_running(
    emulator, start_agent, compiled_quickstart, clock
):
    api, _ = emulator
    deploy(api, compiled_quickstart[KEY], progressing())
    agent = start_agent()
    md = status_written(api, "team-a", "phi4")
    assert md["status"]["phase"] == "Deploying"
    assert md["status"]["replicas"]["pending"] == 1
    assert conditions(md)["Ready"]["reason"] == "DeploymentInProgress"
    deploying_since = conditions(md)["Ready"]["lastTransitionTime"]
    clock.value = "2026-11-23T10:07:00Z"
    api.set_status("Deployment", "team-a", "phi4", available())
    md = wait_for(
        lambda: (
            (m := api.get("ModelDeployment", "team-a", "phi4"))["status"]["phase"] == "Running"
            and m
        ),
        what="Running",
    )
    settle(agent, api)
    ready = conditions(md)["Ready"]
    assert ready["status"] == "True"
    assert ready["lastTransitionTime"] == "2026-11-23T10:07:00Z" != deploying_since
    # Conditions that did not change keep their time.
    assert conditions(md)["InSync"]["lastTransitionTime"] == "2026-11-23T10:00:00Z"
    assert api.count("patch-status") == 2


def test_hand_edited_spec_flips_in_sync(emulator, start_agent, compiled_quickstart):
    api, _ = emulator
    objects = compiled_quickstart[KEY]
    deploy(api, objects, available())
    agent = start_agent()
    status_written(api, "team-a", "phi4")
    edited = copy.deepcopy(objects["ModelDeployment"])
    edited["spec"]["engine"]["contextLength"] = 8192  # kubectl edit in the cluster
    api.apply(edited)
    md = wait_for(
        lambda: (
            (m := api.get("ModelDeployment", "team-a", "phi4"))
            and conditions(m)["InSync"]["status"] == "False"
            and m
        ),
        what="InSync=False",
    )
    settle(agent, api)
    in_sync = conditions(md)["InSync"]
    assert in_sync["reason"] == "SpecChanged"
    assert "edited in the cluster" in in_sync["message"]
    assert md["status"]["observedGeneration"] == 2
    # The edit still passes policy, so the MD keeps running on what Git deployed.
    assert conditions(md)["Validated"]["reason"] == "PolicyPassed"
    assert md["status"]["phase"] == "Running"


def test_hand_applied_spec_breaking_policy_is_parked_failed(emulator, start_agent):
    api, _ = emulator
    api.apply(
        {
            "apiVersion": "airunway.ai/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "rogue", "namespace": "team-a"},
            "spec": {
                "model": {"id": "Qwen/Qwen3-0.6B"},
                "provider": {
                    "name": "vllm",
                    "overrides": {"spec": {"template": {"spec": {"hostNetwork": True}}}},
                },
                "engine": {"type": "vllm", "extraArgs": ["--port=9000"]},
                "resources": {"gpu": {"count": 1}},
            },
        }
    )
    agent = start_agent()
    md = status_written(api, "team-a", "rogue")
    settle(agent, api)
    status = md["status"]
    assert status["phase"] == "Failed"
    validated = conditions(md)["Validated"]
    assert validated["status"] == "False"
    assert validated["reason"] == "PolicyViolation"
    assert 'overriding "hostNetwork" is not allowed for security reasons' in validated["message"]
    assert "conflicts with Direct vLLM generated networking" in validated["message"]
    assert conditions(md)["InSync"]["reason"] == "NotCompiled"
    assert "ResourceCreated" not in conditions(md)


def test_expired_watch_is_recovered_by_listing_again(emulator, start_agent, compiled_quickstart):
    api, _ = emulator
    deploy(api, compiled_quickstart[KEY], progressing())
    agent = start_agent(watch_timeout_seconds=1)
    status_written(api, "team-a", "phi4")
    settle(agent, api)
    lists_before = api.count("list", "Deployment")
    # Compaction, then a change: the resumed watch is too old (410) and the agent relists.
    api.compact()
    api.set_status("Deployment", "team-a", "phi4", available())
    wait_for(
        lambda: api.get("ModelDeployment", "team-a", "phi4")["status"]["phase"] == "Running",
        what="Running after relist",
    )
    wait_for(lambda: api.count("list", "Deployment") > lists_before, what="relist")
    expired = agent.metrics.watch_restarts.labels("Deployment", "expired")._value.get()
    assert expired >= 1


def test_stale_write_gets_409_and_is_recomputed(emulator, compiled_quickstart, clock):
    api, url = emulator
    objects = compiled_quickstart[KEY]
    deploy(api, objects, available())
    agent = Agent(api_client(url), AgentSettings(now=clock))
    for kind in agent.kinds:
        agent._list(kind)  # fill the cache without starting the watch threads
    # Someone else changes the MD after the agent read it.
    labelled = copy.deepcopy(objects["ModelDeployment"])
    labelled["metadata"]["labels"]["owner"] = "platform"
    api.apply(labelled)
    assert agent.reconcile(("team-a", "phi4")) == "written"
    assert api.count("patch-status") == 2  # the stale one (409), then the fresh one
    assert api.count("get") == 1
    md = api.get("ModelDeployment", "team-a", "phi4")
    assert md["metadata"]["labels"]["owner"] == "platform"
    assert md["status"]["phase"] == "Running"
    assert agent.reconcile(("team-a", "phi4")) == "unchanged"


class _EndedWatch:
    """A watch response whose chunked body just ended: urllib3 already gave its connection
    back to the pool, so shutting it down raises."""

    def shutdown(self) -> None:
        raise RuntimeError("Cannot shutdown as connection has already been released to the pool")


def test_shutdown_tolerates_a_watch_that_ended_on_its_own(emulator):
    _, url = emulator
    agent = Agent(api_client(url), AgentSettings())
    agent._open.add(_EndedWatch())
    agent.shutdown(timeout=1)  # found as a flaky teardown error; must not raise
    assert agent.stop.is_set()
