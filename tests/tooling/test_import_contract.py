"""The pure core stays free of I/O: import-linter's contract holds and would catch a breach."""

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
    assert "Contracts: 1 kept, 0 broken." in result.stdout


def test_contract_catches_a_core_module_importing_subprocess(tmp_path):
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(
        ROOT / "compiler", copy / "compiler", ignore=shutil.ignore_patterns("__pycache__")
    )
    emit = copy / "compiler" / "emit.py"
    emit.write_text("import subprocess  # a breach\n" + emit.read_text())
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "compiler.emit -> subprocess" in result.stdout
