"""The filesystem edge: read a GitOps source repo into `CompileInputs`, write the tree.

Everything that touches the disk for `compile`, `check` and `lock` is here, so the pipeline
itself stays a pure function. Writes are atomic: the new tree is built in a temporary
directory beside the target and swapped in with renames, so a reader (or a crash) never sees
half a tree, and files of removed ModelDeployments disappear with the old tree.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from compiler.core.cache import CACHE_FORMAT
from compiler.core.diagnostics import Diagnostic, Location, error, has_errors
from compiler.core.errors import ConfigError
from compiler.core.pipeline import (
    CompileInputs,
    CompileOptions,
    CompileResult,
    SourceFile,
    compile_project,
    resolve_policy,
)
from compiler.core.policy import PolicySet
from compiler.core.recipes import MAX_BODY_BYTES, RECIPES_DIR
from compiler.io.parallel import process_map

PROJECT_FILE = "runway.yaml"
LOCK_FILE = "runway.lock"
SOURCES_DIR = "deployments"
SOURCE_SUFFIXES = (".yaml", ".yml")
CACHE_DIR = ".runwayc_cache"
CACHE_ENV = "RUNWAYC_CACHE_DIR"


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


def builtin_policies() -> tuple[SourceFile, ...]:
    builtin = data_dir("policies")
    return tuple(
        _read(p, f"<builtin>/policies/{p.name}")
        for p in _yaml_files(builtin)
        if p.name != "providers.yaml"
    )


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

    def overlay_file(self, env: str) -> Path | None:
        """The repo's overlay for `env`, else the built-in one of that name, else none."""
        candidates = [self.root / "overlays" / f"{env}.yaml", data_dir("overlays") / f"{env}.yaml"]
        return next((c for c in candidates if c.is_file()), None)

    def project(self) -> SourceFile | None:
        path = self.root / PROJECT_FILE
        return _read(path, PROJECT_FILE) if path.is_file() else None

    def inputs(self, env: str) -> CompileInputs:
        if not self.root.is_dir():
            raise ConfigError("no such directory")
        lock_path = self.root / LOCK_FILE
        overlay_path = self.overlay_file(env)
        builtin = data_dir("policies")
        sources = self.deployment_sources()
        root = str(self.root)
        deployments, unreadable = _read_sources([(f"{root}/{p}", p) for p in sources])
        return CompileInputs(
            catalog=_read(builtin / "providers.yaml", "<builtin>/policies/providers.yaml"),
            builtin_policies=builtin_policies(),
            deployments=deployments,
            read_diagnostics=unreadable,
            project=self.project(),
            lock=_read(lock_path, LOCK_FILE) if lock_path.is_file() else None,
            overlay=self._overlay(overlay_path),
            user_policies=tuple(
                _read(p, self.display(p)) for p in _yaml_files(self.root / "policies")
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

    def _overlay(self, path: Path | None) -> SourceFile | None:
        if path is None:
            return None
        if path.is_relative_to(self.root):
            return _read(path, self.display(path))
        return _read(path, f"<builtin>/overlays/{path.name}")


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


# --- the incremental-compile cache --------------------------------------------------------------


@cache
def code_fingerprint() -> str:
    """A hash of this compiler's own code: a cache entry is only as good as the code that made
    it, and an editable install changes code without changing the version number."""
    digest = hashlib.sha256()
    package = PACKAGE_DIR  # every layer: a change to the core must miss the cache too
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_directory(root: Path) -> Path:
    """`$RUNWAYC_CACHE_DIR`, else `.runwayc_cache/` in the repository (like ruff's)."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else root / CACHE_DIR


def _cache_file(directory: Path, env: str, kind: str = "compile") -> Path:
    safe = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", env)
    name = env if safe else hashlib.sha256(env.encode()).hexdigest()[:32]
    return directory / f"{kind}-{name}.json"


def tree_record_file(directory: Path, env: str) -> Path:
    """Where `rendered_tree.write_tree` keeps its record of the tree it last wrote for `env`."""
    return _cache_file(directory, env, "tree")


# The cache of one environment is a directory of shards, `<xx>.entries` holding the entries
# whose key starts with the hex digits xx: a header line, then per entry "<key> <length>\n",
# the entry's text of that many characters, and "\n" (an entry holds manifests, newlines and
# all, so it is framed by its length rather than by lines). A compile rewrites only the
# shards whose entries changed, so storing a 10,000-entry cache after a one-model change
# writes two small files, not 50 MB.
_CACHE_HEADER = json.dumps({"format": CACHE_FORMAT})
_SHARD = re.compile(r"[0-9a-f]{2}")
_SHARD_SUFFIX = ".entries"
_ENTRY_HEAD = re.compile(r"([0-9a-f]{64}) ([0-9]{1,12})\n")


def _shards(directory: Path, env: str) -> Path:
    return _cache_file(directory, env).with_suffix("")


def format_shard(entries: Mapping[str, str]) -> str:
    """A shard's text: its header, then each entry framed by its key and length, by key."""
    framed = [f"{key} {len(entry)}\n{entry}\n" for key, entry in sorted(entries.items())]
    return "".join([_CACHE_HEADER, "\n", *framed])


def parse_shard(text: str, prefix: str) -> dict[str, str]:
    """The entries of a shard's text whose keys start with `prefix`. A foreign header is an
    empty shard; a frame that does not hold (a damaged length, a file cut short) ends it, so
    a shard cut short loses its last entry, not the others."""
    entries: dict[str, str] = {}
    header, newline, _ = text.partition("\n")
    if header != _CACHE_HEADER or not newline:
        return entries
    position = len(header) + 1
    while (head := _ENTRY_HEAD.match(text, position)) is not None:
        start = head.end()
        end = start + int(head.group(2))
        if text[end : end + 1] != "\n":
            break
        if head.group(1).startswith(prefix):
            entries[head.group(1)] = text[start:end]
        position = end + 1
    return entries


def read_cache(directory: Path, env: str) -> dict[str, str]:
    """The stored entries for `env`, as their text (decoded only when looked up); a missing,
    unreadable or foreign shard is an empty one."""
    entries: dict[str, str] = {}
    shards = _shards(directory, env)
    try:
        names = sorted(os.listdir(shards))
    except OSError:
        return entries
    for name in names:
        prefix = name.partition(".")[0]
        if name != prefix + _SHARD_SUFFIX or not _SHARD.fullmatch(prefix):
            continue
        try:
            text = (shards / name).read_bytes().decode("utf-8")
        except (OSError, ValueError):
            continue
        entries.update(parse_shard(text, prefix))
    return entries


def _by_shard(entries: Mapping[str, str]) -> dict[str, dict[str, str]]:
    shards: dict[str, dict[str, str]] = {}
    for key, entry in entries.items():
        if _SHARD.fullmatch(key[:2]):
            shards.setdefault(key[:2], {})[key] = entry
    return shards


def write_cache(
    directory: Path, env: str, entries: Mapping[str, str], stored: Mapping[str, str]
) -> None:
    """Store `entries` (only this compile's: the cache never outgrows the repository),
    rewriting the shards that differ from `stored`, what was read.

    Best effort: a read-only checkout still compiles, it just does not get faster."""
    try:
        new, old = _by_shard(entries), _by_shard(stored)
        if new == old:  # hits are the very strings read, so this is mostly identity checks
            return
        shards = _shards(directory, env)
        shards.mkdir(parents=True, exist_ok=True)
        _cache_file(directory, env).unlink(missing_ok=True)  # format 2's single file
        for prefix in sorted(new.keys() | old.keys()):
            path = shards / f"{prefix}{_SHARD_SUFFIX}"
            if prefix not in new:
                path.unlink(missing_ok=True)
            elif new[prefix] != old.get(prefix):
                write_text_atomic(path, format_shard(new[prefix]))
        if not old:  # nothing was read: a first compile, or format 3's shards to clear away
            for name in os.listdir(shards):
                prefix, _, suffix = name.partition(".")
                if suffix == "jsonl" and _SHARD.fullmatch(prefix):
                    (shards / name).unlink(missing_ok=True)
    except OSError:
        pass


def compile_env(
    workspace: Workspace,
    env: str,
    options: CompileOptions,
    *,
    use_cache: bool = False,
    jobs: int = 0,
    forget: frozenset[str] = frozenset(),
    borrowed_cache: Path | None = None,
) -> CompileResult:
    """Read, compile (reusing cached outcomes when asked) and store the new cache entries.

    `borrowed_cache` is the checkout whose cache a compile of some other tree may read but
    not write: diff and publish compile revisions exported beside the repository, whose
    unchanged models are hits there (entries are keyed by everything an outcome depends on,
    paths repo-relative), and the checkout's cache stays what its own last compile left.
    """
    inputs = workspace.inputs(env)
    owner = workspace.root if borrowed_cache is None else borrowed_cache
    directory = cache_directory(owner)
    stored: dict[str, str] = {}
    memo_file = _cache_file(directory, env, "lock")
    memo = None
    if use_cache or borrowed_cache is not None:
        stored = read_cache(directory, env)
        memo = _read_memo(memo_file)
        fingerprint = code_fingerprint()
        inputs = replace(inputs, cache=stored, code_fingerprint=fingerprint, lock_memo=memo)
    result = compile_project(inputs, options, forget=forget, mapper=process_map(jobs))
    if result.cache is not None and borrowed_cache is None:
        # Before anything is stored there: the entries, the lock memo, and the tree record
        # `compile` writes next (a repository without models has only the last two).
        _make_cache_directory(directory)
        write_cache(directory, env, result.cache, stored)
        if result.lock_memo is not None and result.lock_memo != memo:
            with suppress(OSError):  # best effort, like the cache shards
                write_text_atomic(memo_file, result.lock_memo)
    return result


def _make_cache_directory(directory: Path) -> None:
    """The cache directory, ignoring itself like pytest's and ruff's caches: never committed,
    whatever the repository's .gitignore says. Best effort, like everything stored there."""
    ignore = directory / ".gitignore"
    with suppress(OSError):
        if not ignore.exists():
            directory.mkdir(parents=True, exist_ok=True)
            write_text_atomic(ignore, "# created by runwayc\n*\n")


def _read_memo(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, ValueError):
        return None
