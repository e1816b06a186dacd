"""`compile` and `check` at the edge: choose the environment, compile, write the tree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from compiler.core.diagnostics import Diagnostic, by_environment
from compiler.core.errors import FlagError
from compiler.core.pipeline import (
    CompileOptions,
    CompileResult,
    rendered_namespaces,
    unused_shards,
)
from compiler.core.project import environment_problem
from compiler.io.cache_store import CacheStore
from compiler.io.tree_writer import Waiting, write_tree
from compiler.io.workspace import Workspace, compile_env, default_environment, environments


@dataclass(frozen=True, slots=True)
class CompileReport:
    env: str
    result: CompileResult
    target: Path | None  # where the tree went; None when there were errors (nothing written)
    changed: bool = False  # whether any file of the tree was written or removed

    @property
    def reused(self) -> int:
        """How many source files the cache answered."""
        return self.result.cache.reused if self.result.cache is not None else 0


def compile_to_disk(
    repo: Path,
    env: str | None,
    out: Path | None,
    *,
    locked: bool = False,
    use_cache: bool = True,
    jobs: int = 0,
    allow_empty: bool = False,
    on_wait: Waiting | None = None,
) -> CompileReport:
    """Compile one environment (`env`, else runway.yaml's default) of `repo` and, when it
    compiles, make `out` (default: <repo>/rendered/<env>) hold exactly its tree.

    `out` must be runwayc's to write (`tree_writer` says when it is not, OutputError); a
    compile to no ModelDeployment does not replace a tree that had some unless `allow_empty`.
    """
    workspace = Workspace(repo)
    env = default_environment(workspace, env)
    _check_environment(env)
    options = CompileOptions(env=env, locked=locked)
    store = CacheStore.for_repo(repo, env) if use_cache else None
    result = compile_env(workspace, env, options, store=store, jobs=jobs)
    if not result.ok:
        return CompileReport(env, result, None)
    target = out or repo / "rendered" / env
    changed = write_tree(
        target,
        result.files,
        store.tree_record() if store else None,
        env=env,
        source=repo,
        allow_empty=allow_empty,
        on_wait=on_wait,
    )
    return CompileReport(env, result, target, changed)


def compile_in_memory(
    repo: Path,
    env: str | None,
    *,
    locked: bool = False,
    use_cache: bool = True,
    jobs: int = 0,
) -> CompileReport:
    """Compile one environment as `compile_to_disk` does, and write nothing: the cache is
    read (unchanged models are hits) but left as it was, and no tree is written."""
    workspace = Workspace(repo)
    env = default_environment(workspace, env)
    _check_environment(env)
    options = CompileOptions(env=env, locked=locked)
    store = CacheStore.for_repo(repo, env, writable=False) if use_cache else None
    return CompileReport(env, compile_env(workspace, env, options, store=store, jobs=jobs), None)


def check_environments(
    repo: Path,
    env: str | None,
    *,
    locked: bool = False,
    use_cache: bool = True,
    jobs: int = 0,
    on_compiled: Callable[[str, CompileResult], None] | None = None,
) -> list[Diagnostic]:
    """Every diagnostic of `env` (else of every environment runway.yaml lists); one that
    only some environments give is marked with each of them (`by_environment`)."""
    workspace = Workspace(repo)
    if env is not None:
        _check_environment(env)
    names, diagnostics = environments(workspace, env)
    found: dict[str, tuple[Diagnostic, ...]] = {}
    rendered: dict[str, frozenset[str] | None] = {}
    for name in names:
        options = CompileOptions(env=name, locked=locked)
        store = CacheStore.for_repo(repo, name) if use_cache else None
        result = compile_env(workspace, name, options, store=store, jobs=jobs)
        if on_compiled is not None:
            on_compiled(name, result)
        found[name] = result.diagnostics
        rendered[name] = rendered_namespaces(result)
    # Only a check of every environment knows that a shard key is used by none.
    unused = unused_shards(workspace.project(), rendered) if env is None else []
    return [*diagnostics, *by_environment(found), *unused]


def _check_environment(env: str) -> None:
    problem = environment_problem(env)
    if problem is not None:
        raise FlagError(problem, param_hint="--env")
