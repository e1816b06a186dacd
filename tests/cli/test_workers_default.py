"""`--jobs 0` (the default) is chosen from what was measured, not from the CPU count alone:
on 2 CPUs one process compiled 1,000 and 10,000 models faster than two (issue 27)."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from compiler.io import parallel


def test_two_cpus_or_fewer_compile_in_one_process() -> None:
    assert parallel.default_jobs(1) == 1
    assert parallel.default_jobs(2) == 1


def test_more_cpus_get_one_worker_each() -> None:
    assert parallel.default_jobs(4) == 4


def test_default_on_two_cpus_never_starts_a_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(parallel, "available_cpus", lambda: 2)
    monkeypatch.setattr(multiprocessing, "get_context", no_pool)
    sources: list[Any] = list(range(1000))
    work: Any = lambda source: -source  # noqa: E731 - stands in for one file's compile
    assert parallel.process_map(0)(work, sources) == [-s for s in sources]
