"""The console script runs one-shot commands without the cyclic collector; the long-lived
agent turns it back on (a watch loop that never collected cycles would grow without bound)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from compiler.cli import main, run


@pytest.fixture
def collector() -> Iterator[None]:
    """Whatever a test does to the collector, the test process gets its own back."""
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_console_script_turns_the_collector_off(collector, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.argv", ["runwayc", "--version"])
    assert gc.isenabled()
    with pytest.raises(SystemExit) as exited:
        run()
    assert exited.value.code == 0
    assert "runwayc, version" in capsys.readouterr().out
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0  # the imports' heap is out of every later collection


def test_the_agent_turns_the_collector_back_on(collector) -> None:
    gc.disable()  # as the console script leaves it
    result = CliRunner().invoke(main, ["agent"])  # refused (no namespace) after the switch
    assert result.exit_code == 2
    assert "--namespace NS or --all-namespaces" in result.output
    assert gc.isenabled()
