"""The workflows the quickstart ships for users' repositories do what the docs promise: their
runwayc commands parse, their permissions are the least each job needs, and their shell steps
behave when run for real in a git clone of the quickstart."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.cli import main
from tests.conftest import QUICKSTART, needs_binary
from tests.gitops.conftest import commit_all, git

WORKFLOWS = QUICKSTART / ".github" / "workflows"
PULL_REQUEST = yaml.safe_load((WORKFLOWS / "runwayc-pull-request.yml").read_text())
PUBLISH = yaml.safe_load((WORKFLOWS / "runwayc-publish.yml").read_text())
ENVIRONMENTS = sorted(yaml.safe_load((QUICKSTART / "runway.yaml").read_text())["environments"])


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    found: dict[str, Any] = workflow.get("on") or workflow[True]
    return found


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def step(workflow: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    return next(s for s in steps(workflow, job) if s.get("name") == name)


def runwayc_commands(script: str) -> list[list[str]]:
    """The argument lists of every `runwayc` line, shell variables given sample values."""
    samples = {"ENV": "dev", "BASE_REF": "main"}
    commands = []
    for line in script.splitlines():
        line = line.strip()
        if not line.startswith("runwayc "):
            continue
        line = line.split(">", 1)[0]  # the redirection is the shell's, not runwayc's
        words = shlex.split(re.sub(r"\$(\w+)", lambda m: samples[m[1]], line))
        commands.append(words[1:])
    return commands


def all_commands() -> list[list[str]]:
    return [
        command
        for workflow in (PULL_REQUEST, PUBLISH)
        for job in workflow["jobs"]
        for s in steps(workflow, job)
        for command in runwayc_commands(s.get("run", ""))
    ]


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: " ".join(c))
def test_every_runwayc_command_parses(command, monkeypatch):
    """Unknown flags or bad choices fail here rather than in a user's CI."""
    monkeypatch.chdir(QUICKSTART)  # where the workflows run: REPO is found while parsing
    name, *args = command
    assert name in main.commands
    main.commands[name].make_context(name, args)


def test_the_pull_request_workflow_covers_check_compile_snapshot_and_diff():
    assert "pull_request" in triggers(PULL_REQUEST)
    assert "pull_request_target" not in triggers(PULL_REQUEST)  # never run fork code with secrets
    commands = {c[0]: c for c in all_commands()}
    assert {"check", "compile", "diff", "publish"} <= commands.keys()
    check = step(PULL_REQUEST, "check", "Check every environment against policy and the lock")
    assert "--format sarif > runwayc.sarif" in check["run"]
    upload = next(s for s in steps(PULL_REQUEST, "check") if "upload-sarif" in s.get("uses", ""))
    assert upload["with"]["sarif_file"] == "runwayc.sarif"
    assert "--locked" in commands["compile"]
    # Every environment of runway.yaml, none invented.
    assert sorted(PULL_REQUEST["jobs"]["compile"]["strategy"]["matrix"]["env"]) == ENVIRONMENTS
    assert sorted(PUBLISH["jobs"]["publish"]["strategy"]["matrix"]["env"]) == ENVIRONMENTS
    assert commands["diff"][commands["diff"].index("--format") + 1] == "markdown"
    assert "--locked" in commands["diff"]  # the diff shows what publish will push


def test_publish_runs_on_pushes_to_main_only():
    assert triggers(PUBLISH) == {"push": {"branches": ["main"]}}


@pytest.mark.parametrize("workflow", [PULL_REQUEST, PUBLISH], ids=["pull-request", "publish"])
def test_least_privilege(workflow):
    assert workflow["permissions"] == {}
    wanted = {
        "check": {"contents": "read", "security-events": "write"},
        "compile": {"contents": "read"},
        "diff": {"contents": "read", "pull-requests": "write"},
        "publish": {"contents": "write"},
    }
    for name, job in workflow["jobs"].items():
        assert job["permissions"] == wanted[name], name
        for s in job["steps"]:
            if s.get("uses", "").startswith("actions/checkout@"):
                assert s["with"]["persist-credentials"] is False  # no token left in .git/config


def run_step(
    workflow: dict[str, Any], job: str, name: str, cwd: Path, **values: str
) -> subprocess.CompletedProcess[str]:
    """A run step as the runner executes it (bash -eo pipefail), matrix env = dev; `values`
    stand in for the step env's `${{ ... }}` expressions."""
    found = step(workflow, job, name)
    env = {
        key: str(value).replace("${{ matrix.env }}", "dev")
        for key, value in found.get("env", {}).items()
    }
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", found["run"]],
        cwd=cwd,
        env={**os.environ, **env, **values},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """The quickstart as a user's repository of its own, with runwayc on PATH."""
    needs_binary("git")
    needs_binary("runwayc")
    repo = tmp_path / "models"
    shutil.copytree(QUICKSTART, repo, ignore=shutil.ignore_patterns("rendered", ".runwayc_cache"))
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / ".gitignore").write_text(".runwayc_cache/\n")
    commit_all(repo, "models")
    return repo


SNAPSHOT = "The committed rendered tree is the snapshot"
COMPILE = "Compile offline from runway.lock"


def test_snapshot_step_fails_until_the_rendered_tree_is_committed(user_repo):
    compiled = run_step(PULL_REQUEST, "compile", COMPILE, user_repo)
    assert compiled.returncode == 0, compiled.stderr
    stale = run_step(PULL_REQUEST, "compile", SNAPSHOT, user_repo)
    assert stale.returncode == 1
    assert "::error::rendered/dev is out of date" in stale.stdout
    commit_all(user_repo, "rendered")
    assert run_step(PULL_REQUEST, "compile", SNAPSHOT, user_repo).returncode == 0

    # A source change without its re-rendered output fails the pull request.
    phi4 = user_repo / "deployments/team-a/phi4.yaml"
    phi4.write_text(phi4.read_text().replace('"0.9"', '"0.85"'))
    commit_all(user_repo, "tune phi4 without re-rendering")
    assert run_step(PULL_REQUEST, "compile", COMPILE, user_repo).returncode == 0
    changed = run_step(PULL_REQUEST, "compile", SNAPSHOT, user_repo)
    assert changed.returncode == 1
    assert "rendered/dev/team-a/phi4/manifest.yaml" in changed.stdout


def test_snapshot_step_passes_when_publish_owns_the_output(user_repo):
    (user_repo / ".gitignore").write_text(".runwayc_cache/\nrendered/\n")
    commit_all(user_repo, "publish owns rendered output")
    assert run_step(PULL_REQUEST, "compile", COMPILE, user_repo).returncode == 0
    assert run_step(PULL_REQUEST, "compile", SNAPSHOT, user_repo).returncode == 0


def test_check_step_writes_sarif_and_the_gate_fails_on_errors(user_repo):
    name = "Check every environment against policy and the lock"
    clean = run_step(PULL_REQUEST, "check", name, user_repo)
    assert clean.returncode == 0, clean.stderr
    sarif = yaml.safe_load((user_repo / "runwayc.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    (user_repo / "deployments/bad.yaml").write_text(
        "apiVersion: airunway.ai/v1alpha1\nkind: ModelDeployment\nmetadata: {name: Bad}\nspec: {}\n"
    )
    broken = run_step(PULL_REQUEST, "check", name, user_repo)
    assert broken.returncode == 1
    results = yaml.safe_load((user_repo / "runwayc.sarif").read_text())["runs"][0]["results"]
    assert any(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("bad.yaml")
        for r in results
    )


def test_publish_step_pushes_and_leaves_no_token_behind(user_repo, tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(user_repo, "remote", "add", "origin", str(remote))
    git(user_repo, "push", "-q", "origin", "main")
    done = run_step(
        PUBLISH,
        "publish",
        "Publish the hydrated tree",
        user_repo,
        TOKEN="ghs_not_a_real_token",
        GITHUB_SERVER_URL="https://github.com",
    )
    assert done.returncode == 0, done.stderr
    git(remote, "cat-file", "-e", "environments/dev:team-a/kustomization.yaml")  # a sync unit
    assert "ghs_not_a_real_token" not in (user_repo / ".git" / "config").read_text()


def test_diff_step_keeps_the_comment_when_a_side_does_not_compile(user_repo, tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(user_repo, "remote", "add", "origin", str(remote))
    git(user_repo, "push", "-q", "origin", "main")
    git(user_repo, "fetch", "-q", "origin")
    phi4 = user_repo / "deployments/team-a/phi4.yaml"
    phi4.write_text(phi4.read_text().replace("count: 1", "count: 1000"))
    commit_all(user_repo, "too many GPUs")
    outputs = tmp_path / "github-output"
    name = "Diff the rendered trees of the base branch and this pull request"
    done = run_step(
        PULL_REQUEST, "diff", name, user_repo, BASE_REF="main", GITHUB_OUTPUT=str(outputs)
    )
    assert done.returncode == 0, done.stderr  # the comment is still posted ...
    assert outputs.read_text() == "status=2\n"  # ... and the job fails after it
    comment = (user_repo / "runwayc-diff.md").read_text()
    assert "<code>HEAD</code> (head) does not compile" in comment
    assert "deployments/team-a/phi4.yaml:" in comment
    final = step(PULL_REQUEST, "diff", "Fail when a side of the diff does not compile")
    assert final["if"] == "steps.diff.outputs.status != '0'"


def install_jobs() -> list[tuple[str, dict[str, Any], str]]:
    return [
        (f"{label}-{job}", workflow, job)
        for label, workflow in (("pull-request", PULL_REQUEST), ("publish", PUBLISH))
        for job in workflow["jobs"]
    ]


def fake_python(folder: Path) -> Path:
    """A `python` that records its arguments instead of installing (no index is reachable)."""
    folder.mkdir()
    python = folder / "python"
    python.write_text('#!/bin/sh\nprintf \'%s\\n\' "$@" > "$ARGS_FILE"\n')
    python.chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("workflow", "job"),
    [(w, j) for _, w, j in install_jobs()],
    ids=[i for i, _, _ in install_jobs()],
)
def test_install_step_takes_runwayc_from_its_git_repository_at_a_full_commit(
    workflow, job, tmp_path
):
    """runwayc is on no package index: `pip install runwayc==0.1.0` failed in every job."""
    assert "runwayc==" not in yaml.safe_dump(workflow)
    path = f"{fake_python(tmp_path / 'bin')}:{os.environ['PATH']}"
    args = tmp_path / "args"

    def install(**env: str) -> subprocess.CompletedProcess[str]:
        return run_step(
            workflow, job, "Install runwayc", tmp_path, PATH=path, ARGS_FILE=str(args), **env
        )

    placeholder = install(**workflow["env"])
    assert placeholder.returncode == 1
    assert "::error::RUNWAYC_COMMIT must be the full 40-character commit" in placeholder.stdout
    assert not args.exists()
    repo = "https://github.com/acme/runwayc"
    for moving in ("main", "v0.1.0", "3f" * 19):
        refused = install(RUNWAYC_REPO=repo, RUNWAYC_COMMIT=moving)
        assert refused.returncode == 1, moving
    commit = "3f" * 20
    done = install(RUNWAYC_REPO=repo, RUNWAYC_COMMIT=commit)
    assert done.returncode == 0, done.stdout + done.stderr
    assert args.read_text().splitlines() == [
        "-m",
        "pip",
        "install",
        f"runwayc @ git+https://github.com/acme/runwayc@{commit}",
    ]
