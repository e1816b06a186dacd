"""The filesystem edge: read a GitOps source repo into `CompileInputs`, write the tree.

Reading a repository for a compile is here (the cache is `cache_store`'s, writing the tree
`tree_writer`'s), so the pipeline itself stays a pure function. Writes are atomic: a temp
file beside the target and a rename, so a reader (or a crash) never sees half a file.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.core.diagnostics import Diagnostic, Location, error, has_errors
from compiler.core.errors import ConfigError, FlagError, RepositoryNotFoundError
from compiler.core.load import LoadLimits
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
from compiler.core.project import (
    default_environment_of,
    environment_problem,
    environments_of,
    unknown_environment_message,
    unknown_environments,
)
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


# The most a file runwayc reads may hold: the bound on a YAML file (a repository policy may
# lower it for its own files; that is applied when the text is loaded).
MAX_FILE_BYTES = LoadLimits().max_file_bytes

_NOT_REGULAR = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _refusal(display: str, reason: str, code: str = "UNREADABLE") -> ConfigError:
    return ConfigError(f"{display}: {reason}", [error(code, reason, Location(display))])


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def read_bounded(
    path: str | Path, display: str, *, inside: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, or a ConfigError naming `display`
    and why not. The size and type come from stat before anything is opened: a 3 GiB file is
    refused unread, and a FIFO or a device is never opened (opening a FIFO for reading waits
    for a writer). With `inside` (a resolved directory), a path that resolves elsewhere
    (a symbolic link out of the repository) is refused."""
    target = os.fspath(path)
    if inside is not None:
        real = os.path.realpath(target)
        if not _within(real, inside):
            raise _refusal(display, f"symbolic link resolves outside the repository (to {real})")
        target = real
    try:
        info = os.stat(target)
    except FileNotFoundError:
        if os.path.islink(path):
            raise _refusal(display, "dangling symbolic link (its target does not exist)") from None
        raise _refusal(display, "no such file") from None
    except OSError as exc:
        raise _refusal(display, f"cannot read: {exc.strerror or exc}") from None
    _check_regular(display, info, max_bytes)
    try:
        # O_NONBLOCK: if the path became a FIFO since the stat, opening it does not wait.
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _refusal(display, f"cannot read: {exc.strerror or exc}") from None
    try:
        _check_regular(display, os.fstat(fd), max_bytes)
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _refusal(display, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > max_bytes:  # it grew after the stat
        raise _refusal(display, f"file is larger than {max_bytes} bytes", "YAML_TOO_LARGE")
    return b"".join(chunks)


def _check_regular(display: str, info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = _NOT_REGULAR.get(stat.S_IFMT(info.st_mode), "not a file")
        raise _refusal(display, f"not a regular file ({kind})")
    check_size(display, info.st_size, max_bytes)


def _read(path: str | Path, display: str, inside: str | None = None) -> SourceFile:
    return source_from_bytes(read_bounded(path, display, inside=inside), display)


def check_size(display: str, size: int, max_bytes: int = MAX_FILE_BYTES) -> None:
    """The size bound of `read_bounded`, for bytes that come from elsewhere (git's objects)."""
    if size > max_bytes:
        raise _refusal(
            display,
            f"file is {size} bytes, larger than the {max_bytes}-byte limit",
            "YAML_TOO_LARGE",
        )


def source_from_bytes(raw: bytes, display: str) -> SourceFile:
    """A source file's text, or a ConfigError naming `display` when it is not UTF-8."""
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
    paths: list[tuple[str, str, str | None]],
) -> tuple[tuple[SourceFile, ...], tuple[Diagnostic, ...]]:
    """Read many sources (path, display, the root a link must stay in); an unreadable one is
    a diagnostic, and the others still compile."""
    files: list[SourceFile] = []
    problems: list[Diagnostic] = []
    for path, display, inside in paths:
        try:
            files.append(_read(path, display, inside))
        except ConfigError as exc:
            problems.extend(
                exc.diagnostics or [error("UNREADABLE", exc.message, Location(display))]
            )
    return tuple(files), tuple(problems)


def _yaml_files(directory: Path) -> list[Path]:
    """The *.yaml and *.yml entries of a directory that are not directories: a dangling link
    or a FIFO among them is read, and refused, rather than left out without a word."""
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and not p.is_dir()
    )


def policy_sources(directory: Path | None, inside: str | None = None) -> tuple[SourceFile, ...]:
    """The policy files of a directory (`policies/`, or the agent's ConfigMap), by name; with
    `inside`, each must resolve there (a repository's own)."""
    if directory is None:
        return ()
    return tuple(_read(p, p.as_posix(), inside) for p in _yaml_files(directory))


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


_OUTSIDE = "symbolic link resolves outside the repository"
_LINKED_DIR = "symbolic link to a directory: not followed (link the files, or move the directory)"


@dataclass(frozen=True, slots=True)
class Workspace:
    """A GitOps source repository on disk."""

    root: Path

    def display(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    @property
    def real_root(self) -> str:
        """The repository's resolved path: where every file it reads must resolve to."""
        return os.path.realpath(self.root)

    def deployment_sources(self) -> list[str]:
        """Every deployments/**/*.yaml and *.yml that is not a directory, as repo-relative
        POSIX paths (see `scan_sources`)."""
        return self.scan_sources()[0]

    def scan_sources(self) -> tuple[list[str], list[Diagnostic], frozenset[str]]:
        """Every deployments/**/*.yaml and *.yml that is not a directory (files, links, and
        whatever else has the name: reading refuses a dangling link or a FIFO by name rather
        than leaving it out), what the walk could not enter, and which of them are links. A
        linked directory is refused, not descended: what it holds would not be compiled, and
        nothing would say so.
        By scandir: the file type comes with the directory entry, so only links cost a stat,
        and no Path is built (the glob took ten times as long on a 10,000-file tree,
        Path.relative_to a second as long)."""
        found: list[str] = []
        problems: list[Diagnostic] = []
        linked: set[str] = set()
        top = self.root / SOURCES_DIR
        if os.path.islink(top) and not _within(os.path.realpath(top), self.real_root):
            return [], [error("UNREADABLE", _OUTSIDE, Location(SOURCES_DIR))], frozenset()
        pending = [SOURCES_DIR] if top.is_dir() else []
        while pending:
            relative = pending.pop()
            try:
                entries = list(os.scandir(self.root / relative))
            except OSError as exc:
                reason = f"cannot read the directory: {exc.strerror or exc}"
                problems.append(error("UNREADABLE", reason, Location(relative)))
                continue
            for entry in entries:
                path = f"{relative}/{entry.name}"
                try:
                    is_dir = entry.is_dir()
                    if is_dir and entry.is_symlink():
                        problems.append(error("UNREADABLE", _LINKED_DIR, Location(path)))
                    elif is_dir:
                        pending.append(path)
                    elif entry.name.endswith(SOURCE_SUFFIXES):
                        found.append(path)
                        if entry.is_symlink():
                            linked.add(path)
                except OSError as exc:
                    reason = f"cannot read: {exc.strerror or exc}"
                    problems.append(error("UNREADABLE", reason, Location(path)))
        return sorted(found, key=lambda p: p.split("/")), problems, frozenset(linked)

    def _source(self, name: str) -> SourceFile | None:
        """A configuration file at the root, if there is an entry by that name (a dangling
        link or a FIFO is refused, not taken for a missing file)."""
        path = self.root / name
        return _read(path, name, self.real_root) if os.path.lexists(path) else None

    def project(self) -> SourceFile | None:
        return self._source(PROJECT_FILE)

    def inputs(self, env: str) -> CompileInputs:
        if not self.root.is_dir():
            raise ConfigError("no such directory")
        sources, unwalkable, linked = self.scan_sources()
        root, real = str(self.root), self.real_root
        deployments, unreadable = _read_sources(
            # Only a link can leave the repository: a plain entry is in the directory the
            # walk entered, and the walk enters no linked directory.
            [(f"{root}/{p}", p, real if p in linked else None) for p in sources]
        )
        return CompileInputs(
            catalog=builtin_catalog(),
            builtin_policies=builtin_policies(),
            deployments=deployments,
            read_diagnostics=(*unwalkable, *unreadable),
            project=self.project(),
            lock=self._source(LOCK_FILE),
            overlay=self._overlay(env),
            user_policies=tuple(
                _read(p, self.display(p), real) for p in _yaml_files(self.root / POLICIES_DIR)
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
        if os.path.lexists(path):
            return _read(path, self.display(path), self.real_root)
        return builtin_overlay(env)


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


def find_repository(start: Path) -> Path:
    """The repository a command given `start` works on, found as git finds its own: `start`
    or the nearest parent holding runway.yaml. A command run in the wrong directory (a CI
    step, a hook) must fail, not check nothing and pass. RepositoryNotFoundError (exit 2)
    when there is none."""
    where = Path(os.path.abspath(start))
    if not where.is_dir():
        raise RepositoryNotFoundError(f"no such directory {where}", str(where))
    for candidate in (where, *where.parents):
        if os.path.lexists(candidate / PROJECT_FILE):
            return candidate if candidate != where else start
    raise RepositoryNotFoundError(f"no {PROJECT_FILE} in {where} or any parent", str(where))


def require_environments(workspace: Workspace, envs: Iterable[str]) -> None:
    """FlagError (exit 2, at `--env`) naming runway.yaml's environments when it does not list
    one of `envs`: a typo must not compile, diff or publish nothing and pass. A runway.yaml
    that does not load decides nothing here; the compile reports why it does not."""
    envs = list(envs)
    for env in envs:
        # Before anything else: an environment's name becomes a directory.
        problem = environment_problem(env)
        if problem is not None:
            raise FlagError(problem, param_hint="--env")
    project, _ = read_project(workspace.project())
    if project is None:
        return
    unknown = unknown_environments(envs, project)
    if unknown:
        raise FlagError(
            unknown_environment_message(unknown, project.environments), param_hint="--env"
        )


def environments(workspace: Workspace, env: str | None) -> tuple[list[str], list[Diagnostic]]:
    """The environments a command covers: `--env` (one runway.yaml lists), else every one
    runway.yaml lists."""
    if env is not None:
        require_environments(workspace, [env])
    project, diagnostics = read_project(workspace.project())
    return environments_of(project, env), diagnostics


def default_environment(workspace: Workspace, env: str | None = None) -> str:
    """`env` when given (one runway.yaml lists), else runway.yaml's default environment, else
    `dev`."""
    if env:
        require_environments(workspace, [env])
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
    return compile_inputs(workspace.inputs(env), options, store=store, jobs=jobs, forget=forget)


def compile_inputs(
    inputs: CompileInputs,
    options: CompileOptions,
    *,
    store: CacheStore | None = None,
    jobs: int = 0,
    forget: frozenset[str] = frozenset(),
) -> CompileResult:
    """`compile_env` of inputs read elsewhere (a commit's, from git's objects)."""
    view = store.view() if store is not None else None
    result = compile_project(
        replace(inputs, cache=view), options, forget=forget, mapper=process_map(jobs)
    )
    if store is not None and view is not None and result.cache is not None:
        store.store(result.cache, view)
    return result
