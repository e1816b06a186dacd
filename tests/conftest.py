"""Shared fixtures: temporary GitOps source repos and a CLI runner."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from compiler.cli import main
from tests.harness import PROJECT

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"
FIXTURES = ROOT / "tests" / "fixtures"


class SnapshotFileExtension(SingleFileSnapshotExtension):
    """One text file per snapshot under the top-level snapshots/ directory, so reviewers
    read a snapshot diff like any other file diff; subclasses pick the file extension."""

    _write_mode = WriteMode.TEXT

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(Path(ROOT, "snapshots", test_location.basename))


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str | os.PathLike[str]) -> CliResult:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """A GitOps source repo from {relative path: YAML text}; runway.yaml unless given."""

    def build(files: dict[str, str]) -> Path:
        repo = tmp_path / "repo"
        repo.mkdir(exist_ok=True)
        files = {"runway.yaml": PROJECT, **files}
        for relative, text in files.items():
            path = repo / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return repo

    return build


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A writable copy of examples/quickstart."""
    copy = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, copy, ignore=shutil.ignore_patterns("rendered", ".runwayc_cache"))
    return copy


@pytest.fixture(autouse=True)
def no_off_machine_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A safety net: no test may reach a registry that is not on this machine."""
    import compiler.io.registry as registry
    from compiler.core.hosts import is_loopback

    original = registry.registry_base

    def guarded(reference: Any) -> str:
        base = original(reference)
        host = base.split("://", 1)[1]
        if not is_loopback(host):
            raise registry.ResolutionError(f"test guard: {host} is not on this machine")
        return base

    monkeypatch.setattr(registry, "registry_base", guarded)


def needs_binary(name: str) -> str:
    """The path of a system binary; skip locally without it, fail under CI=true."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required under CI=true but is not on PATH")
        pytest.skip(f"{name} is not installed")
    return found
