"""All or nothing on disk: a compile killed at any instant leaves the old tree or the new one,
and two compiles into one directory never interleave.

Reproductions: SIGKILL during an update left a tree mixing two revisions (454 new and 1,046
old manifests in one trial); two concurrent compiles into one `--out` crashed and could leave
a kustomization that disagreed with the files.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compiler.io import tree_writer
from compiler.io.tree_writer import lock_path, output_lock, recover, spare_path, write_tree
from tests.conftest import ROOT, run_cli
from tests.helpers import md_yaml


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def revision(number: int, apps: int = 150) -> dict[str, bytes]:
    """A tree of `apps` applications; consecutive revisions change a third of the manifests,
    drop some applications and add others, as a large pull request would."""
    files: dict[str, bytes] = {}
    for i in range(number % 2 * 20, apps + number % 2 * 20):
        base = f"team-{i % 7}/m{i}/"
        version = number if i % 3 == 0 else 0
        files[base + "manifest.yaml"] = f"kind: A\nname: m{i}\nv: {version}\n".encode() * 20
        files[base + "README.md"] = f"# m{i}\n".encode()
        files[base + "hydrator.metadata"] = b"{}\n"
    resources = sorted(name for name in files if name.endswith("manifest.yaml"))
    files["kustomization.yaml"] = ("\n".join(resources) + f"\nrevision {number}\n").encode()
    return files


def leftovers(out: Path) -> list[str]:
    """What lies beside the tree: only its spare, hidden from Git, once a write is over."""
    found = sorted(name for name in os.listdir(out.parent) if name != out.name)
    if found == [spare_path(out).name]:
        assert (spare_path(out) / ".gitignore").read_text().endswith("\n*\n")
    return found


@pytest.fixture
def expected(tmp_path: Path) -> dict[int, dict[str, bytes]]:
    """Each revision's whole tree (ownership record included), as a write leaves it."""
    trees = {}
    for number in (0, 1):
        reference = tmp_path / "reference" / str(number)
        write_tree(reference, revision(number), env="dev")
        trees[number] = snapshot(reference)
    return trees


def _spin(seconds: float) -> None:
    """Wait `seconds` without yielding the CPU to a timer: the kill instant, not a sync."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def killed_write(out: Path, record: Path, number: int, delay: float | None) -> float:
    """Write revision `number` in a forked process, killed (SIGKILL) `delay` seconds in
    (None: not killed); the seconds from fork to its end."""
    files = revision(number)
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            write_tree(out, files, record, env="dev")
        finally:
            os._exit(0)
    if delay is not None:
        _spin(delay)
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return time.perf_counter() - started


@pytest.mark.parametrize("switch", ["exchange", "two renames"])
def test_a_write_killed_at_random_instants_leaves_one_whole_revision(
    tmp_path: Path,
    expected: dict[int, dict[str, bytes]],
    switch: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if switch == "two renames":  # as on a system without renameat2(RENAME_EXCHANGE)
        monkeypatch.setattr(tree_writer, "_RENAMEAT2", None)
    out, record = tmp_path / "work" / "out", tmp_path / "cache" / "tree-dev.json"
    write_tree(out, revision(0), record, env="dev")
    # How long one whole write takes here and now: the first kill lands half-way through it.
    delay = max(killed_write(out, record, n, None) for n in (1, 0)) / 2
    current = 0
    chooser = random.Random(23)
    outcomes = {"old": 0, "new": 0}
    for _ in range(30):
        target = 1 - current
        killed_write(out, record, target, delay)
        if not out.exists():
            # Only where renameat2(RENAME_EXCHANGE) is missing: the next run's recovery.
            recover(out)
        observed = snapshot(out)
        assert observed in (expected[current], expected[target]), "a mixed tree"
        # The next kill comes earlier after a write that finished, later after one that did
        # not, so the kills close in on the instant of the switch whatever the machine's load
        # makes a write cost (a delay drawn from one measured duration was all "new" on a
        # loaded machine).
        if observed == expected[target]:
            outcomes["new"] += 1
            current = target
            delay *= chooser.uniform(0.3, 0.9)
        else:
            outcomes["old"] += 1
            delay = delay * chooser.uniform(1.1, 2.0) + 1e-4
    assert outcomes["old"], outcomes  # the kills did land before the switch
    assert outcomes["new"], outcomes  # and after it
    write_tree(out, revision(1 - current), record, env="dev")  # the next run cleans up
    assert snapshot(out) == expected[1 - current]
    assert leftovers(out) == [spare_path(out).name]


def _repo(root: Path, models: int, variant: int) -> Path:
    (root / "deployments").mkdir(parents=True)
    (root / "runway.yaml").write_text(
        "apiVersion: runwayc.dev/v1alpha1\nkind: Project\nenvironments:\n  dev: {}\n"
    )
    for i in range(models):
        args = {"seed": str(i * 10 + variant)}
        spec = md_yaml(f"m{i}", f"team-{i % 3}", engine={"type": "vllm", "args": args})
        (root / "deployments" / f"m{i}.yaml").write_text(spec)
    return root


@pytest.fixture
def two_repos(tmp_path: Path) -> tuple[Path, Path, dict[Path, dict[str, bytes]]]:
    """Two repositories of the same environment and their compiled trees."""
    first = _repo(tmp_path / "one", 12, 1)
    second = _repo(tmp_path / "two", 12, 2)
    trees = {}
    for repo in (first, second):
        reference = tmp_path / "reference" / repo.name
        assert run_cli("compile", repo, "--no-cache", "--out", reference).exit_code == 0
        trees[repo] = snapshot(reference)
    return first, second, trees


def compile_process(repo: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "compiler.cli", "compile", str(repo), "-j", "1", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_compile_command_killed_mid_write_leaves_one_whole_revision(
    tmp_path: Path, two_repos: tuple[Path, Path, dict[Path, dict[str, bytes]]]
) -> None:
    first, second, trees = two_repos
    out = tmp_path / "work" / "out"
    assert run_cli("compile", first, "--out", out).exit_code == 0
    chooser = random.Random(7)
    for repo in (second, first, second):
        process = compile_process(repo, out)
        # The write starts when the output's lock is taken; the kill lands just after.
        while process.poll() is None and not lock_path(out).exists():
            pass
        _spin(chooser.uniform(0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        assert snapshot(out) in (trees[first], trees[second])
    assert run_cli("compile", second, "--out", out).exit_code == 0
    assert snapshot(out) == trees[second]
    assert leftovers(out) == [spare_path(out).name]


def test_two_compiles_into_one_directory_never_interleave(
    tmp_path: Path, two_repos: tuple[Path, Path, dict[Path, dict[str, bytes]]]
) -> None:
    first, second, trees = two_repos
    out = tmp_path / "work" / "out"
    for _ in range(2):
        processes = [compile_process(first, out), compile_process(second, out)]
        for process in processes:
            _, stderr = process.communicate()
            assert process.returncode == 0, stderr
            assert "Traceback" not in stderr
        assert snapshot(out) in (trees[first], trees[second])
        assert leftovers(out) in ([], [spare_path(out).name])


def test_a_second_compile_waits_for_the_holder_of_the_lock(
    tmp_path: Path, two_repos: tuple[Path, Path, dict[Path, dict[str, bytes]]]
) -> None:
    first, _, trees = two_repos
    out = tmp_path / "work" / "out"
    out.parent.mkdir(parents=True)
    with output_lock(out):
        assert lock_path(out).read_text() == f"{os.getpid()}\n"
        process = compile_process(first, out)
        assert process.stderr is not None
        line = process.stderr.readline()  # the waiter says whom it waits for, then blocks
        assert f"is held by pid {os.getpid()} (another compile); waiting" in line, line
        assert not out.exists()
    _, rest = process.communicate()
    assert process.returncode == 0, rest
    assert snapshot(out) == trees[first]
    assert leftovers(out) == []  # a first write renames its new tree into place


def test_a_kill_between_the_two_renames_is_finished_by_the_next_run(
    tmp_path: Path, expected: dict[int, dict[str, bytes]]
) -> None:
    """Without RENAME_EXCHANGE the switch is target -> old, spare -> target, old -> spare;
    each state a kill can leave is made by hand here, and recovery makes it one revision."""
    out = tmp_path / "work" / "out"
    old = out.parent / ".out.runwayc-old"
    write_tree(out, revision(0), env="dev")
    write_tree(out, revision(1), env="dev")  # the spare now holds revision 0, complete
    spare = spare_path(out)
    assert snapshot(spare) == {**expected[0], ".gitignore": snapshot(spare)[".gitignore"]}
    (spare / ".gitignore").unlink()  # as the switch leaves it
    out.rename(old)  # killed after the first rename: no tree at all
    recover(out)
    assert snapshot(out) == expected[0]  # the spare was complete: the switch is finished
    assert snapshot(spare) == {**expected[1], ".gitignore": (spare / ".gitignore").read_bytes()}
    spare.rename(old)  # killed after the second rename: the spare is missing
    recover(out)
    assert snapshot(out) == expected[0]
    assert leftovers(out) == [spare.name]
    (spare / tree_writer.OWNERSHIP_FILE).unlink()  # an incomplete spare: the old tree stays
    out.rename(old)
    recover(out)
    assert snapshot(out) == expected[0]


def test_the_spare_is_invisible_to_git(make_repo) -> None:
    repo = make_repo({"deployments/a.yaml": md_yaml("m1"), "deployments/b.yaml": md_yaml("m2")})
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert run_cli("compile", repo).exit_code == 0
    (repo / "deployments" / "b.yaml").unlink()
    assert run_cli("compile", repo).exit_code == 0
    assert spare_path(repo / "rendered" / "dev").is_dir()
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files"], check=True, capture_output=True, text=True
    ).stdout.split()
    assert [name for name in listed if ".runwayc-spare" in name] == []
    assert "rendered/dev/team-a/m1/manifest.yaml" in listed
    assert "rendered/dev/.runwayc-tree" in listed  # the ownership record travels with it
