"""GitHub workflows are linted: zizmor (offline) and the workflow JSON Schema.

Both ours (.github/workflows) and the ones the quickstart ships for users' repositories."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import ROOT, needs_binary

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + sorted(
    (ROOT / "examples" / "quickstart" / ".github" / "workflows").glob("*.yml")
)


def test_there_are_workflows():
    assert WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_zizmor_finds_nothing(workflow):
    zizmor = needs_binary("zizmor")
    result = subprocess.run(
        # pedantic: also the findings the default persona hides (e.g. unexplained permissions)
        [zizmor, "--offline", "--no-progress", "--persona", "pedantic", str(workflow)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_github_schema(workflow):
    checker = needs_binary("check-jsonschema")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha(workflow):
    uses = re.findall(r"uses:\s*(\S+)", workflow.read_text())
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), ref


def test_pre_commit_hooks_run_real_commands():
    """Each hook in .pre-commit-hooks.yaml has pre-commit's required keys and an entry that
    is a runwayc command which exists."""
    import yaml

    from compiler.cli import main

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in hooks] == ["runwayc-check", "runwayc-compile"]
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= hook.keys()
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is False  # runwayc reads the whole repository
        program, command, *_ = hook["entry"].split()
        assert program == "runwayc"
        assert command in main.commands
        re.compile(hook["files"])
