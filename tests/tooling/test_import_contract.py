"""The folder is the layer: import-linter's contracts hold and would catch a breach, in a
module no list names."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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


def test_contract_catches_a_core_module_importing_subprocess(tmp_path):
    copy = repo_copy(tmp_path)
    emit = copy / "compiler" / "core" / "emit.py"
    emit.write_text("import subprocess  # a breach\n" + emit.read_text())
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "compiler.core.emit -> subprocess" in result.stdout


def test_a_new_core_module_is_covered_without_editing_the_contract(tmp_path):
    copy = repo_copy(tmp_path)
    (copy / "compiler" / "core" / "fresh.py").write_text("import os\n")
    (copy / "compiler" / "core" / "__init__.py").write_text("from compiler.core import fresh\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "compiler.core.fresh -> os" in result.stdout


def test_the_core_may_not_call_up_into_io(tmp_path):
    copy = repo_copy(tmp_path)
    policy = copy / "compiler" / "core" / "policy.py"
    policy.write_text("import compiler.io.workspace  # upwards\n" + policy.read_text())
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "compiler.core.policy -> compiler.io.workspace" in result.stdout
