"""The folder is the layer: import-linter's contracts hold and would catch a breach, in a
module no list names."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, needs_binary


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    binary = needs_binary("lint-imports")
    return subprocess.run(
        [binary, "--config", str(root / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": str(Path(sys.executable).parent)},
    )


def test_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def repo_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(
        ROOT / "compiler", copy / "compiler", ignore=shutil.ignore_patterns("__pycache__")
    )
    return copy


@pytest.mark.parametrize(
    ("module", "breach", "reported"),
    [
        ("core/emit.py", "import subprocess", "compiler.core.emit -> subprocess"),
        # a module no list names is covered because it is in the folder
        ("core/fresh.py", "import os", "compiler.core.fresh -> os"),
        ("core/policy.py", "import compiler.io.workspace", "compiler.core.policy -> compiler.io"),
    ],
    ids=["core-imports-subprocess", "new-core-module", "core-calls-up-into-io"],
)
def test_the_contracts_catch_a_breach(tmp_path, module, breach, reported):
    copy = repo_copy(tmp_path)
    target = copy / "compiler" / module
    target.write_text(f"{breach}  # a breach\n" + (target.read_text() if target.exists() else ""))
    if module == "core/fresh.py":
        init = copy / "compiler" / "core" / "__init__.py"
        init.write_text("from compiler.core import fresh\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert reported in result.stdout
