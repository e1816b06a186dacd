"""runwayc diff of a one-model change on a fleet, as a pull request's diff job runs it.

    python bench/diff_bench.py [--models 10000] [--rounds 3] [--work DIR] [--baseline CHECKOUT]

bench/gen_fleet.py writes a source repo of N ModelDeployments and it is committed; a
`compile --locked` fills the checkout's compile cache, as a CI job that compiles first does.
Every round one ModelDeployment changes and is committed, then, alternating:

  diff --locked   both sides from their runway.lock, borrowing the cache compile --locked
                  keeps (what the pull-request workflow runs)
  diff            unlocked: its cache entries are not compile --locked's, so both sides
                  compile in full
  diff, cold      --locked with RUNWAYC_CACHE_DIR at an empty directory (a fresh CI job)
  baseline        with --baseline CHECKOUT: that checkout of runwayc's `diff` (unlocked, as
                  it may have no --locked), first on PYTHONPATH

Printed: the median wall and CPU seconds of each, its peak RSS (the largest of the rounds), and
the ratio of each to the warm locked diff. Every diff's text is checked to report the one
change.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fleet
from publish_bench import IDENTITY, RUNWAYC, git

ENV = "prod"


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MiB, stdout) of one child, from its own rusage (wait4: the
    child's and that of the git processes it waited for)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **IDENTITY, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert child.stdout is not None
    out = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, f"{argv} exited {child.returncode}"
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def change_one(repo: Path, round_number: int) -> None:
    spec = sorted((repo / "deployments").rglob("*.yaml"))[round_number]
    text = spec.read_text()
    spec.write_text(text.replace("gpu-memory-utilization: '0.9'", "gpu-memory-utilization: '0.8'"))
    git(repo, "commit", "-qam", f"change {spec.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--baseline", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="runwayc-diff-bench-"))
    repo = work / f"fleet-{args.models}"
    shutil.rmtree(repo, ignore_errors=True)
    gen_fleet.generate(args.models, repo, gen_fleet.NAMESPACES)
    shutil.rmtree(repo / "kustomize", ignore_errors=True)
    (repo / ".gitignore").write_text("/rendered/\n/.runwayc_cache/\n")
    git(work, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fleet")
    compile_locked = [*RUNWAYC, "compile", ".", "--env", ENV, "--locked", "-q"]
    subprocess.run(compile_locked, cwd=repo, check=True, capture_output=True)
    diff = [*RUNWAYC, "diff", ".", "--base", "HEAD~1", "--head", "HEAD", "--env", ENV]
    cold = work / "cold-cache"
    runs: dict[str, list[tuple[float, float, float]]] = {}
    for round_number in range(args.rounds):
        change_one(repo, round_number)
        subprocess.run(compile_locked, cwd=repo, check=True, capture_output=True)
        shutil.rmtree(cold, ignore_errors=True)
        cases: list[tuple[str, list[str], dict[str, str]]] = [
            ("diff --locked", [*diff, "--locked"], {}),
            ("diff (unlocked)", diff, {}),
            ("diff --locked, cold", [*diff, "--locked"], {"RUNWAYC_CACHE_DIR": str(cold)}),
        ]
        if args.baseline is not None:
            cases.append(("baseline diff", diff, {"PYTHONPATH": str(args.baseline.resolve())}))
        for name, argv, env in cases:
            wall, cpu, rss, out = timed(argv, repo, env)
            assert out.endswith(f"{ENV}: 2 changed (1 app(s))\n"), out[-300:]
            runs.setdefault(name, []).append((wall, cpu, rss))
    print(f"N = {args.models}, {args.rounds} round(s), one model changed per round")
    warm = statistics.median(w for w, _, _ in runs["diff --locked"])
    for name, figures in runs.items():
        wall = statistics.median(w for w, _, _ in figures)
        cpu = statistics.median(c for _, c, _ in figures)
        rss = max(r for _, _, r in figures)
        print(
            f"  {name:20} median {wall:7.2f} s  CPU {cpu:7.2f} s  peak RSS {rss:5.0f} MiB  "
            f"{wall / warm:5.2f}x the warm locked diff"
        )


if __name__ == "__main__":
    main()
