"""The status agent on a fleet, against the Kubernetes API emulator (tests/agent/emulator.py).

    python bench/agent_bench.py [--models 1000] [--rounds 3] [--emulator indexed|plain]
                                [--workers 1] [--process]

N ModelDeployments (the quickstart's compiled `phi4`, cloned under N names, stamp intact) with
their Services and available Deployments are loaded into the emulator; then, per round, a fresh
agent starts (watch only) and the script reports:

  first pass     seconds from start until every MD carries a Running status, the agent's
                 own CPU seconds (its threads' clocks, not the emulator's), and the API
                 requests it took by verb (target: one status write per MD, no GETs)
  steady resync  every MD re-enqueued from the cache (what the periodic resync does):
                 requests and writes (target: zero), the agent's CPU for the first resync
                 and for the next one (an idle cycle: target near zero), and for a few
                 seconds with nothing queued at all
  restart        a second agent on the now-written fleet: writes (target: zero)

and, as the peer, a naive poller measured in the same run: one pass that GETs each MD, its
Deployment and Service and patches status (what "no per-object GET polling" rules out).
`--process` also runs `runwayc agent` as its own process against the same fleet: its time
to first full status and its peak RSS (VmHWM; target < 300 MiB at 10,000 MDs).

`--emulator plain` is tests/agent/emulator.py as the tests run it; `indexed` (the default)
is the same API with its watch history indexed (IndexedEmulator below: the plain one costs
every status write O(history) in each watching thread, a cost the poller never pays). The
emulator is an emulator: absolute times say little about a real API server; the request
counts are the point, and the ratio against the poller in the same run.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import copy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler.core.agent.deployment import DEFAULT_WORKERS  # noqa: E402
from compiler.core.agent.readers import Observed  # noqa: E402
from compiler.core.agent.status import desired_status, merge_patch  # noqa: E402
from compiler.io.agent.runtime import Agent, AgentSettings  # noqa: E402
from compiler.io.workspace import load_policy  # noqa: E402
from tests.agent.conftest import api_client, available, settle  # noqa: E402
from tests.agent.emulator import (  # noqa: E402
    KubeEmulator,
    WatchEvents,
    serve,
    write_kubeconfig,
)
from tests.conftest import QUICKSTART, run_cli  # noqa: E402

POLICY = load_policy(None)
NOW = "2026-11-23T10:00:00Z"
QUIET_SECONDS = 5.0


class IndexedEmulator(KubeEmulator):
    """The emulator with its watch history indexed by kind and version. The plain one scans
    its whole history (every object of every kind ever written) on each wake-up of each
    watch, so every status write costs the three watching threads O(history): quadratic in
    the fleet, a cost the poller (no watches) never pays and an API server's watch cache
    (per resource, by version) does not have. Same events, same order, same 410s."""

    def __init__(self) -> None:
        super().__init__()
        self.by_kind: dict[str, tuple[list[int], list[tuple[str, dict[str, Any]]]]] = {}

    def _event(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        versions, events = self.by_kind.setdefault(kind, ([], []))
        versions.append(self.version)
        events.append((type_, copy.deepcopy(obj)))
        self.changed.notify_all()

    def compact(self) -> None:
        with self.changed:
            self.by_kind.clear()
        super().compact()

    def _events_after(self, kind: str, position: int) -> WatchEvents:
        versions, events = self.by_kind.get(kind, ([], []))
        first = bisect.bisect_right(versions, position)
        return [(versions[i], *events[i]) for i in range(first, len(versions))]


EMULATORS: dict[str, type[KubeEmulator]] = {"plain": KubeEmulator, "indexed": IndexedEmulator}


def with_latency(emulator: type[KubeEmulator], seconds: float) -> type[KubeEmulator]:
    """`emulator` answering every request (not the events of an open watch) `seconds` late,
    as a distant API server does (its network round trip, an etcd write); the sleep is in
    the server's own thread, outside its lock, so requests in flight overlap."""
    if seconds <= 0:
        return emulator

    class Distant(emulator):
        def list(self, kind: str, namespace: str | None) -> dict[str, Any]:
            time.sleep(seconds)
            return super().list(kind, namespace)

        def read(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
            time.sleep(seconds)
            return super().read(kind, namespace, name)

        def patch_status(
            self, kind: str, namespace: str, name: str, patch: dict[str, Any]
        ) -> dict[str, Any]:
            time.sleep(seconds)
            return super().patch_status(kind, namespace, name, patch)

    return Distant


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


class Running:
    """Waits until every MD carries a Running status, reading only the MDs not yet seen
    Running: scanning the whole store every 10 ms under its lock (what this bench did first)
    competed with the agent for the GIL and the lock, and charged the agent, not the poller,
    for the bench's own polling."""

    def __init__(self, api: KubeEmulator, objects: list[dict[str, Any]]) -> None:
        self.api = api
        self.waiting = [
            ("ModelDeployment", o["metadata"]["namespace"], o["metadata"]["name"])
            for o in objects
            if o["kind"] == "ModelDeployment"
        ]

    def __call__(self) -> bool:
        store = self.api.objects
        self.waiting = [
            key
            for key in self.waiting
            if ((store.get(key) or {}).get("status") or {}).get("phase") != "Running"
        ]
        return not self.waiting


def verbs(api: KubeEmulator, since: int = 0) -> Counter[str]:
    return Counter(r.verb for r in api.requests[since:])


def thread_cpu(threads: list[threading.Thread]) -> float:
    """CPU seconds the given (live) threads have used: the agent's own, without the
    emulator's, which shares the process."""
    total = 0.0
    for thread in threads:
        if thread.ident is None or not thread.is_alive():
            continue
        with contextlib.suppress(OSError, ProcessLookupError):
            total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return total


def cycle(agent: Agent, api: KubeEmulator) -> tuple[Counter[str], float]:
    """One steady-state resync: its requests, and the agent's CPU seconds for it."""
    mark, cpu = len(api.requests), thread_cpu(agent._threads)
    agent.enqueue_all()
    settle(agent, api)
    return verbs(api, mark), thread_cpu(agent._threads) - cpu


def agent_round(
    objects: list[dict[str, Any]], n: int, emulator: type[KubeEmulator], workers: int
) -> dict[str, Any]:
    api = emulator()
    load(api, copy.deepcopy(objects))
    done = Running(api, objects)
    with serve(api) as url:
        settings = AgentSettings(
            policy=POLICY, now=lambda: NOW, watch_timeout_seconds=60, workers=workers
        )
        agent = Agent(api_client(url), settings)
        start = time.perf_counter()
        agent.start()
        while not done():
            time.sleep(0.01)
        first = time.perf_counter() - start
        first_cpu = thread_cpu(agent._threads)
        settle(agent, api)
        first_pass = verbs(api)
        resync, resync_cpu = cycle(agent, api)
        idle, idle_cpu = cycle(agent, api)
        # Nothing enqueued at all: the watches waiting and the worker's wake-ups.
        cpu = thread_cpu(agent._threads)
        time.sleep(QUIET_SECONDS)
        quiet_cpu = thread_cpu(agent._threads) - cpu
        agent.shutdown()
        mark = len(api.requests)
        second = Agent(api_client(url), settings)
        second.start()
        settle(second, api)
        restart = verbs(api, mark)
        second.shutdown()
    return {
        "first": first,
        "first_cpu": first_cpu,
        "first_pass": first_pass,
        "resync": resync,
        "resync_cpu": resync_cpu,
        "idle": idle,
        "idle_cpu": idle_cpu,
        "quiet_cpu": quiet_cpu,
        "restart": restart,
    }


def poller_round(
    objects: list[dict[str, Any]], emulator: type[KubeEmulator]
) -> tuple[float, Counter[str]]:
    """The peer: one polling pass, a GET per object, a patch per MD."""
    from kubernetes import client

    api = emulator()
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


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), read while it still runs."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmHWM for process {pid}")


def process_round(
    objects: list[dict[str, Any]], emulator: type[KubeEmulator], workers: int
) -> tuple[float, float]:
    """`runwayc agent` as its own process, as it runs in a cluster (its own interpreter, so
    the emulator is not on its GIL and its objects are not counted): seconds from the start
    of the process until every MD carries a Running status, and its peak RSS once the
    agent has gone quiet."""
    api = emulator()
    load(api, copy.deepcopy(objects))
    done = Running(api, objects)
    with serve(api) as url, tempfile.TemporaryDirectory() as work:
        config = Path(work) / "kubeconfig"
        write_kubeconfig(url, config)
        command = [sys.executable, "-m", "compiler.cli", "agent", "--all-namespaces"]
        command += ["--kubeconfig", str(config), "--metrics-port", "0"]
        command += ["--workers", str(workers)]
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
        try:
            while not done():
                if process.poll() is not None:
                    raise SystemExit(process.stderr.read().decode() if process.stderr else "")
                time.sleep(0.01)
            first = time.perf_counter() - start
            seen = -1
            while seen != len(api.requests):  # quiet: the echoes of its writes are read
                seen = len(api.requests)
                time.sleep(1.0)
            return first, peak_rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--emulator",
        choices=sorted(EMULATORS),
        default="indexed",
        help="plain: tests/agent/emulator.py as the tests run it; indexed: the same API with "
        "its watch history indexed by kind and version",
    )
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="answer every API request this late (a distant API server's round trip)",
    )
    parser.add_argument(
        "--process",
        action="store_true",
        help="also run `runwayc agent` as a process: its time and peak RSS",
    )
    args = parser.parse_args()
    n = args.models
    emulator = with_latency(EMULATORS[args.emulator], args.latency_ms / 1000)
    objects = fleet(template(), n)
    agent_rounds, poller_rounds = [], []
    for _ in range(args.rounds):  # alternating, so drift hits both alike
        agent_rounds.append(agent_round(objects, n, emulator, args.workers))
        poller_rounds.append(poller_round(objects, emulator))
    first = statistics.median(r["first"] for r in agent_rounds)
    polled = statistics.median(t for t, _ in poller_rounds)
    last = agent_rounds[-1]

    def median(name: str) -> float:
        return statistics.median(r[name] for r in agent_rounds)

    print(
        f"agent on {n} ModelDeployments (+ {n} Deployments, {n} Services), "
        f"{args.emulator} emulator, {args.rounds} rounds, workers {args.workers}"
        + (f", {args.latency_ms:g} ms per request" if args.latency_ms else "")
    )
    print(
        f"  time to first full status   median {first:.2f} s "
        f"(rounds: {', '.join(format(r['first'], '.2f') for r in agent_rounds)})"
    )
    print(f"  agent CPU, first pass       median {median('first_cpu'):.2f} s")
    print(f"  first pass requests         {dict(sorted(last['first_pass'].items()))}")
    print(f"  status writes / MD          {last['first_pass']['patch-status'] / n:.3f}")
    print(f"  steady resync requests      {dict(sorted(last['resync'].items())) or 'none'}")
    print(f"  writes / steady-state cycle {max(r['idle']['patch-status'] for r in agent_rounds)}")
    print(f"  agent CPU, first resync     median {median('resync_cpu'):.3f} s")
    print(f"  agent CPU / idle cycle      median {median('idle_cpu'):.3f} s")
    print(f"  agent CPU, {QUIET_SECONDS:.0f} s quiet        median {median('quiet_cpu'):.3f} s")
    print(f"  restart requests            {dict(sorted(last['restart'].items()))}")
    print("peer: GET-per-object poller, one pass")
    print(f"  time                        median {polled:.2f} s")
    print(f"  requests                    {dict(sorted(poller_rounds[-1][1].items()))}")
    print(f"ratio poller / agent (time)   {polled / first:.2f}x")
    if args.process:
        first, rss = process_round(objects, emulator, args.workers)
        print(f"runwayc agent process (--workers {args.workers})")
        print(f"  time to first full status   {first:.2f} s (from the process's start)")
        print(f"  peak RSS                    {rss:.0f} MiB")


if __name__ == "__main__":
    main()
