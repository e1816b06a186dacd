"""CLI conventions people expect from kubectl, helm and flux: a version command, shell
completion, and a check that says it ran."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.cli._common import tool_version
from tests.conftest import run_cli
from tests.helpers import md_yaml


def test_version_prints_what_dash_dash_version_does():
    result = run_cli("version")
    assert result.exit_code == 0
    assert result.stdout == f"runwayc {tool_version()}\n"
    assert run_cli("--version").stdout.split()[-1] == tool_version()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_that_calls_back_into_runwayc(shell):
    result = run_cli("completion", shell)
    assert result.exit_code == 0
    assert "_RUNWAYC_COMPLETE" in result.stdout


def test_the_completion_callback_completes_commands():
    env = {"_RUNWAYC_COMPLETE": "bash_complete", "COMP_WORDS": "runwayc comp", "COMP_CWORD": "1"}
    result = CliRunner().invoke(main, [], env=env, prog_name="runwayc")
    assert result.output.split() == ["plain,compile", "plain,completion"]


def test_an_unknown_shell_is_a_usage_error():
    result = run_cli("completion", "tcsh")
    assert result.exit_code == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr


def test_check_says_it_passed(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    result = run_cli("check", repo)
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1].startswith(
        "runwayc: check passed for every environment (0 error(s), "
    )


def test_check_says_it_failed(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml(resources={"gpu": {"count": 0}})})
    result = run_cli("check", repo, "--env", "dev")
    assert result.exit_code == 1
    assert "runwayc: check failed for environment dev (1 error(s)" in result.stderr
