"""Which files are sources: deployments/**/*.yaml and *.yml as pathlib's glob finds them (the
walk that replaced it for speed must not change the answer), plus what the glob would leave
out without a word: a dangling link is listed (reading refuses it by name), and a linked
directory is a problem of the walk, not a silent skip."""

from __future__ import annotations

import os
from pathlib import Path

from compiler.io.workspace import Workspace


def test_source_discovery_matches_the_glob(tmp_path: Path) -> None:
    deployments = tmp_path / "deployments"
    (deployments / "a" / "b").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    for name in [
        "x.yaml",
        ".h.yaml",
        "a/y.yml",
        "a/b/z.yaml",
        "a/b/no.txt",
        "a/.yaml",
        "a/UP.YAML",
    ]:
        (deployments / name).write_text("x")
    (tmp_path / "elsewhere" / "e.yaml").write_text("x")
    os.symlink(tmp_path / "elsewhere", deployments / "linked-dir")
    os.symlink(tmp_path / "elsewhere" / "e.yaml", deployments / "a" / "linked.yaml")
    os.symlink(tmp_path / "missing.yaml", deployments / "dangling.yaml")
    (deployments / "dir.yaml").mkdir()
    patterns = ("deployments/**/*.yaml", "deployments/**/*.yml")
    globbed = sorted({p for pattern in patterns for p in tmp_path.glob(pattern) if p.is_file()})
    sources, problems, linked = Workspace(tmp_path).scan_sources()
    found = [tmp_path / p for p in sources]
    assert sorted(set(found) - set(globbed)) == [deployments / "dangling.yaml"]
    assert [p.relative_to(deployments).as_posix() for p in found] == [
        ".h.yaml",
        "a/.yaml",
        "a/b/z.yaml",
        "a/linked.yaml",
        "a/y.yml",
        "dangling.yaml",
        "x.yaml",
    ]
    assert linked == {"deployments/a/linked.yaml", "deployments/dangling.yaml"}
    assert [(str(d.location), d.code) for d in problems] == [
        ("deployments/linked-dir", "UNREADABLE")
    ]


def test_no_deployments_directory_is_no_sources(tmp_path: Path) -> None:
    assert Workspace(tmp_path).deployment_sources() == []
