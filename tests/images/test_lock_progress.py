"""`lock` shows `resolving images: n/N` on a terminal, rewritten in place, and nothing
anywhere else (issue 26: thousands of images went by with no sign of progress)."""

from __future__ import annotations

import io
import re
import sys

import pytest

from compiler.cli import main
from compiler.cli.lock import ProgressLine, progress_for, progress_line
from compiler.io.lock import lock_repository
from tests.conftest import run_cli
from tests.helpers import md_yaml


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


class Clock:
    """Time that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def three_image_repo(make_repo, registry) -> tuple:
    images = []
    for i in range(3):
        registry.push_image("acme/vllm", f"v{i}", salt=str(i))
        images.append(f"{registry.host}/acme/vllm:v{i}")
    files = {
        f"deployments/m{i}.yaml": md_yaml(f"m{i}", engine={"type": "vllm", "image": image})
        for i, image in enumerate(images)
    }
    return make_repo(files), images


def test_a_terminal_gets_the_line_anything_else_gets_none():
    assert progress_for(Terminal()) is not None
    assert progress_for(io.StringIO()) is None


def test_lock_not_on_a_terminal_prints_no_progress(make_repo, registry):
    # CliRunner's stderr is not a terminal, as in CI or `2> lock.log`. click's progress bar
    # printed its label there anyway.
    repo, _ = three_image_repo(make_repo, registry)
    result = run_cli("lock", repo)
    assert result.exit_code == 0, result.stderr
    assert "resolving images" not in result.stderr
    assert "\r" not in result.stderr
    assert "runwayc: images: 3 resolved, 0 reused" in result.stderr


def test_lock_counts_every_image_it_resolves_on_one_line(make_repo, registry):
    repo, _ = three_image_repo(make_repo, registry)
    terminal = Terminal()
    # A clock that stands still: only the first and the last count are drawn.
    report = lock_repository(repo, None, progress=progress_line(terminal, Clock()))
    assert report.images is not None
    assert report.images.resolved == 3
    assert terminal.getvalue() == "\rresolving images: 0/3\rresolving images: 3/3\n"


def test_lock_on_a_terminal_draws_the_line_before_its_summary(make_repo, registry, monkeypatch):
    # Through the command itself, with stderr a terminal (CliRunner's never is).
    repo, _ = three_image_repo(make_repo, registry)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with pytest.raises(SystemExit) as exited:
        main(["lock", str(repo)])
    assert exited.value.code == 0
    progress, summary = terminal.getvalue().split("\n", 1)
    assert re.fullmatch(r"(\rresolving images: [0-3]/3)+", progress), progress
    assert progress.startswith("\rresolving images: 0/3")
    assert progress.endswith("\rresolving images: 3/3")
    assert summary.startswith("runwayc: images: 3 resolved, 0 reused")


def test_redraws_are_throttled_not_one_per_image():
    clock, terminal = Clock(), Terminal()
    line = ProgressLine(terminal, "resolving images", 3000, clock, interval=0.1)
    line.draw()
    for _ in range(3000):
        clock.now += 0.001  # 3,000 answers in 3 s: a fast registry
        line.step()
    line.finish()
    draws = terminal.getvalue().split("\r")[1:]
    # One at the start, one per 0.1 s (every 100 answers), and the last.
    assert len(draws) == 31
    assert draws[1] == "resolving images: 100/3000"
    assert draws[-1] == "resolving images: 3000/3000\n"


def test_an_interrupted_lock_leaves_its_count_and_a_new_line():
    clock, terminal = Clock(), Terminal()

    def interrupted_after_two() -> None:
        with progress_line(terminal, clock)(10) as step:
            step()
            step()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_after_two()
    assert terminal.getvalue() == "\rresolving images: 0/10\rresolving images: 2/10\n"
