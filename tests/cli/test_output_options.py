"""-q, -v and colour, on every command and before it (issue 26)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.cli._common import Verbosity, global_options, show_progress, verbosity
from tests.conftest import run_cli
from tests.helpers import md_yaml

ANSI_RED_BOLD = "\x1b[31m\x1b[1m"


def clean(make_repo):
    return make_repo({"deployments/a.yaml": md_yaml()})


def broken(make_repo):
    # a.yaml: an error; b.yaml: a warning only (an unpinned image).
    return make_repo(
        {
            "deployments/a.yaml": md_yaml("a", resources={"gpu": {"count": 0}}),
            "deployments/b.yaml": md_yaml("b"),
        }
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_prints_nothing_on_success(make_repo, where):
    repo = clean(make_repo)
    args = ["-q", "check", repo] if where == "before" else ["check", repo, "-q"]
    result = run_cli(*args)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout == ""
    compiled = run_cli("compile", repo, "--quiet")
    assert (compiled.exit_code, compiled.stderr) == (0, "")
    assert (repo / "rendered" / "dev" / "team-a" / "m" / "manifest.yaml").is_file()


def test_quiet_prints_errors_only(make_repo):
    result = run_cli("check", broken(make_repo), "-q")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert ": error[PROVIDER_NEEDS_GPU]: " in lines[0]
    loud = run_cli("check", broken(make_repo))
    assert "warning[IMAGE_NOT_PINNED]" in loud.stderr


def test_quiet_keeps_machine_output_whole(make_repo):
    result = run_cli("-q", "check", broken(make_repo), "--format", "json")
    assert '"IMAGE_NOT_PINNED"' in result.stdout
    assert result.stderr == ""


def test_verbose_says_what_compile_did(make_repo):
    repo = clean(make_repo)
    first = run_cli("-v", "compile", repo)
    assert first.exit_code == 0
    assert ": 0 of 1 source file(s) reused, 1 compiled" in first.stderr
    assert "\nrunwayc: dev: cache " in first.stderr
    assert f"file(s) in all, written to {repo / 'rendered' / 'dev'}" in first.stderr
    second = run_cli("compile", repo, "-v")
    assert ": 1 of 1 source file(s) reused, 0 compiled" in second.stderr
    assert "unchanged in" in second.stderr
    plain = run_cli("compile", repo)
    assert "source file(s) reused" not in plain.stderr


def test_verbose_check_reports_each_environment(make_repo):
    result = run_cli("check", clean(make_repo), "-v", "--no-cache")
    assert "runwayc: check: dev: 1 ModelDeployment(s), 0 error(s), 1 warning(s); 0 source" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "args",
    [["-q", "-v", "check"], ["-q", "check", "-v"], ["check", "--verbose", "--quiet"]],
    ids=["both-before", "split", "both-after"],
)
def test_quiet_and_verbose_contradict(make_repo, args):
    result = run_cli(*args, clean(make_repo))
    assert result.exit_code == 2
    assert "-q/--quiet and -v/--verbose contradict each other: give one" in result.stderr


def test_every_command_takes_the_global_options():
    def leaves(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from leaves(sub, [*path, name])
        else:
            yield path, command

    for path, command in leaves(main, []):
        names = {opt for param in command.params for opt in param.opts}
        assert {"-q", "-v", "--color"} <= names, path


def test_commands_can_read_the_verbosity():
    @click.command()
    def probe() -> None:
        click.echo(f"{verbosity().name} {show_progress()}")

    probe.params.extend(global_options())
    runner = CliRunner()
    assert runner.invoke(probe, ["-q"]).output == "QUIET False\n"
    assert runner.invoke(probe, ["-v"]).output == "VERBOSE False\n"  # not a terminal
    assert runner.invoke(probe, []).output == "NORMAL False\n"
    assert verbosity() is Verbosity.NORMAL  # outside a command: the default


def colour_run(make_repo, *flags, env=None):
    result = CliRunner(env=env).invoke(
        main, [*flags, "check", str(broken(make_repo))], catch_exceptions=False
    )
    return result.stderr


def test_no_colour_off_a_terminal(make_repo):
    assert "\x1b[" not in colour_run(make_repo, env={"NO_COLOR": None, "FORCE_COLOR": None})


def test_colour_always_paints_the_severity(make_repo):
    stderr = colour_run(make_repo, "--color", "always", env={"NO_COLOR": "1"})
    line = next(ln for ln in stderr.splitlines() if "PROVIDER_NEEDS_GPU" in ln)
    assert f": {ANSI_RED_BOLD}error[PROVIDER_NEEDS_GPU]\x1b[0m: " in line


def test_force_color_paints_and_no_color_wins(make_repo):
    assert ANSI_RED_BOLD in colour_run(make_repo, env={"FORCE_COLOR": "1", "NO_COLOR": None})
    assert "\x1b[" not in colour_run(make_repo, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in colour_run(make_repo, "--color", "never", env={"FORCE_COLOR": "1"})


def test_quiet_silences_every_commands_notices(quickstart, tmp_path):
    schema = run_cli("schema", "--out", tmp_path / "schemas", "-q")
    assert (schema.exit_code, schema.stderr) == (0, "")
    assert any((tmp_path / "schemas").iterdir())
    flux = ["bootstrap", quickstart, "--flux", "--repo-url", "https://git.example/r.git"]
    assert "rendered/ is not committed here" in run_cli(*flux).stderr
    quiet = run_cli(*flux, "-q")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    assert "kind: Kustomization" in quiet.stdout


def test_quiet_silences_lock_too(quickstart):
    """lock's summary lines (images resolved, pins recorded, pins pruned) are notices."""
    loud = run_cli("lock", quickstart, "--skip-images")
    assert loud.exit_code == 0, loud.stderr
    assert "provider pin(s) recorded" in loud.stderr
    (quickstart / "runway.lock").unlink()
    quiet = run_cli("lock", quickstart, "--skip-images", "-q")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    assert (quickstart / "runway.lock").is_file()
