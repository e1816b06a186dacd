"""Peak memory of runwayc's commands on one large fleet, against issue 27's 300 MiB line.

    python bench/memory_bench.py [--models 10000] [--work DIR] [--baseline CHECKOUT]

bench/gen_fleet.py writes a source repository of N ModelDeployments, committed, with a bare
remote. Then, in this order, each command runs as its own process and its peak RSS is read
from wait4 (what `/usr/bin/time -f %M` prints; a command's git children count only if one
grows past it):

  compile, cold cache          `compile --locked` into a new tree, the cache empty
  compile, one change (x2)     one ModelDeployment edited, `compile --locked` with the cache
                               warm (the first builds the spare, the second reuses it)
  compile, no change
  compile --no-cache           into a second tree
  compile, new code over tree  the cache of another version (here: an empty one) and the
                               tree the last compile left: every model compiled, the tree read
  check, cache warm / --no-cache
  lock --skip-images
  publish, first               the whole tree to an empty branch
  publish, nothing changed     cold cache
  publish one change, warm / cold

With --baseline CHECKOUT the same sequence runs again with that checkout first on PYTHONPATH
and a fleet of its own, and both columns are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fleet

LIMIT_MIB = 300


def edit_one(repo: Path, number: int) -> None:
    path = repo / "deployments" / "team-0" / "md-0.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["engine"]["args"]["max-num-seqs"] = str(2000 + number)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def peak(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one process, run from the checkout measured (for
    `python -m`, the working directory comes before PYTHONPATH)."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as null:
        child = subprocess.Popen(argv, env=env, stdout=null, stderr=null, cwd=env.get("PYTHONPATH"))
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {child.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def run_all(checkout: Path | None, work: Path, models: int) -> dict[str, tuple[float, float]]:
    work.mkdir(parents=True)
    repo = work / "repo"
    gen_fleet.generate(models, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fleet")
    git(work, "init", "-q", "--bare", str(work / "remote.git"))
    git(repo, "remote", "add", "origin", str(work / "remote.git"))
    env = dict(os.environ, RUNWAYC_CACHE_DIR=str(work / "cache"))
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    runwayc = [sys.executable, "-m", "compiler.cli"]
    compile_ = [*runwayc, "compile", str(repo), "--env", "prod", "--locked", "-q"]
    tree = ["--out", str(work / "tree")]
    other_cache = dict(env, RUNWAYC_CACHE_DIR=str(work / "cache-other"))
    cold = dict(env, RUNWAYC_CACHE_DIR=str(work / "cache-cold"))
    publish = [*runwayc, "publish", str(repo), "--env", "prod", "--remote", "origin"]
    found: dict[str, tuple[float, float]] = {}
    found["compile, cold cache"] = peak([*compile_, *tree], env)
    for number in (1, 2):
        edit_one(repo, number)
        found[f"compile, one change ({number})"] = peak([*compile_, *tree], env)
    found["compile, no change"] = peak([*compile_, *tree], env)
    found["compile --no-cache"] = peak([*compile_, "--no-cache", "--out", str(work / "t2")], env)
    found["compile, new code over tree"] = peak([*compile_, *tree], other_cache)
    found["check, cache warm"] = peak([*runwayc, "check", str(repo), "-q"], env)
    found["check --no-cache"] = peak([*runwayc, "check", str(repo), "-q", "--no-cache"], env)
    found["lock --skip-images"] = peak([*runwayc, "lock", str(repo), "--skip-images", "-q"], env)
    git(repo, "checkout", "-q", "--", ".")
    found["publish, first"] = peak(publish, env)
    found["publish, nothing changed"] = peak(publish, cold)
    for number, (label, where) in enumerate((("warm", env), ("cold", cold)), start=3):
        edit_one(repo, number)
        git(repo, "commit", "-q", "-am", f"change {number}")
        found[f"publish one change, {label}"] = peak(publish, where)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--baseline", type=Path, help="another checkout of runwayc")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="runwayc-memory-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    here = Path(__file__).resolve().parent.parent
    sides = {"this": run_all(here, work / "this", args.models)}
    if args.baseline:
        sides["baseline"] = run_all(args.baseline.resolve(), work / "baseline", args.models)
    print(f"peak RSS, {args.models} models (MiB; line at {LIMIT_MIB}), wall seconds in brackets")
    print(f"  {'command':32}" + "".join(f"{name:>20}" for name in sides))
    for command in sides["this"]:
        cells = []
        for found in sides.values():
            mib, seconds = found[command]
            mark = " !" if mib >= LIMIT_MIB else "  "
            cells.append(f"{mib:8.0f}{mark} ({seconds:6.1f} s)")
        print(f"  {command:32}" + "".join(f"{cell:>20}" for cell in cells))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
