"""publish compiles a commit from git's objects, in memory: the inputs must be exactly what
the export it replaced gave (`git archive` to disk, then the working-tree reader), for every
shape a repository can hold, and a shape only a checkout can model goes to the export."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from compiler.core.pipeline import CompileInputs
from compiler.io.git import MAX_EXPORT_BYTES, Git
from compiler.io.publish import committed_files
from compiler.io.revision import revision_inputs
from compiler.io.workspace import MAX_FILE_BYTES, Workspace
from tests.conftest import QUICKSTART
from tests.gitops.conftest import commit_all, git
from tests.helpers import md_yaml


def exported_inputs(repo: Path, commit: str, env: str, scratch: Path) -> CompileInputs:
    Git(repo).export(commit, "", scratch)
    return Workspace(scratch).inputs(env)


def comparable(inputs: CompileInputs) -> dict[str, object]:
    return {
        "deployments": list(inputs.deployments),
        "read_diagnostics": [str(d) for d in inputs.read_diagnostics],
        "project": inputs.project,
        "lock": inputs.lock,
        "overlay": inputs.overlay,
        "user_policies": inputs.user_policies,
        "recipe_files": dict(sorted(inputs.recipe_files.items())),
        "catalog": inputs.catalog,
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    shutil.copytree(QUICKSTART, path, ignore=shutil.ignore_patterns("rendered", ".runwayc*"))
    git(path, "init", "-q", "-b", "main")
    return path


def test_every_shape_reads_as_the_export_read_it(repo: Path, tmp_path: Path):
    deployments = repo / "deployments"
    (deployments / "deep" / "er").mkdir(parents=True)
    (deployments / "deep" / "er" / "b.yml").write_text(md_yaml(name="b"))
    (deployments / "deep" / ".yaml").write_text(md_yaml(name="dot"))  # a name that is a suffix
    (deployments / "notes.txt").write_text("not a source")
    (deployments / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (deployments / "huge.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    (repo / "policies").mkdir(exist_ok=True)
    (repo / "policies" / "extra.yml").write_text("apiVersion: runwayc.dev/v1alpha1\n")
    (repo / "policies" / ".yaml").write_text("not read: Path.suffix of '.yaml' is empty\n")
    (repo / "policies" / "nested").mkdir()
    (repo / "policies" / "nested" / "x.yaml").write_text("not read: policies/ is flat\n")
    (repo / "overlays").mkdir(exist_ok=True)
    (repo / "overlays" / "dev.yaml").write_text("namespace: dev-overlay\n")
    (repo / "recipes" / "vendor").mkdir(parents=True)
    (repo / "recipes" / "vendor" / "r.json").write_bytes(b'{"x": 1}')
    commit = commit_all(repo, "shapes")
    for env in ("dev", "prod"):
        scratch = tmp_path / f"export-{env}"
        expected = comparable(exported_inputs(repo, commit, env, scratch))
        inputs = revision_inputs(Git(repo), commit, env)
        assert inputs is not None
        assert comparable(inputs) == expected
    assert any("huge.yaml" in d for d in expected["read_diagnostics"])  # type: ignore[attr-defined]
    assert any("latin1.yaml" in d for d in expected["read_diagnostics"])  # type: ignore[attr-defined]


def test_a_subdirectory_project_reads_as_the_export_read_it(repo: Path, tmp_path: Path):
    """publish from a project below the repository's top (git's prefix)."""
    top = tmp_path / "mono"
    git(tmp_path, "init", "-q", "-b", "main", str(top))
    shutil.rmtree(repo / ".git")
    shutil.move(repo, top / "models")
    (top / "README").write_text("the rest of a monorepo\n")
    commit = commit_all(top, "mono")
    project = top / "models"
    scratch = tmp_path / "export"
    Git(project).export(commit, Git(project).prefix(), scratch)
    expected = comparable(Workspace(scratch).inputs("dev"))
    inputs = revision_inputs(Git(project), commit, "dev")
    assert inputs is not None
    assert comparable(inputs) == expected


@pytest.mark.parametrize(
    "link",
    ["deployments/linked.yaml", "runway.lock", "deployments", "policies/p.yaml"],
)
def test_a_symbolic_link_is_left_to_the_export(repo: Path, link: str):
    """A link is followed (and bounded to the repository) by the working-tree reader; only
    a checkout can model that, so the in-memory reader declines."""
    path = repo / link
    if path.exists():
        shutil.move(path, repo / "moved-away")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("moved-away", path)
    commit = commit_all(repo, "a link")
    assert revision_inputs(Git(repo), commit, "dev") is None


def test_a_linked_recipe_is_skipped_as_the_working_tree_skips_it(repo: Path, tmp_path: Path):
    (repo / "recipes").mkdir()
    (repo / "recipes" / "real.json").write_text("{}")
    os.symlink("real.json", repo / "recipes" / "alias.json")
    commit = commit_all(repo, "recipes")
    inputs = revision_inputs(Git(repo), commit, "dev")
    assert inputs is not None
    assert sorted(inputs.recipe_files) == ["recipes/real.json"]
    expected = exported_inputs(repo, commit, "dev", tmp_path / "export")
    assert inputs.recipe_files == expected.recipe_files


def test_committed_files_reads_only_what_differs(repo: Path, monkeypatch: pytest.MonkeyPatch):
    commit = commit_all(repo, "quickstart")
    gitter = Git(repo)
    everything = gitter.files(commit, "deployments")
    compiled = dict(everything)
    changed = sorted(compiled)[0]
    compiled[changed] = b"changed\n"
    asked: list[str] = []
    real = Git.blobs

    def counting(self: Git, ids: list[str]) -> dict[str, bytes]:
        asked.extend(ids)
        return real(self, ids)

    monkeypatch.setattr(Git, "blobs", counting)
    assert committed_files(gitter, commit, "deployments", compiled) == everything
    assert len(asked) == 1  # the one file whose bytes differ


def test_a_revision_past_the_export_bound_is_refused(repo: Path, monkeypatch: pytest.MonkeyPatch):
    commit = commit_all(repo, "quickstart")
    monkeypatch.setattr("compiler.io.revision.MAX_EXPORT_BYTES", 10)
    from compiler.core.errors import PublishError

    with pytest.raises(PublishError, match="larger than 10 bytes"):
        revision_inputs(Git(repo), commit, "dev")
    assert MAX_EXPORT_BYTES > 10


def test_publish_from_a_project_in_a_subdirectory(repo: Path, tmp_path: Path):
    """A models project below a monorepo's top publishes its tree (before, `git archive`
    ran in the subdirectory and failed: "current working directory is untracked")."""
    from tests.conftest import run_cli

    top = tmp_path / "mono"
    git(tmp_path, "init", "-q", "-b", "main", str(top))
    shutil.rmtree(repo / ".git")
    shutil.move(repo, top / "models")
    commit_all(top, "mono")
    bare = tmp_path / "gitops.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(top, "remote", "add", "gitops", str(bare))
    result = run_cli("publish", top / "models", "--env", "dev", "--remote", "gitops")
    assert result.exit_code == 0, result.stderr
    names = git(bare, "ls-tree", "-r", "--name-only", "environments/dev").splitlines()
    assert "dev/mistral-7b/manifest.yaml" in names
    assert "team-a/phi4/manifest.yaml" in names
