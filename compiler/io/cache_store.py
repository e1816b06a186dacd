"""Where the incremental-compile cache lives on disk, and reading and storing it.

One environment's cache is a directory of shards (their text format is
`compiler.core.cache.format_shard`), the memo of runway.lock and the record of the tree
`compile` last wrote, all in `$RUNWAYC_CACHE_DIR`, else `.runwayc_cache/` in the repository.
The pure pipeline sees only a `CacheView` of what was read and returns a `CacheUpdate`;
this module is the rest. Everything stored here is best effort: a read-only checkout still
compiles, it just does not get faster.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from contextlib import suppress
from functools import cache
from pathlib import Path

from compiler.core.cache import (
    SHARD_PREFIX,
    CacheUpdate,
    CacheView,
    Entry,
    by_shard,
    format_shard,
    parse_shard,
)
from compiler.io.workspace import PACKAGE_DIR, write_bytes_atomic, write_text_atomic

CACHE_DIR = ".runwayc_cache"
CACHE_ENV = "RUNWAYC_CACHE_DIR"
SHARD_SUFFIX = ".entries"


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


def cache_directory(root: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """`$RUNWAYC_CACHE_DIR`, else `.runwayc_cache/` in the repository (like ruff's)."""
    configured = environ.get(CACHE_ENV)
    return Path(configured) if configured else root / CACHE_DIR


def _cache_file(directory: Path, env: str, kind: str = "compile") -> Path:
    safe = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", env)
    name = env if safe else hashlib.sha256(env.encode()).hexdigest()[:32]
    return directory / f"{kind}-{name}.json"


def tree_record_file(directory: Path, env: str) -> Path:
    """Where `tree_writer.write_tree` keeps its record of the tree it last wrote for `env`."""
    return _cache_file(directory, env, "tree")


def _shards(directory: Path, env: str) -> Path:
    return _cache_file(directory, env).with_suffix("")


def read_cache(directory: Path, env: str) -> dict[str, Entry]:
    """The stored entries for `env` (decoded only when looked up); a missing, unreadable or
    foreign shard is an empty one."""
    entries: dict[str, Entry] = {}
    shards = _shards(directory, env)
    try:
        names = sorted(os.listdir(shards))
    except OSError:
        return entries
    for name in names:
        prefix = name.partition(".")[0]
        if name != prefix + SHARD_SUFFIX or not SHARD_PREFIX.fullmatch(prefix):
            continue
        try:
            data = (shards / name).read_bytes()
        except OSError:
            continue
        entries.update(parse_shard(data, prefix))
    return entries


def write_cache(
    directory: Path, env: str, entries: Mapping[str, Entry], stored: Mapping[str, Entry]
) -> None:
    """Store `entries` (only this compile's: the cache never outgrows the repository),
    rewriting the shards that differ from `stored`, what was read.

    Best effort: a read-only checkout still compiles, it just does not get faster."""
    try:
        new, old = by_shard(entries), by_shard(stored)
        if new == old:  # hits are the very entries read, so this is mostly identity checks
            return
        shards = _shards(directory, env)
        shards.mkdir(parents=True, exist_ok=True)
        _cache_file(directory, env).unlink(missing_ok=True)  # format 2's single file
        for prefix in sorted(new.keys() | old.keys()):
            path = shards / f"{prefix}{SHARD_SUFFIX}"
            if prefix not in new:
                path.unlink(missing_ok=True)
            elif new[prefix] != old.get(prefix):
                write_bytes_atomic(path, format_shard(new[prefix]))
        if not old:  # nothing was read: a first compile, or format 3's shards to clear away
            for name in os.listdir(shards):
                prefix, _, suffix = name.partition(".")
                if suffix == "jsonl" and SHARD_PREFIX.fullmatch(prefix):
                    (shards / name).unlink(missing_ok=True)
    except OSError:
        pass


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


class CacheStore:
    """One environment's cache in one cache directory. A store that is not `writable` is
    borrowed: diff and publish compile revisions exported beside the repository, whose
    unchanged models are hits in the checkout's cache (entries are keyed by everything an
    outcome depends on, paths repo-relative), and the checkout's cache stays what its own
    last compile left."""

    def __init__(self, directory: Path, env: str, *, writable: bool = True) -> None:
        self.directory = directory
        self.env = env
        self.writable = writable

    @classmethod
    def for_repo(
        cls,
        root: Path,
        env: str,
        *,
        writable: bool = True,
        environ: Mapping[str, str] = os.environ,
    ) -> CacheStore:
        """The cache of `root`'s `env`: in $RUNWAYC_CACHE_DIR, else `root/.runwayc_cache`."""
        return cls(cache_directory(root, environ), env, writable=writable)

    @property
    def _memo_file(self) -> Path:
        return _cache_file(self.directory, self.env, "lock")

    def view(self) -> CacheView:
        """What is stored: the entries, the lock memo, and this code's fingerprint."""
        return CacheView(
            read_cache(self.directory, self.env), code_fingerprint(), _read_memo(self._memo_file)
        )

    def store(self, update: CacheUpdate, read: CacheView) -> None:
        """Keep what a compile that looked at `read` would store (nothing when borrowed):
        only the shards that changed, and the lock memo when it did."""
        if not self.writable:
            return
        # Before anything is stored there: the entries, the lock memo, and the tree record
        # `compile` writes next (a repository without models has only the last two).
        _make_cache_directory(self.directory)
        write_cache(self.directory, self.env, update.entries, read.entries)
        if update.lock_memo is not None and update.lock_memo != read.lock_memo:
            with suppress(OSError):  # best effort, like the cache shards
                write_text_atomic(self._memo_file, update.lock_memo)

    def tree_record(self) -> Path:
        """Where `tree_writer.write_tree` keeps its record of the tree it last wrote."""
        return tree_record_file(self.directory, self.env)
