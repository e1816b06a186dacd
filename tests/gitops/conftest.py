"""Real git: a bare "remote" and clones of it, all in a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import QUICKSTART, SnapshotFileExtension, needs_binary

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **IDENTITY},
        check=True,
    )
    return done.stdout.strip()


def commit_all(clone: Path, message: str) -> str:
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", message)
    return git(clone, "rev-parse", "HEAD")


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository holding the quickstart on main, as a hosted remote would."""
    needs_binary("git")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(bare), str(seed))
    shutil.copytree(
        QUICKSTART,
        seed,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("rendered", ".runwayc_cache"),
    )
    git(seed, "checkout", "-q", "-b", "main")
    commit_all(seed, "quickstart")
    git(seed, "push", "-q", "origin", "main")
    return bare


@pytest.fixture
def clone(tmp_path: Path, remote: Path):
    def make(name: str) -> Path:
        path = tmp_path / name
        git(tmp_path, "clone", "-q", "-b", "main", str(remote), str(path))
        git(path, "config", "user.name", "Test")
        git(path, "config", "user.email", "test@example.com")
        return path

    return make


class MarkdownSnapshotExtension(SnapshotFileExtension):
    file_extension = "md"


@pytest.fixture
def text_snapshot(snapshot: Any) -> Any:
    return snapshot.use_extension(MarkdownSnapshotExtension)
