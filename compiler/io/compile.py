"""`compile` and `check` at the edge: choose the environment, compile, write the tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.core.diagnostics import Diagnostic
from compiler.core.pipeline import CompileOptions, CompileResult
from compiler.io.cache_store import CacheStore
from compiler.io.tree_writer import write_tree
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
) -> CompileReport:
    """Compile one environment (`env`, else runway.yaml's default) of `repo` and, when it
    compiles, make `out` (default: <repo>/rendered/<env>) hold exactly its tree."""
    workspace = Workspace(repo)
    env = default_environment(workspace, env)
    options = CompileOptions(env=env, locked=locked)
    store = CacheStore.for_repo(repo, env) if use_cache else None
    result = compile_env(workspace, env, options, store=store, jobs=jobs)
    if not result.ok:
        return CompileReport(env, result, None)
    target = out or repo / "rendered" / env
    changed = write_tree(target, result.files, store.tree_record() if store else None)
    return CompileReport(env, result, target, changed)


def check_environments(
    repo: Path,
    env: str | None,
    *,
    locked: bool = False,
    use_cache: bool = True,
    jobs: int = 0,
) -> list[Diagnostic]:
    """Every diagnostic of `env` (else of every environment runway.yaml lists)."""
    workspace = Workspace(repo)
    names, diagnostics = environments(workspace, env)
    for name in names:
        options = CompileOptions(env=name, locked=locked)
        store = CacheStore.for_repo(repo, name) if use_cache else None
        result = compile_env(workspace, name, options, store=store, jobs=jobs)
        diagnostics.extend(result.diagnostics)
    return diagnostics
