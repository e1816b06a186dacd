"""Fan the per-file compile out over processes: an edge, since the core only sees a `map`.

Processes rather than threads because the work is pure Python and holds the GIL. The fork
start method lets workers inherit the resolved settings instead of pickling them per task;
where fork is unavailable, or the work too small to repay starting workers, it runs inline.
Results come back in input order, so the output does not depend on which worker ran what.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence

from compiler.core.outcome import SourceOutcome
from compiler.core.pipeline import Mapper, SourceFile, Work

# Below this many files per worker, starting processes costs more than it saves.
MIN_FILES_PER_WORKER = 100

# With this many CPUs or fewer the default is one process. Measured on a 2-CPU machine
# (bench/README.md, "Workers"): two workers were slower than one at 1,000 models and at
# 10,000 (the parent forks, pickles every outcome back and writes the tree while the two
# workers contend for the same two CPUs with it).
SERIAL_UP_TO_CPUS = 2

# The work of the pool being run; set in the parent just before forking, read by children.
_WORK: Work | None = None


def _run(source: SourceFile) -> SourceOutcome:
    assert _WORK is not None  # set before the pool forks
    return _WORK(source)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_jobs(cpus: int) -> int:
    """The worker count `--jobs 0` means on a machine with `cpus` CPUs."""
    return 1 if cpus <= SERIAL_UP_TO_CPUS else cpus


def process_map(jobs: int) -> Mapper:
    """A mapper over at most `jobs` processes (0: `default_jobs` of the available CPUs)."""
    wanted = jobs or default_jobs(available_cpus())

    def mapper(work: Work, sources: Sequence[SourceFile]) -> list[SourceOutcome]:
        global _WORK
        workers = min(wanted, len(sources) // MIN_FILES_PER_WORKER)
        if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return [work(source) for source in sources]
        _WORK = work
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                chunk = max(1, len(sources) // (workers * 8))
                return pool.map(_run, sources, chunksize=chunk)
        finally:
            _WORK = None

    return mapper
