"""The filesystem edge of the rendered tree: make a directory hold exactly a compile's files.

Only what differs is touched: a no-change compile writes nothing (mtimes stay, which keeps
`publish` and other tools honest) and a one-model change rewrites one manifest and the
kustomization. Every file is replaced atomically (temp file + rename). A first write builds
the tree beside the target and renames it into place, so an interrupted first compile leaves
no tree rather than half of one.

Finding what differs used to mean reading every file back and listing every directory, which
at 10,000 models was a third of a no-change compile. With a record of what the last write
left (each file's and directory's stat identity and each file's content hash, kept in the
cache directory) a file whose stat is unchanged is known by its hash and a directory whose
stat is unchanged by its recorded entries; anything else is read or listed as before. The
stat identity is git's index rule: inode, size, mtime and ctime, and an entry stamped in the
same clock tick as the record itself is "racily clean" and verified by content, so an edit
made just after a compile cannot hide behind a coarse timestamp. As in git, one window is
left: an edit made during a compile, in the same tick as the lstat taken of that file and
keeping its size, goes unnoticed until that file is next rewritten or a compile runs with
`--no-cache`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.io.workspace import write_bytes_atomic, write_text_atomic

RECORD_FORMAT = 1
# Written last, after the manifests they list: a reader looking mid-way never meets a
# kustomization naming a file that is not there yet.
_INDEX_FILES = ("kustomization.yaml", ".gitattributes")

Identity = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns


def _identity(st: os.stat_result) -> Identity:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(slots=True)
class TreeRecord:
    """What `write_tree` last left in `target`; trusted only for entries older than `stamp`."""

    target: str
    files: dict[str, tuple[Identity, str]] = field(default_factory=dict)  # path -> (stat, sha)
    dirs: dict[str, Identity] = field(default_factory=dict)  # "" is the target itself
    stamp: int = 0  # the record file's mtime_ns: entries stamped at or after it are racy

    def trusted(self, recorded: Identity, now: os.stat_result) -> bool:
        return (
            recorded == _identity(now)
            and now.st_mtime_ns < self.stamp
            and now.st_ctime_ns < self.stamp
        )


def read_record(path: Path, target: Path) -> TreeRecord | None:
    """The record at `path` if it describes `target`; anything damaged or foreign is none."""
    try:
        raw = path.read_bytes()
        stamp = path.stat().st_mtime_ns
        document = json.loads(raw)
        if document.get("format") != RECORD_FORMAT or document.get("target") != str(target):
            return None
        files = {
            str(name): ((int(i), int(s), int(m), int(c)), str(sha))
            for name, (i, s, m, c, sha) in document["files"].items()
        }
        dirs = {
            str(name): (int(i), int(s), int(m), int(c))
            for name, (i, s, m, c) in document["dirs"].items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return TreeRecord(str(target), files, dirs, stamp)


def _record(
    target: Path,
    dirs: Mapping[str, os.stat_result],
    files: Mapping[str, tuple[os.stat_result, bytes]],
    hashes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The record document; `hashes` holds content hashes already computed in this write."""
    known = hashes or {}
    return {
        "format": RECORD_FORMAT,
        "target": str(target),
        "dirs": {name: list(_identity(st)) for name, st in sorted(dirs.items())},
        "files": {
            name: [*_identity(st), known.get(name) or _sha(content)]
            for name, (st, content) in sorted(files.items())
        },
    }


def _store(path: Path, document: dict[str, Any]) -> None:
    """Best effort, like the compile cache: a failed write only costs the next compile time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(document, separators=(",", ":")))
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)  # a record that may be stale must not survive


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _ancestors(name: str) -> list[str]:
    """The directories above a tree path, up to the target (""): `a/b/f` -> a/b, a, ""."""
    found = []
    while name:
        name = name.rpartition("/")[0]
        found.append(name)
    return found


@dataclass(slots=True)
class _Scan:
    """The tree as found: every file and directory with its lstat, taken before any read."""

    files: dict[str, os.stat_result] = field(default_factory=dict)
    dirs: dict[str, os.stat_result] = field(default_factory=dict)


def write_tree(target: Path, files: Mapping[str, bytes], record_path: Path | None = None) -> bool:
    """Make `target` hold exactly `files`; False when nothing had to change.

    With `record_path`, the record of the last write there spares reading back unchanged
    files and listing unchanged directories; it is rewritten whenever the tree changes.
    """
    target = Path(os.path.abspath(target))
    if not target.is_dir():
        document = _write_new_tree(target, files)
        if record_path is not None:
            _store(record_path, document)
        return True
    record = read_record(record_path, target) if record_path is not None else None
    scan = _scan(target, record)
    hashes: dict[str, str] = {}
    changed = [
        name
        for name, content in files.items()
        if _differs(target, name, content, scan, record, hashes)
    ]
    stale = sorted(set(scan.files) - set(files))
    if not changed and not stale:
        if record_path is not None and record is None:  # start recording from this tree
            kept = {name: (scan.files[name], content) for name, content in files.items()}
            _store(record_path, _record(target, scan.dirs, kept, hashes))
        return False
    # Manifests before the index files that reference them; stale files go last.
    changed.sort(key=lambda name: (name in _INDEX_FILES, name))
    for name in changed:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, files[name])
    for name in stale:
        (target / name).unlink()
        _prune_empty_parents((target / name).parent, target)
    if record_path is not None:
        # Directories this write touched are left out (listed next time) rather than stat'd
        # now: an entry someone else adds in between would otherwise look recorded.
        touched = {parent for name in [*changed, *stale] for parent in _ancestors(name)}
        dirs = {name: st for name, st in scan.dirs.items() if name not in touched}
        written = set(changed)
        kept = {
            name: (os.lstat(target / name) if name in written else scan.files[name], content)
            for name, content in files.items()
        }
        _store(record_path, _record(target, dirs, kept, hashes))
    return True


def _differs(
    target: Path,
    name: str,
    content: bytes,
    scan: _Scan,
    record: TreeRecord | None,
    hashes: dict[str, str],
) -> bool:
    now = scan.files.get(name)
    if now is None or not stat.S_ISREG(now.st_mode) or now.st_size != len(content):
        return True
    recorded = record.files.get(name) if record is not None else None
    if record is not None and recorded is not None and record.trusted(recorded[0], now):
        hashes[name] = _sha(content)
        return recorded[1] != hashes[name]
    try:
        return (target / name).read_bytes() != content
    except OSError:
        return True


def _scan(target: Path, record: TreeRecord | None) -> _Scan:
    """Every entry under `target` with its lstat.

    A directory whose stat matches the record (so no entry was added, removed or renamed in
    it since) is not listed: its entries are the record's. Anything else is listed with
    scandir (pathlib's rglob is several times slower, and a fleet's tree is thousands of
    files).
    """
    found = _Scan()
    children: dict[str, list[str]] = {}
    if record is not None:
        for name in [*record.files, *record.dirs]:
            if name:
                parent, _, leaf = name.rpartition("/")
                children.setdefault(parent, []).append(leaf)
    pending = [("", os.lstat(target))]
    while pending:
        relative, here = pending.pop()
        found.dirs[relative] = here
        prefix = relative + "/" if relative else ""
        path = os.path.join(target, relative)
        recorded = record.dirs.get(relative) if record is not None else None
        if record is not None and recorded is not None and record.trusted(recorded, here):
            entries = []
            for leaf in children.get(relative, ()):
                try:
                    entries.append((leaf, os.lstat(os.path.join(path, leaf))))
                except FileNotFoundError:  # removed since the directory's stat was taken
                    continue
        else:
            with os.scandir(path) as listing:
                entries = [(e.name, e.stat(follow_symlinks=False)) for e in listing]
        for leaf, st in entries:
            if stat.S_ISDIR(st.st_mode):
                pending.append((prefix + leaf, st))
            else:
                found.files[prefix + leaf] = st
    return found


def _write_new_tree(target: Path, files: Mapping[str, bytes]) -> dict[str, Any]:
    """Build the tree in a private staging directory, stat it there and rename it into place;
    the record returned is exact, since nothing else can write there before the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would leak into the published tree
    made = {""}
    try:
        for relative, content in files.items():
            parent = relative.rpartition("/")[0]
            if parent not in made:
                os.makedirs(staging / parent, exist_ok=True)
                made.update(_ancestors(relative))
            with open(staging / relative, "wb") as handle:
                handle.write(content)
        # The target itself is left out: renaming a directory changes its ctime.
        dirs = {name: os.lstat(staging / name) for name in made if name}
        stats = {name: (os.lstat(staging / name), content) for name, content in files.items()}
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _record(target, dirs, stats)


def _prune_empty_parents(directory: Path, root: Path) -> None:
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:  # not empty
            return
        directory = directory.parent
