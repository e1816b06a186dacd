"""The status agent on a fleet, against the Kubernetes API emulator (tests/agent/emulator.py).

    python bench/agent_bench.py [--models 1000] [--rounds 3]

N ModelDeployments (the quickstart's compiled `phi4`, cloned under N names, stamp intact) with
their Services and available Deployments are loaded into the emulator; then, per round, a fresh
agent starts (watch only) and the script reports:

  first pass     seconds from start until every MD carries a Running status, and the API
                 requests it took by verb (target: one status write per MD, no GETs)
  steady resync  every MD re-enqueued from the cache (what the periodic resync does):
                 requests and writes (target: zero)
  restart        a second agent on the now-written fleet: writes (target: zero)

and, as the peer, a naive poller measured in the same run: one pass that GETs each MD, its
Deployment and Service and patches status (what "no per-object GET polling" rules out). The
emulator is an emulator: absolute times say little about a real API server; the request
counts are the point, and the ratio against the poller.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler.core.agent.readers import Observed  # noqa: E402
from compiler.core.agent.status import desired_status, merge_patch  # noqa: E402
from compiler.io.agent.runtime import Agent, AgentSettings  # noqa: E402
from compiler.io.workspace import load_policy  # noqa: E402
from tests.agent.conftest import api_client, available, settle  # noqa: E402
from tests.agent.emulator import KubeEmulator, serve  # noqa: E402
from tests.conftest import QUICKSTART, run_cli  # noqa: E402

POLICY = load_policy(None)
NOW = "2026-11-23T10:00:00Z"


def template() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as work:
        repo = Path(work) / "quickstart"
        shutil.copytree(QUICKSTART, repo)
        result = run_cli("compile", "--locked", "--env", "dev", repo)
        if result.exit_code != 0:
            raise SystemExit(result.stderr)
        manifest = repo / "rendered" / "dev" / "team-a" / "phi4" / "manifest.yaml"
        return {obj["kind"]: obj for obj in yaml.safe_load_all(manifest.read_text())}


def fleet(objects: dict[str, dict[str, Any]], n: int) -> list[dict[str, Any]]:
    out = []
    for index in range(n):
        name = f"model-{index:05d}"
        namespace = f"team-{index % 10}"
        for kind in ("ModelDeployment", "Service", "Deployment"):
            obj = copy.deepcopy(objects[kind])
            obj["metadata"]["name"] = name
            obj["metadata"]["namespace"] = namespace
            labels = obj["metadata"].get("labels") or {}
            if "airunway.ai/deployment" in labels:
                labels["airunway.ai/deployment"] = name
            if kind == "Deployment":
                obj["status"] = available()
            out.append(obj)
    return out


def load(api: KubeEmulator, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        status = obj.pop("status", None)
        api.apply(obj)
        if status is not None:
            meta = obj["metadata"]
            api.set_status(obj["kind"], meta["namespace"], meta["name"], status)


def running(api: KubeEmulator, n: int) -> bool:
    with api.changed:
        done = sum(
            1
            for (kind, _, _), obj in api.objects.items()
            if kind == "ModelDeployment" and (obj.get("status") or {}).get("phase") == "Running"
        )
    return done == n


def verbs(api: KubeEmulator, since: int = 0) -> Counter[str]:
    return Counter(r.verb for r in api.requests[since:])


def agent_round(objects: list[dict[str, Any]], n: int) -> dict[str, Any]:
    api = KubeEmulator()
    load(api, copy.deepcopy(objects))
    with serve(api) as url:
        settings = AgentSettings(policy=POLICY, now=lambda: NOW, watch_timeout_seconds=60)
        agent = Agent(api_client(url), settings)
        start = time.perf_counter()
        agent.start()
        while not running(api, n):
            time.sleep(0.01)
        first = time.perf_counter() - start
        settle(agent, api)
        first_pass = verbs(api)
        mark = len(api.requests)
        agent.enqueue_all()
        settle(agent, api)
        resync = verbs(api, mark)
        agent.shutdown()
        mark = len(api.requests)
        second = Agent(api_client(url), settings)
        second.start()
        settle(second, api)
        restart = verbs(api, mark)
        second.shutdown()
    return {"first": first, "first_pass": first_pass, "resync": resync, "restart": restart}


def poller_round(objects: list[dict[str, Any]]) -> tuple[float, Counter[str]]:
    """The peer: one polling pass, a GET per object, a patch per MD."""
    from kubernetes import client

    api = KubeEmulator()
    load(api, copy.deepcopy(objects))
    with serve(api) as url:
        raw = api_client(url)
        custom, apps, core = (
            client.CustomObjectsApi(raw),
            client.AppsV1Api(raw),
            client.CoreV1Api(raw),
        )
        keys = [
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in objects
            if o["kind"] == "ModelDeployment"
        ]
        start = time.perf_counter()
        for namespace, name in keys:
            md = custom.get_namespaced_custom_object(
                "airunway.ai", "v1alpha1", namespace, "modeldeployments", name
            )
            deployment = raw.sanitize_for_serialization(
                apps.read_namespaced_deployment(name, namespace)
            )
            service = raw.sanitize_for_serialization(core.read_namespaced_service(name, namespace))
            status = desired_status(Observed(md, deployment, service), POLICY, NOW)
            custom.patch_namespaced_custom_object_status(
                "airunway.ai",
                "v1alpha1",
                namespace,
                "modeldeployments",
                name,
                {"status": merge_patch(md.get("status") or {}, status)},
            )
        return time.perf_counter() - start, verbs(api)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.models
    objects = fleet(template(), n)
    agent_rounds, poller_rounds = [], []
    for _ in range(args.rounds):  # alternating, so drift hits both alike
        agent_rounds.append(agent_round(objects, n))
        poller_rounds.append(poller_round(objects))
    first = statistics.median(r["first"] for r in agent_rounds)
    polled = statistics.median(t for t, _ in poller_rounds)
    last = agent_rounds[-1]
    print(
        f"agent on {n} ModelDeployments (+ {n} Deployments, {n} Services), emulator, "
        f"{args.rounds} rounds"
    )
    print(
        f"  time to first full status   median {first:.2f} s "
        f"(rounds: {', '.join(format(r['first'], '.2f') for r in agent_rounds)})"
    )
    print(f"  first pass requests         {dict(sorted(last['first_pass'].items()))}")
    print(f"  status writes / MD          {last['first_pass']['patch-status'] / n:.3f}")
    print(f"  steady resync requests      {dict(sorted(last['resync'].items())) or 'none'}")
    print(f"  restart requests            {dict(sorted(last['restart'].items()))}")
    print("peer: GET-per-object poller, one pass")
    print(f"  time                        median {polled:.2f} s")
    print(f"  requests                    {dict(sorted(poller_rounds[-1][1].items()))}")
    print(f"ratio poller / agent (time)   {polled / first:.2f}x")


if __name__ == "__main__":
    main()
