"""Inputs are bounded before they are read and never skipped silently: every entry where a
source or configuration file would be is read or refused by name (issue 23)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from compiler.io.workspace import Workspace
from tests.conftest import run_cli
from tests.harness import PROJECT
from tests.helpers import md_yaml

WITNESS = md_yaml("w", resources={"gpu": {"count": 0}})  # an error: proves it was checked


def _check(repo: Path) -> tuple[int, str]:
    result = run_cli("check", repo, "--no-cache", "--jobs", "1")
    return result.exit_code, result.stderr


def test_a_huge_source_is_refused_by_its_size_unread(make_repo):
    repo = make_repo({"deployments/witness.yaml": WITNESS})
    huge = repo / "deployments" / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(3 << 30)  # sparse: 3 GiB that cost no disk, and no memory unless read
    code, stderr = _check(repo)
    assert code == 1
    assert (
        "deployments/huge.yaml: error[YAML_TOO_LARGE]: file is 3221225472 bytes, larger than "
        "the 16777216-byte limit" in stderr
    )
    assert "deployments/witness.yaml" in stderr
    assert "PROVIDER_NEEDS_GPU" in stderr


def test_a_huge_configuration_file_is_refused_by_its_size(make_repo):
    repo = make_repo({"deployments/witness.yaml": WITNESS})
    with (repo / "runway.lock").open("wb") as handle:
        handle.truncate(3 << 30)
    code, stderr = _check(repo)
    assert code == 1
    assert "runway.lock: error[YAML_TOO_LARGE]: file is 3221225472 bytes" in stderr


def test_a_dangling_link_among_sources_is_an_error_and_the_rest_still_checked(make_repo):
    repo = make_repo({"deployments/witness.yaml": WITNESS})
    os.symlink(repo / "deployments" / "gone.yaml", repo / "deployments" / "dangling.yaml")
    code, stderr = _check(repo)
    assert code == 1
    assert (
        "deployments/dangling.yaml: error[UNREADABLE]: dangling symbolic link (its target does "
        "not exist)" in stderr
    )
    assert "PROVIDER_NEEDS_GPU" in stderr


def test_a_fifo_is_refused_without_opening_it(make_repo):
    # Opening a FIFO for reading waits for a writer: had it been opened, this would hang.
    repo = make_repo({"deployments/witness.yaml": WITNESS})
    os.mkfifo(repo / "deployments" / "pipe.yaml")
    os.mkfifo(repo / "runway.lock")
    workspace_error = run_cli("check", repo, "--no-cache")
    assert workspace_error.exit_code == 1
    assert "runway.lock: error[UNREADABLE]: not a regular file (a FIFO)" in workspace_error.stderr
    (repo / "runway.lock").unlink()
    code, stderr = _check(repo)
    assert code == 1
    assert "deployments/pipe.yaml: error[UNREADABLE]: not a regular file (a FIFO)" in stderr
    assert "PROVIDER_NEEDS_GPU" in stderr


def test_a_link_out_of_the_repository_is_refused(make_repo, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(md_yaml("stolen"))
    repo = make_repo({"deployments/witness.yaml": WITNESS})
    os.symlink(outside, repo / "deployments" / "escape.yaml")
    (repo / "policies").mkdir()
    os.symlink(outside, repo / "policies" / "p.yaml")
    code, stderr = _check(repo)
    assert code == 1
    assert (
        f"policies/p.yaml: error[UNREADABLE]: symbolic link resolves outside the repository "
        f"(to {outside.resolve()})" in stderr
    )
    (repo / "policies" / "p.yaml").unlink()
    code, stderr = _check(repo)
    assert code == 1
    assert (
        "deployments/escape.yaml: error[UNREADABLE]: symbolic link resolves outside the "
        "repository" in stderr
    )
    assert "stolen" not in stderr


def test_a_link_inside_the_repository_is_read(make_repo):
    repo = make_repo({"elsewhere/a.yaml": WITNESS})
    (repo / "deployments").mkdir()
    os.symlink(repo / "elsewhere" / "a.yaml", repo / "deployments" / "a.yaml")
    code, stderr = _check(repo)
    assert code == 1
    assert "deployments/a.yaml" in stderr
    assert "PROVIDER_NEEDS_GPU" in stderr


def test_a_linked_directory_is_refused_not_silently_skipped(make_repo):
    repo = make_repo({"elsewhere/a.yaml": md_yaml("a"), "deployments/witness.yaml": WITNESS})
    os.symlink(repo / "elsewhere", repo / "deployments" / "team-b")
    code, stderr = _check(repo)
    assert code == 1
    assert "deployments/team-b: error[UNREADABLE]: symbolic link to a directory" in stderr


@pytest.mark.parametrize("where", ["runway.lock", "overlays/dev.yaml", "policies/p.yaml"])
def test_a_dangling_configuration_file_is_not_taken_for_a_missing_one(make_repo, where):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    (repo / where).parent.mkdir(exist_ok=True)
    os.symlink(repo / "gone.yaml", repo / where)
    code, stderr = _check(repo)
    assert code == 1
    assert f"{where}: error[UNREADABLE]: dangling symbolic link" in stderr


@contextmanager
def _unprivileged() -> Iterator[None]:
    """Run the block without the power to read any file: root reads a mode-000 file anyway, so
    as root the effective uid is `nobody`'s for the block (the real and saved uid stay root's,
    which is what lets it be set back). Only the kernel's permission check is exercised."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_a_file_permission_denies_is_an_error_with_its_path():
    # A directory every user may enter (pytest's tmp_path is root's alone), and the CLI run
    # once first so that nothing it imports has to be read while unprivileged.
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch) / "repo"
        (repo / "deployments").mkdir(parents=True)
        (repo / "runway.yaml").write_text(PROJECT)
        (repo / "deployments" / "witness.yaml").write_text(WITNESS)
        for path in (Path(scratch), repo, repo / "deployments"):
            path.chmod(0o755)
        for path in (repo / "runway.yaml", repo / "deployments" / "witness.yaml"):
            path.chmod(0o644)
        _check(repo)
        secret = repo / "deployments" / "secret.yaml"
        secret.write_text(md_yaml("s"))
        secret.chmod(0)
        with _unprivileged():
            code, stderr = _check(repo)
    assert code == 1
    assert "deployments/secret.yaml: error[UNREADABLE]: cannot read: Permission denied" in stderr
    assert "PROVIDER_NEEDS_GPU" in stderr


def test_source_scan_lists_every_entry_a_source_could_be(tmp_path):
    deployments = tmp_path / "deployments"
    deployments.mkdir()
    os.symlink(tmp_path / "missing.yaml", deployments / "dangling.yaml")
    os.mkfifo(deployments / "pipe.yml")
    (deployments / "dir.yaml").mkdir()
    (deployments / "notes.txt").write_text("x")
    found, problems, linked = Workspace(tmp_path).scan_sources()
    assert found == ["deployments/dangling.yaml", "deployments/pipe.yml"]
    assert linked == {"deployments/dangling.yaml"}
    assert problems == []
