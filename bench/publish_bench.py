"""runwayc publish on a fleet, one model changed per round, against publishing by hand.

    python bench/publish_bench.py [--models 10000] [--rounds 3] [--work DIR]

bench/gen_fleet.py writes a source repo of N ModelDeployments; it is committed, and three bare
remotes stand in for the GitOps repository. Every round one ModelDeployment changes and is
committed (the merge of a pull request), then, alternating:

  runwayc publish, warm  with the checkout's compile cache filled by a `compile --locked`
                         before the first round (CI that compiles before it publishes)
  runwayc publish, cold  RUNWAYC_CACHE_DIR pointing at an empty directory (a fresh CI job)
  by hand (the peer)     `runwayc compile --locked` into a clone of the environment branch,
                         then `git add -A`, `git commit`, `git push`: what a team would script

Each publishes to its own remote, so each has a change to push every round. Printed: median
wall time of each and the ratios. The figures depend on the disk (publish exports the
revision it compiles), so quote them with the machine they came from.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fleet

IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
RUNWAYC = [sys.executable, "-m", "compiler.cli"]


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    os.sync()  # the previous command's writeback is not billed to this one
    started = time.perf_counter()
    subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **IDENTITY, **(env or {})},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def git(cwd: Path, *args: str) -> None:
    run(["git", *args], cwd)


def edit_one(repo: Path, round_number: int) -> None:
    """A merged pull request: one model's --seed (gen_fleet writes one), new every round."""
    path = repo / "deployments" / "team-0" / "md-0.yaml"
    text = path.read_text()
    edited = re.sub(r"--seed\n(\s*)- '?\d+'?", rf"--seed\n\1- '{7000 + round_number}'", text)
    if edited == text:
        raise SystemExit(f"{path}: no --seed to change")
    path.write_text(edited)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep the fleet here (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="runwayc-publish-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    repo = work / "source"
    try:
        gen_fleet.generate(args.models, repo)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "fleet")
        remotes = {name: work / f"{name}.git" for name in ("warm", "cold", "peer")}
        for name, remote in remotes.items():
            git(work, "init", "-q", "--bare", str(remote))
            git(repo, "remote", "add", name, str(remote))
        cold_cache = {"RUNWAYC_CACHE_DIR": str(work / "empty-cache")}
        # The peer's clone of its environment branch, started empty.
        peer = work / "peer"
        git(work, "clone", "-q", str(remotes["peer"]), str(peer))
        git(peer, "checkout", "-q", "-b", "environments/prod")
        # The warm cache, and the peer's first commit, before any round counts.
        compile_argv = [*RUNWAYC, "compile", str(repo), "--env", "prod", "--locked"]
        # Into a directory outside the checkout: publish refuses a working tree with
        # uncommitted files, and rendered/ would be one.
        run([*compile_argv, "--out", str(work / "warm-tree")], repo)
        run([*compile_argv, "--out", str(peer / "x")], peer)
        git(peer, "add", "-A")
        git(peer, "commit", "-q", "-m", "first")
        git(peer, "push", "-q", "origin", "environments/prod")
        for name in ("warm", "cold"):
            env = cold_cache if name == "cold" else None
            run([*RUNWAYC, "publish", str(repo), "--env", "prod", "--remote", name], repo, env)
        times: dict[str, list[float]] = {"warm": [], "cold": [], "peer": []}
        print(f"publish, {args.models} models, {args.rounds} rounds, one model changed each")
        for number in range(args.rounds):
            edit_one(repo, number)
            git(repo, "commit", "-q", "-am", f"round {number}")
            for name in ("warm", "cold"):
                env = cold_cache if name == "cold" else None
                argv = [*RUNWAYC, "publish", str(repo), "--env", "prod", "--remote", name]
                times[name].append(run(argv, repo, env))
            started = time.perf_counter()
            run([*compile_argv, "--out", str(peer / "x")], peer)
            git(peer, "add", "-A")
            git(peer, "commit", "-q", "-m", f"round {number}")
            git(peer, "push", "-q", "origin", "environments/prod")
            times["peer"].append(time.perf_counter() - started)
        labels = {
            "warm": "runwayc publish, warm cache",
            "cold": "runwayc publish, cold cache",
            "peer": "by hand (compile + git push)",
        }
        for name, samples in times.items():
            rounds = ", ".join(f"{t:.2f}" for t in samples)
            print(f"  {labels[name]:30s} median {statistics.median(samples):7.3f} s  ({rounds})")
        peer_median = statistics.median(times["peer"])
        for name in ("warm", "cold"):
            ratio = statistics.median(times[name]) / peer_median
            print(f"  {labels[name]} / by hand: {ratio:.2f}x")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
