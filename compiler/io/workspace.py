"""The filesystem edge: read a GitOps source repo into `CompileInputs`, write the tree.

Reading a repository for a compile is here (the cache is `cache_store`'s, writing the tree
`tree_writer`'s), so the pipeline itself stays a pure function. Writes are atomic: a temp
file beside the target and a rename, so a reader (or a crash) never sees half a file.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.core.diagnostics import Diagnostic, Location, error, has_errors
from compiler.core.errors import ConfigError
from compiler.core.pipeline import (
    BUILTIN_PREFIX,
    CompileInputs,
    CompileOptions,
    CompileResult,
    SourceFile,
    compile_project,
    read_project,
    resolve_policy,
)
from compiler.core.policy import PolicySet
from compiler.core.project import default_environment_of, environments_of
from compiler.core.recipes import MAX_BODY_BYTES, RECIPES_DIR
from compiler.core.schema import json_schemas
from compiler.core.vllm_args import OPTIONS_FILE
from compiler.io.parallel import process_map

if TYPE_CHECKING:  # the store imports this module
    from compiler.io.cache_store import CacheStore

PROJECT_FILE = "runway.yaml"
LOCK_FILE = "runway.lock"
SOURCES_DIR = "deployments"
SOURCE_SUFFIXES = (".yaml", ".yml")
POLICIES_DIR = "policies"
OVERLAYS_DIR = "overlays"
CATALOG = "providers.yaml"  # built in only: the provider catalog is no user policy


# compiler/, the package: this module is compiler/io/workspace.py.
PACKAGE_DIR = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """Built-in data (`policies`, `overlays`): packaged in the wheel, or the repo checkout."""
    packaged = PACKAGE_DIR / "_data" / name
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent / name


def _read(path: str | Path, display: str) -> SourceFile:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {display}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{display}: not UTF-8 text (byte {exc.start})",
            [
                error(
                    "NOT_UTF8",
                    f"not UTF-8 text (invalid byte at offset {exc.start})",
                    Location(display),
                )
            ],
        ) from exc
    return SourceFile(display, text)


def mounted_configmap(directory: Path, keys: Iterable[str]) -> dict[str, str]:
    """The given keys of a ConfigMap mounted as a directory (one file per key; Kubernetes'
    `..data` links are followed by reading each key's path); absent keys are left out."""
    values = {}
    for key in keys:
        path = directory / key
        if path.exists():
            values[key] = _read(path, path.as_posix()).text
    return values


def _read_sources(
    paths: list[tuple[str, str]],
) -> tuple[tuple[SourceFile, ...], tuple[Diagnostic, ...]]:
    """Read many sources (path, display); an unreadable one is a diagnostic, and the others
    still compile."""
    files: list[SourceFile] = []
    problems: list[Diagnostic] = []
    for path, display in paths:
        try:
            files.append(_read(path, display))
        except ConfigError as exc:
            problems.extend(
                exc.diagnostics or [error("UNREADABLE", exc.message, Location(display))]
            )
    return tuple(files), tuple(problems)


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def policy_sources(directory: Path | None) -> tuple[SourceFile, ...]:
    """The policy files of a directory (`policies/`, or the agent's ConfigMap), by name."""
    if directory is None:
        return ()
    return tuple(_read(p, p.as_posix()) for p in _yaml_files(directory))


def builtin_catalog() -> SourceFile:
    """The provider catalog: runwayc's own, never a repository's."""
    path = data_dir(POLICIES_DIR) / CATALOG
    return _read(path, f"{BUILTIN_PREFIX}{POLICIES_DIR}/{CATALOG}")


def builtin_overlay(env: str) -> SourceFile | None:
    """runwayc's own overlays/<env>.yaml, if it has one."""
    path = data_dir(OVERLAYS_DIR) / f"{env}.yaml"
    return _read(path, f"{BUILTIN_PREFIX}{OVERLAYS_DIR}/{path.name}") if path.is_file() else None


def builtin_policies() -> tuple[SourceFile, ...]:
    """runwayc's policy files, and the vLLM option table they are about."""
    builtin = data_dir(POLICIES_DIR)
    files = [p for p in _yaml_files(builtin) if p.name != CATALOG] + [builtin / OPTIONS_FILE]
    return tuple(_read(p, f"{BUILTIN_PREFIX}{POLICIES_DIR}/{p.name}") for p in files)


def merged_policy(user: tuple[SourceFile, ...]) -> PolicySet:
    """The built-in policy merged with the user's policy files."""
    policy, diagnostics = resolve_policy(builtin_policies(), user)
    if has_errors(diagnostics):
        raise ConfigError("the policy files do not load", diagnostics)
    return policy


def load_policy(user_dir: Path | None) -> PolicySet:
    """The built-in policy merged with the policy files in `user_dir` (the agent's mounted
    ConfigMap, or a repository's `policies/`)."""
    return merged_policy(policy_sources(user_dir))


@dataclass(frozen=True, slots=True)
class Workspace:
    """A GitOps source repository on disk."""

    root: Path

    def display(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def deployment_sources(self) -> list[str]:
        """Every deployments/**/*.yaml and *.yml as pathlib's glob would find them (files and
        links to files; linked directories are not descended), as repo-relative POSIX paths.
        By scandir: the file type comes with the directory entry, so only links cost a stat,
        and no Path is built (the glob took ten times as long on a 10,000-file tree,
        Path.relative_to a second as long)."""
        found: list[str] = []
        pending = [SOURCES_DIR]
        while pending:
            relative = pending.pop()
            try:
                entries = list(os.scandir(self.root / relative))
            except OSError:
                continue
            for entry in entries:
                path = f"{relative}/{entry.name}"
                try:
                    if entry.is_dir():
                        if not entry.is_symlink():
                            pending.append(path)
                    elif entry.name.endswith(SOURCE_SUFFIXES) and entry.is_file():
                        found.append(path)
                except OSError:
                    continue
        return sorted(found, key=lambda p: p.split("/"))

    def project(self) -> SourceFile | None:
        path = self.root / PROJECT_FILE
        return _read(path, PROJECT_FILE) if path.is_file() else None

    def inputs(self, env: str) -> CompileInputs:
        if not self.root.is_dir():
            raise ConfigError("no such directory")
        lock_path = self.root / LOCK_FILE
        sources = self.deployment_sources()
        root = str(self.root)
        deployments, unreadable = _read_sources([(f"{root}/{p}", p) for p in sources])
        return CompileInputs(
            catalog=builtin_catalog(),
            builtin_policies=builtin_policies(),
            deployments=deployments,
            read_diagnostics=unreadable,
            project=self.project(),
            lock=_read(lock_path, LOCK_FILE) if lock_path.is_file() else None,
            overlay=self._overlay(env),
            user_policies=tuple(
                _read(p, self.display(p)) for p in _yaml_files(self.root / POLICIES_DIR)
            ),
            recipe_files=self.recipe_files(),
        )

    def recipe_files(self) -> dict[str, bytes]:
        """Every regular file under recipes/, by repo-relative path. A file is read up to one
        byte past the recipes client's body limit (anything bigger cannot be a vendored
        response, and its pin will not match); symlinks are not followed, so a pin cannot be
        satisfied by a link to somewhere else."""
        store = self.root / RECIPES_DIR
        found: dict[str, bytes] = {}
        if not store.is_dir():
            return found
        for directory, _, names in os.walk(store):
            for name in sorted(names):
                path = Path(directory) / name
                if path.is_symlink() or not path.is_file():
                    continue
                with path.open("rb") as handle:
                    content = handle.read(MAX_BODY_BYTES + 1)
                found[path.relative_to(self.root).as_posix()] = content
        return found

    def _overlay(self, env: str) -> SourceFile | None:
        path = self.root / OVERLAYS_DIR / f"{env}.yaml"
        return _read(path, self.display(path)) if path.is_file() else builtin_overlay(env)


def write_bytes_atomic(path: Path, content: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(temp, 0o644)  # mkstemp's 0600 would leak into the published tree
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@contextmanager
def repository_lock(root: Path) -> Iterator[None]:
    """An exclusive advisory lock on the repository directory itself (no lock file left)."""
    if not root.is_dir():
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write one file through a temp file and a rename."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` atomically unless the file already holds exactly it; True when written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text_atomic(path, text)
    return True


def write_schemas(out: Path) -> int:
    """The JSON Schemas of every input file, into `out` (only those that changed are
    rewritten); how many there are."""
    schemas = json_schemas()
    out.mkdir(parents=True, exist_ok=True)
    for name, text in schemas.items():
        write_if_changed(out / name, text)
    return len(schemas)


# --- the environments of a command ----------------------------------------------------------------


def environments(workspace: Workspace, env: str | None) -> tuple[list[str], list[Diagnostic]]:
    """The environments a command covers: `--env`, else every one runway.yaml lists."""
    project, diagnostics = read_project(workspace.project())
    return environments_of(project, env), diagnostics


def default_environment(workspace: Workspace, env: str | None = None) -> str:
    """`env` when given, else runway.yaml's default environment, else `dev`."""
    if env:
        return env
    project, _ = read_project(workspace.project())
    return default_environment_of(project)


def compile_env(
    workspace: Workspace,
    env: str,
    options: CompileOptions,
    *,
    store: CacheStore | None = None,
    jobs: int = 0,
    forget: frozenset[str] = frozenset(),
) -> CompileResult:
    """Read and compile, reusing what `store` holds (None: no cache, nothing recorded), and
    keep the new entries there (a borrowed store keeps nothing)."""
    inputs = workspace.inputs(env)
    view = store.view() if store is not None else None
    result = compile_project(
        replace(inputs, cache=view), options, forget=forget, mapper=process_map(jobs)
    )
    if store is not None and view is not None and result.cache is not None:
        store.store(result.cache, view)
    return result
