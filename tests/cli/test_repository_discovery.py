"""Commands find their repository as git does (the given directory or its nearest parent with
runway.yaml) and refuse without one; an unknown `--env` is exit 2 in every command (issue 23).
A CI step or hook run in the wrong directory, or with a typo, must fail, not pass green."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.helpers import md_yaml

# Every command that takes a repository, with what else it needs to get that far.
COMMANDS = {
    "compile": ["compile"],
    "check": ["check"],
    "lock": ["lock", "--skip-images"],
    "images": ["images"],
    "diff": ["diff", "--base", "HEAD"],
    "publish": ["publish", "--env", "dev"],
    "bootstrap": ["bootstrap", "--argocd", "--repo-url", "https://example.com/r.git"],
}
RECIPE_COMMANDS = {
    "pull": ["recipe", "pull", "Qwen/Qwen2.5-0.5B-Instruct"],
    "apply": ["recipe", "apply", "Qwen/Qwen2.5-0.5B-Instruct", "--name", "q", "-o", "q.yaml"],
}
WITNESS = md_yaml("w", resources={"gpu": {"count": 0}})


def _refused(result, where: Path) -> None:
    assert result.exit_code == 2, result.stderr
    assert f"no runway.yaml in {where} or any parent" in result.stderr


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_refuses_a_directory_without_a_repository(name, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(run_cli(*COMMANDS[name], empty), empty)
    monkeypatch.chdir(empty)  # and the default REPO, the current directory
    _refused(run_cli(*COMMANDS[name]), empty)
    assert list(empty.iterdir()) == []  # no rendered/, no runway.lock, no cache


@pytest.mark.parametrize("name", sorted(RECIPE_COMMANDS))
def test_recipe_commands_that_write_refuse_outside_a_repository(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refused(run_cli(*RECIPE_COMMANDS[name]), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_parent_of_the_repository_is_not_one(make_repo):
    repo = make_repo({"deployments/a.yaml": WITNESS})
    result = run_cli("check", repo.parent)
    _refused(result, repo.parent)


def test_a_subdirectory_works_on_its_repository(make_repo, monkeypatch):
    repo = make_repo({"deployments/team-a/a.yaml": WITNESS})
    sub = repo / "deployments" / "team-a"
    monkeypatch.chdir(sub)
    checked = run_cli("check")
    assert checked.exit_code == 1
    assert "deployments/team-a/a.yaml" in checked.stderr
    assert "PROVIDER_NEEDS_GPU" in checked.stderr
    (sub / "a.yaml").write_text(md_yaml("a"))
    compiled = run_cli("compile")
    assert compiled.exit_code == 0, compiled.stderr
    # The default output is under the repository's root, not the current directory.
    assert (repo / "rendered" / "dev" / "team-a" / "a" / "manifest.yaml").is_file()
    assert not (sub / "rendered").exists()
    locked = run_cli("lock", "--skip-images")
    assert locked.exit_code == 0, locked.stderr
    assert (repo / "runway.lock").is_file()
    assert not (sub / "runway.lock").exists()


def test_a_subdirectory_given_as_repo_works_on_its_repository(make_repo, tmp_path):
    repo = make_repo({"deployments/team-a/a.yaml": WITNESS})
    result = run_cli("check", repo / "deployments")
    assert result.exit_code == 1
    assert "deployments/team-a/a.yaml" in result.stderr


# --- unknown environments ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_unknown_environment_is_exit_2_in_every_command(name, make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    if name in ("diff", "publish"):  # they read revisions: give them one, so --env is refused
        for step in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "sources"]):
            subprocess.run(["git", *step], cwd=repo, check=True, capture_output=True)
    args = [a for a in COMMANDS[name] if a not in ("--env", "dev")]
    result = run_cli(*args, repo, "--env", "prd")
    assert result.exit_code == 2, result.stderr
    assert 'environment "prd" is not listed in runway.yaml (known: dev)' in result.stderr
    assert not (repo / "rendered").exists()
    assert not (repo / "runway.lock").exists()
