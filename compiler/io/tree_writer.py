"""The filesystem edge of the rendered tree: make a directory hold exactly a compile's files.

**Ownership.** runwayc writes only into a directory it owns, and deletes only what it wrote.
The proof is the tree's own record, `.runwayc-tree` at its top: the environment and the name
of every file the last write left (names only, so it changes only when a model comes or goes,
and it travels with the tree through Git). A directory is written only when it is new, empty,
or holds exactly what its record names; anything else in it (a file or directory runwayc did
not write, a symlink, another environment's record) refuses the write with the path and the
reason, and so does a directory that is or contains the source repository, lies in one of its
input directories, holds environment trees or lies inside one. Every path written is checked
component by component (no `..`, no absolute path, nothing but `[A-Za-z0-9._-]`) and created
with O_EXCL in a directory runwayc made itself, so no name and no link can lead out.

**All or nothing.** A changed tree is built whole in the spare beside the target
(`.<name>.runwayc-spare`, same parent, so the same file system), which holds the previous
tree: an unchanged file is a hard link to the target's (its inode and mtime stay, so a
one-model change still leaves every other file's mtime alone), a changed one a new file, and
the ownership record goes last, which marks the spare complete. Shared inodes are never
written in place: an entry to change is unlinked and made anew. The switch is one
`renameat2(RENAME_EXCHANGE)`: the kernel swaps the two directory entries in one step, so at
every instant the target path is the old tree or the new one, never a mix and never missing.
The old tree becomes the spare, and the next write reuses its directories and links, so a
small change costs a few operations rather than rebuilding (and, worse, deleting: `rmdir` on
a file system mounted with `discard` costs milliseconds each) thousands of directories.
Where the exchange is not available (not Linux, or a file system without it) the switch is
three renames, target -> `.<name>.runwayc-old`, spare -> target, old -> spare; a kill between
the first two leaves no target, and the next write (or `recover`) finishes the switch when the
spare is complete (its record is there) and otherwise puts the old tree back. Either way,
after a kill and the next run the tree is one whole revision. The spare carries a `.gitignore`
of `*` (removed while it is in place as the tree), so Git never lists or adds it. Crash
consistency across a power loss would need an fsync of every file; that is not attempted.

**One writer at a time.** Writes into one target hold `flock` on `.<name>.runwayc-lock` beside
it, which holds the holder's pid; a second compile waits for the first (and says so) instead
of interleaving. The lock file is removed on release; a waiter that wakes on a removed file
opens the new one (the inode is compared after locking), so two holders cannot coexist.

**Only what differs.** A no-change compile writes nothing (mtimes stay, which keeps `publish`
and other tools honest). Finding what differs used to mean reading every file back and listing
every directory, which at 10,000 models was a third of a no-change compile. With a record of
what the last write left (each file's and directory's stat identity and each file's content
hash, kept in the cache directory) a file whose stat is unchanged is known by its hash and a
directory whose stat is unchanged by its recorded entries; anything else is read or listed as
before. The record also says what the spare holds once the switch is done (the tree it
replaced, as scanned), so the next build lists only the spare's directories whose stat moved;
a name from that part of the record is checked like any path before it deletes anything. The
stat identity is git's index rule: inode, size, mtime and ctime, and an entry stamped in the
same clock tick as the record itself is "racily clean" and verified by content, so an edit
made just after a compile cannot hide behind a coarse timestamp. As in git, one window is
left: an edit made during a compile, in the same tick as the lstat taken of that file and
keeping its size, goes unnoticed until that file is next rewritten or a compile runs with
`--no-cache`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.core.diagnostics import Location, error
from compiler.core.errors import OutputError
from compiler.core.gitops import hydrate
from compiler.io.workspace import write_text_atomic

RECORD_FORMAT = 1
OWNERSHIP_FILE = ".runwayc-tree"
OWNERSHIP_FORMAT = 1
# What marks a source repository: a directory holding one of these is never an output.
SOURCE_MARKERS = ("runway.yaml", "deployments", ".git")
# The repository's inputs (and runwayc's cache): an output inside one would be read back.
INPUT_DIRECTORIES = (".git", "deployments", "policies", "overlays", "recipes", ".runwayc_cache")
_COMPONENT = re.compile(r"[A-Za-z0-9._-]{1,255}")
_PLAIN_PART = r"(?!\.\.?(?:/|$))[A-Za-z0-9._-]{1,255}"  # never "." or ".."
_PLAIN_PATH = re.compile(f"{_PLAIN_PART}(?:/{_PLAIN_PART})*")
_MAX_OWNERSHIP_BYTES = 64 * 1024 * 1024
_SIBLING = ".runwayc-"  # `.<target name>.runwayc-{spare,old,lock}`: runwayc's own siblings
_IGNORE_FILE = ".gitignore"
_IGNORE_ALL = b"# runwayc's spare copy of the tree beside it, for its next write: not for Git\n*\n"

Identity = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns
# What a scan keeps of an entry's lstat: its mode and identity. A stat result is about 600
# bytes with its fields; a 10,000-model tree has 40,000 entries, and most of their
# identities are the record's own tuples (see `_seen`), so a scan holds one pair per entry.
Seen = tuple[int, Identity]
_MODES: dict[int, int] = {}  # each st_mode value once: a tree has two or three of them
Waiting = Callable[[Path, str], None]  # (lock file, holder's pid as written) before blocking


def _identity(st: os.stat_result) -> Identity:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _seen(st: os.stat_result, known: Identity | None = None) -> Seen:
    """`st`'s mode and identity; the `known` tuple itself when it is the same identity."""
    identity = _identity(st)
    return (_MODES.setdefault(st.st_mode, st.st_mode), known if identity == known else identity)


def refuse(path: Path | str, reason: str) -> OutputError:
    """The error for an output refused at `path`: the path and the reason, exit 2."""
    message = f"{path}: {reason}"
    return OutputError(message, [error("OUTPUT_REFUSED", reason, Location(str(path)))])


# --- the record of stats, in the cache ------------------------------------------------------


@dataclass(slots=True)
class TreeRecord:
    """What `write_tree` last left in `target`; trusted only for entries older than `stamp`."""

    target: str
    files: dict[str, tuple[Identity, str]] = field(default_factory=dict)  # path -> (stat, sha)
    dirs: dict[str, Identity] = field(default_factory=dict)  # "" is the target itself
    stamp: int = 0  # the record file's mtime_ns: entries stamped at or after it are racy
    # What the spare beside the target held when this write left it: the tree it replaced.
    spare_files: dict[str, tuple[int, bool]] = field(default_factory=dict)  # (inode, regular)
    spare_dirs: dict[str, Identity] = field(default_factory=dict)  # the top one left out

    def trusted(self, recorded: Identity, now: Seen) -> bool:
        identity = now[1]
        return recorded == identity and identity[2] < self.stamp and identity[3] < self.stamp


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
        dirs = _directory_identities(document["dirs"])
        spare = document.get("spare", {"files": {}, "dirs": {}})  # none before a replacement
        spare_files = {
            str(name): (int(inode), regular is True)
            for name, (inode, regular) in spare["files"].items()
        }
        spare_dirs = _directory_identities(spare["dirs"])
        if "" in spare_dirs:
            return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return TreeRecord(str(target), files, dirs, stamp, spare_files, spare_dirs)


def _directory_identities(recorded: dict[str, list[int]]) -> dict[str, Identity]:
    return {str(name): (int(i), int(s), int(m), int(c)) for name, (i, s, m, c) in recorded.items()}


def _children(names: Iterable[str]) -> dict[str, list[str]]:
    """Directory -> the leaf names under it, of recorded paths (the top, "", is no child)."""
    children: dict[str, list[str]] = {}
    for name in names:
        if name:
            parent, _, leaf = name.rpartition("/")
            children.setdefault(parent, []).append(leaf)
    return children


def _record(
    target: Path,
    dirs: Mapping[str, Identity],
    files: Mapping[str, tuple[Identity, bytes]],
    hashes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The record document; `hashes` holds content hashes already computed in this write."""
    known = hashes or {}
    return {
        "format": RECORD_FORMAT,
        "target": str(target),
        "dirs": {name: list(identity) for name, identity in sorted(dirs.items())},
        "files": {
            name: [*identity, known.get(name) or _sha(content)]
            for name, (identity, content) in sorted(files.items())
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


def _directories(names: Iterable[str]) -> set[str]:
    """Every directory above the names, and "" (the target): each chain is walked once."""
    found = {""}
    for name in names:
        parent = name.rpartition("/")[0]
        while parent not in found:
            found.add(parent)
            parent = parent.rpartition("/")[0]
    return found


# --- the ownership record, in the tree ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ownership:
    """What `.runwayc-tree` says: the environment the tree is of and the files runwayc wrote."""

    env: str
    files: frozenset[str]


def ownership_text(env: str, names: Iterable[str]) -> bytes:
    lines = [
        "# runwayc owns this directory: it wrote the files listed here and deletes only these.",
        "# Do not edit it; delete the whole directory to give the directory back.",
        f"runwayc-tree {OWNERSHIP_FORMAT}",
        f"environment {env}",
        *(f"file {name}" for name in sorted(names)),
    ]
    return ("\n".join(lines) + "\n").encode("ascii")


def read_ownership(target: Path) -> Ownership | None:
    """The tree's ownership record; None when there is none or it is not runwayc's."""
    path = target / OWNERSHIP_FILE
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_OWNERSHIP_BYTES:
            return None
        text = path.read_bytes().decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    if len(lines) < 2 or lines[0] != f"runwayc-tree {OWNERSHIP_FORMAT}":
        return None
    key, _, env = lines[1].partition(" ")
    if key != "environment":
        return None
    names = set()
    for line in lines[2:]:
        key, _, name = line.partition(" ")
        if key != "file" or check_relative(name) is not None:
            return None
        names.add(name)
    return Ownership(env, frozenset(names))


def check_relative(name: str) -> str | None:
    """Why `name` cannot be a path inside the tree (None when it can): every component is a
    plain name of `[A-Za-z0-9._-]`, never `.` or `..`, and the path is never absolute."""
    if _PLAIN_PATH.fullmatch(name):  # the common case, in one match
        return None
    for part in name.split("/"):
        if part in ("", ".", "..") or not _COMPONENT.fullmatch(part):
            return f'"{name[:200]}" is not a plain relative path (component "{part[:80]}")'
    return f'"{name[:200]}" is not a plain relative path'


# --- where the target is, and whether it may be written -------------------------------------


def resolve_target(target: Path) -> Path:
    """`target` with its parent's symlinks resolved (the target itself is never followed)."""
    absolute = Path(os.path.abspath(target))
    if absolute.name in ("", ".", ".."):
        raise refuse(absolute, "is the root of the file system, which runwayc never owns")
    if _SIBLING in absolute.name:
        raise refuse(absolute, f"is named like runwayc's own working copies (*{_SIBLING}*)")
    return Path(os.path.realpath(absolute.parent)) / absolute.name


def _check_placement(target: Path, source: Path | None) -> None:
    """Refusals that do not depend on what the target holds."""
    for ancestor in target.parents:
        if os.path.lexists(ancestor / OWNERSHIP_FILE):
            owner = read_ownership(ancestor)
            env = f"environment {owner.env}'s" if owner is not None else "a rendered"
            reason = f"is inside {env} tree at {ancestor}; choose a directory outside it"
            raise refuse(target, reason)
    if source is None:
        return
    repo = Path(os.path.realpath(source))
    if repo == target:
        raise refuse(target, "is the source repository; runwayc would replace its files")
    if repo.is_relative_to(target):
        raise refuse(target, f"contains the source repository {repo}")
    for name in INPUT_DIRECTORIES:
        if target.is_relative_to(repo / name):
            raise refuse(target, f"is inside the repository's {name}/, which runwayc reads")


def _unowned_reason(target: Path) -> str:
    """Why a non-empty directory without runwayc's record is not written: the most telling."""
    with os.scandir(target) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for marker in SOURCE_MARKERS:
        if any(e.name == marker for e in entries):
            return f"holds {marker}: it is a source repository, not an output directory"
    for entry in entries:
        if _SIBLING in entry.name:  # runwayc's spare or lock beside a tree: name the tree
            continue
        if entry.is_dir(follow_symlinks=False) and os.path.lexists(
            os.path.join(entry.path, OWNERSHIP_FILE)
        ):
            return (
                f"is the parent of environment trees ({entry.path}); give each environment "
                "its own output directory"
            )
    first = entries[0].path if entries else str(target)
    return (
        f"holds files runwayc did not write ({first}); runwayc writes only into a new or empty "
        f"directory, or one holding its own {OWNERSHIP_FILE}"
    )


@dataclass(slots=True)
class _Scan:
    """The tree as found: every file and directory with its lstat, taken before any read."""

    files: dict[str, Seen] = field(default_factory=dict)
    dirs: dict[str, Seen] = field(default_factory=dict)


def _scan(target: Path, record: TreeRecord | None) -> _Scan:
    """Every entry under `target` with its lstat.

    A directory whose stat matches the record (so no entry was added, removed or renamed in
    it since) is not listed: its entries are the record's. Anything else is listed with
    scandir (pathlib's rglob is several times slower, and a fleet's tree is thousands of
    files).
    """
    found = _Scan()
    children: dict[str, list[str]] = {}
    known: dict[str, Identity] = {}
    if record is not None:
        children = _children([*record.files, *record.dirs])
        known = {name: identity for name, (identity, _) in record.files.items()}
        known.update(record.dirs)
    pending = [("", _seen(os.lstat(target), known.get("")))]
    while pending:
        relative, here = pending.pop()
        found.dirs[relative] = here
        prefix = relative + "/" if relative else ""
        path = os.path.join(target, relative)
        recorded = record.dirs.get(relative) if record is not None else None
        if record is not None and recorded is not None and record.trusted(recorded, here):
            leaves = children.get(relative, ())
        else:
            leaves = os.listdir(path)
        for leaf in leaves:
            name = prefix + leaf
            try:
                seen = _seen(os.lstat(os.path.join(path, leaf)), known.get(name))
            except FileNotFoundError:  # removed since the directory's stat was taken
                continue
            if stat.S_ISDIR(seen[0]):
                pending.append((name, seen))
            else:
                found.files[name] = seen
    return found


def _owned_scan(target: Path, env: str, record: TreeRecord | None) -> tuple[_Scan, frozenset[str]]:
    """The scan of an existing target and the names it may hold, or the refusal."""
    st = os.lstat(target)
    if stat.S_ISLNK(st.st_mode):
        raise refuse(target, "is a symbolic link; runwayc never writes through one")
    if not stat.S_ISDIR(st.st_mode):
        raise refuse(target, "is not a directory")
    ownership = read_ownership(target)
    if ownership is None:
        scan = _Scan(dirs={"": _seen(st)})
        if os.listdir(target):
            # A tree written before the ownership record: the cache's record of that very
            # write is the proof, if it names every file there.
            scan = _scan(target, None)
            if record is None or not set(scan.files) <= set(record.files):
                raise refuse(target, _unowned_reason(target))
            _refuse_links(target, scan)
            return scan, frozenset(record.files)
        return scan, frozenset()
    if ownership.env != env:
        raise refuse(
            target,
            f'holds environment "{ownership.env}"\'s tree, not "{env}"\'s; give each '
            "environment its own output directory",
        )
    scan = _scan(target, record)
    _refuse_links(target, scan)
    allowed_dirs = _directories(ownership.files)
    for name in sorted(scan.files):
        if name != OWNERSHIP_FILE and name not in ownership.files:
            raise refuse(target / name, f"was not written by runwayc (not in {OWNERSHIP_FILE})")
    for name in sorted(scan.dirs):
        if name not in allowed_dirs:
            raise refuse(target / name, f"was not made by runwayc (not in {OWNERSHIP_FILE})")
    return scan, ownership.files


def _refuse_links(target: Path, scan: _Scan) -> None:
    for name, entry in sorted(scan.files.items()):
        if stat.S_ISLNK(entry[0]):
            raise refuse(target / name, "is a symbolic link; runwayc never writes through one")


# --- writing ----------------------------------------------------------------------------------


def write_tree(
    target: Path,
    files: Mapping[str, bytes],
    record_path: Path | None = None,
    *,
    env: str = "",
    source: Path | None = None,
    allow_empty: bool = True,
    on_wait: Waiting | None = None,
) -> bool:
    """Make `target` hold exactly `files` (and its ownership record); False when nothing had
    to change. Raises OutputError, with nothing written, when `target` is not runwayc's to
    write (see the module docstring); `source` is the repository the files were compiled from.
    Without `allow_empty`, a tree with no ModelDeployment does not replace one that had some.

    With `record_path`, the record of the last write there spares reading back unchanged
    files and listing unchanged directories; it is rewritten whenever the tree changes.
    """
    target = resolve_target(target)
    directories = _directories(files)
    for name in files:
        problem = check_relative(name)
        if name in (OWNERSHIP_FILE, _IGNORE_FILE):
            problem = f"{name} is reserved for runwayc's own use"
        elif name in directories:
            problem = f'"{name}" is both a file and a directory of the tree'
        if problem is not None:
            raise refuse(target, problem)
    _check_placement(target, source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(target, on_wait):
        _recover(target)
        return _write_locked(target, files, record_path, env, allow_empty)


def _write_locked(
    target: Path,
    files: Mapping[str, bytes],
    record_path: Path | None,
    env: str,
    allow_empty: bool,
) -> bool:
    everything = {**files, OWNERSHIP_FILE: ownership_text(env, list(files))}
    if not os.path.lexists(target):
        _check_emptying(target, files, frozenset(), allow_empty)
        document = _switch_in(target, everything, {})
        if record_path is not None:
            _store(record_path, document)
        return True
    record = read_record(record_path, target) if record_path is not None else None
    scan, owned = _owned_scan(target, env, record)
    _check_emptying(target, files, owned, allow_empty)
    hashes: dict[str, str] = {}
    changed = {
        name
        for name, content in everything.items()
        if _differs(target, name, content, scan, record, hashes)
    }
    stale = set(scan.files) - set(everything)
    if not changed and not stale:
        if record_path is not None and record is None:  # start recording from this tree
            kept = {name: (scan.files[name][1], content) for name, content in everything.items()}
            dirs = {name: seen[1] for name, seen in scan.dirs.items()}
            _store(record_path, _record(target, dirs, kept, hashes))
        return False
    unchanged = {name: scan.files[name] for name in everything if name not in changed}
    document = _switch_in(target, everything, unchanged, hashes, record, scan)
    if record_path is not None:
        _store(record_path, document)
    return True


def _check_emptying(
    target: Path, files: Mapping[str, bytes], owned: frozenset[str], allow_empty: bool
) -> None:
    had = sum(1 for name in owned if name.rpartition("/")[2] == hydrate.MANIFEST)
    has = any(name.rpartition("/")[2] == hydrate.MANIFEST for name in files)
    if had and not has and not allow_empty:
        raise refuse(
            target,
            f"the environment compiles to no ModelDeployment and its tree has {had}; an empty "
            "tree makes Argo CD or Flux prune every model (pass --allow-empty if that is meant)",
        )


def _differs(
    target: Path,
    name: str,
    content: bytes,
    scan: _Scan,
    record: TreeRecord | None,
    hashes: dict[str, str],
) -> bool:
    now = scan.files.get(name)
    if now is None or not stat.S_ISREG(now[0]) or now[1][1] != len(content):
        return True
    recorded = record.files.get(name) if record is not None else None
    if record is not None and recorded is not None and record.trusted(recorded[0], now):
        hashes[name] = _sha(content)
        return recorded[1] != hashes[name]
    try:
        return (target / name).read_bytes() != content
    except OSError:
        return True


def _switch_in(
    target: Path,
    files: Mapping[str, bytes],
    unchanged: Mapping[str, Seen],
    hashes: Mapping[str, str] | None = None,
    record: TreeRecord | None = None,
    old: _Scan | None = None,
) -> dict[str, Any]:
    """Build the new tree in the spare, swap it in (the old tree becomes the spare); the
    record. Every stat is taken in the spare before the swap, where nothing else writes.
    `old` is the scan of the tree being replaced: what the spare holds after the swap, and so
    what the record says of it for the next write."""
    spare = spare_path(target)
    dirs, stats = _build(spare, target, files, unchanged, record)
    _switch(spare, target)
    document = _record(target, dirs, {name: (stats[name], files[name]) for name in files}, hashes)
    if old is not None:
        document["spare"] = {
            # The top directory is left out, as in the target's: the swap changes its ctime.
            "dirs": {name: list(seen[1]) for name, seen in sorted(old.dirs.items()) if name},
            "files": {
                name: [seen[1][0], stat.S_ISREG(seen[0])]
                for name, seen in sorted(old.files.items())
            },
        }
    return document


def _build(
    spare: Path,
    target: Path,
    files: Mapping[str, bytes],
    unchanged: Mapping[str, Seen],
    record: TreeRecord | None = None,
) -> tuple[dict[str, Identity], dict[str, Identity]]:
    """Make the spare hold exactly `files`, touching only what differs from what it holds:
    an unchanged file is a hard link to the target's (kept when it already is one), a
    changed one a new file. The shared inodes are never written: an entry to change is
    unlinked and made anew. The ownership record goes last: its presence marks the spare
    complete. Returns the identities of its directories and files."""
    _prepare_spare(spare)
    found_files: dict[str, tuple[int, bool]] = {}  # name -> (inode, a regular file)
    found_dirs: dict[str, Identity | None] = {}  # name -> its identity, when lstat gave one
    _walk(os.fspath(spare), found_files, found_dirs, record)
    wanted = _directories(files)
    touched: set[str] = set()  # directories whose entries this build changes
    root, origin = os.fspath(spare) + os.sep, os.fspath(target) + os.sep
    for name in [n for n in found_files if n != _IGNORE_FILE]:
        if name not in files or name in wanted:
            _check_removable(spare, name)
            with contextlib.suppress(FileNotFoundError):  # a record of the spare gone stale
                os.unlink(root + name)
            touched.add(name.rpartition("/")[0])
            del found_files[name]
    for name in sorted(found_dirs.keys() - wanted, key=lambda n: -n.count("/")):
        _check_removable(spare, name)
        shutil.rmtree(root + name)  # emptied above: one rmdir each
        touched.add(name.rpartition("/")[0])
    for name in sorted(wanted - found_dirs.keys(), key=lambda n: n.count("/")):
        if name:
            os.mkdir(root + name)
            touched.add(name.rpartition("/")[0])
    kept: dict[str, Identity] = {}
    for relative in sorted(files, key=lambda name: name == OWNERSHIP_FILE):
        path = root + relative
        if not os.path.normpath(path).startswith(root):  # check_relative holds; never outside
            raise refuse(target / relative, "would be written outside the output directory")
        have, source = found_files.get(relative), unchanged.get(relative)
        if have is not None:
            if source is not None and have == (source[1][0], True):
                kept[relative] = source[1]  # already a link to the target's file, untouched
                continue
            os.unlink(path)
        touched.add(relative.rpartition("/")[0])
        if source is not None:
            try:
                os.link(origin + relative, path, follow_symlinks=False)
                continue
            except OSError:  # no hard links here: the bytes are in memory anyway
                pass
        # O_EXCL never follows a link and never reuses an entry: the file is new, and ours.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(files[relative])
    # The top directory is left out: the switch changes its ctime; it is listed next time.
    # A directory this build left alone keeps the identity its lstat gave before the build.
    dirs: dict[str, Identity] = {}
    for name in wanted:
        if name:
            before = found_dirs.get(name)
            if before is None or name in touched:
                before = _identity(os.lstat(root + name))
            dirs[name] = before
    return dirs, {name: kept.get(name) or _identity(os.lstat(root + name)) for name in files}


def _check_removable(spare: Path, name: str) -> None:
    """A name from the record of the spare (cache data, so checked before it is used to
    delete anything) must be a plain path inside it; what the spare's listing gives is."""
    problem = check_relative(name)
    if problem is not None:
        raise refuse(spare / name, f"is named in the cache's record of the spare: {problem}")


def _walk(
    root: str,
    files: dict[str, tuple[int, bool]],
    dirs: dict[str, Identity | None],
    record: TreeRecord | None,
) -> None:
    """Every entry of the spare at `root`, never following a link. The spare is runwayc's own
    directory on the target's file system, so an entry's inode number (from the directory,
    no stat) says whether it is the target's file.

    The record says what the spare held when the last write left it (the tree it replaced).
    A directory whose lstat still matches its entry there, by the same rule as the target's
    (so no entry was added, removed or renamed in it since), is not listed: its entries are
    the record's. Listing 10,000 directories of a few files each was half of a one-model
    change's write; their lstats are a fifth of that."""
    children = _children([*record.spare_files, *record.spare_dirs]) if record is not None else {}
    pending = [""]
    while pending:
        relative = pending.pop()
        prefix = relative + "/" if relative else ""
        path = os.path.join(root, relative)
        recorded = record.spare_dirs.get(relative) if record is not None and relative else None
        if record is not None and recorded is not None:
            seen = _seen(os.lstat(path), recorded)
            if record.trusted(recorded, seen):
                dirs[relative] = recorded
                for leaf in children.get(relative, ()):
                    name = prefix + leaf
                    if name in record.spare_dirs:
                        pending.append(name)
                    else:
                        files[name] = record.spare_files[name]
                continue
        if relative:
            dirs[relative] = None
        with os.scandir(path) as listing:
            for entry in listing:
                name = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append(name)
                else:
                    files[name] = (entry.inode(), entry.is_file(follow_symlinks=False))


def _prepare_spare(spare: Path) -> None:
    """The spare as a real directory, hidden from Git, and marked incomplete."""
    try:
        st = os.lstat(spare)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        os.unlink(spare)  # runwayc's own name; a link there is removed, never followed
        st = None
    if st is None:
        os.mkdir(spare, 0o755)  # not mkdtemp's 0700: this becomes the published tree
    _hide(spare)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(spare / OWNERSHIP_FILE)


def _hide(spare: Path) -> None:
    """A `.gitignore` of `*` in the spare keeps Git from listing or adding any of it."""
    path = spare / _IGNORE_FILE
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        regular = stat.S_ISREG(st.st_mode) and st.st_size == len(_IGNORE_ALL)
        if regular and path.read_bytes() == _IGNORE_ALL:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)  # whatever it is, it is not followed
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_IGNORE_ALL)


def _switch(spare: Path, target: Path) -> None:
    """Put the complete spare at `target`; the old tree, if any, becomes the spare."""
    # The spare's `.gitignore` must not travel into place; dropped here, at the last moment,
    # so that a kill leaves a complete spare visible to Git for two system calls at most.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(spare / _IGNORE_FILE)
    try:
        if not os.path.lexists(target):
            os.rename(spare, target)
            return
        if not _exchange(spare, target):
            old = _old_path(target)
            os.rename(target, old)
            os.rename(spare, target)
            os.rename(old, spare)
    except OSError as exc:
        raise refuse(
            target,
            f"cannot be replaced by a rename ({exc.strerror}); if it is a mount point, write "
            "into a directory inside it",
        ) from exc
    _hide(spare)


AT_FDCWD = -100
RENAME_EXCHANGE = 2


def _load_renameat2() -> Callable[..., int] | None:
    try:
        function: Any = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes += [ctypes.c_uint]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_RENAMEAT2 = _load_renameat2()


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directory entries atomically; False when the system cannot."""
    if _RENAMEAT2 is None:
        return False
    done = _RENAMEAT2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def spare_path(target: Path) -> Path:
    """Where the previous tree is kept (as hard links) to build the next one in."""
    return target.parent / f".{target.name}{_SIBLING}spare"


def _old_path(target: Path) -> Path:
    return target.parent / f".{target.name}{_SIBLING}old"


def recover(target: Path) -> None:
    """Finish or undo a switch a kill interrupted. Call with the output lock held
    (`write_tree` does)."""
    _recover(resolve_target(target))


def _recover(target: Path) -> None:
    spare, old = spare_path(target), _old_path(target)
    if _is_directory(old):  # a two-rename switch was interrupted
        if not os.path.lexists(target):
            # Killed between the renames: the spare is the new tree if it is complete.
            os.rename(spare if _complete(spare) else old, target)
        if _is_directory(old):
            if os.path.lexists(spare):
                shutil.rmtree(old)
            else:
                os.rename(old, spare)
    elif os.path.lexists(old):
        os.unlink(old)
    if _is_directory(spare):
        _hide(spare)


def _is_directory(path: Path) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def _complete(path: Path) -> bool:
    return _is_directory(path) and read_ownership(path) is not None


# --- one writer at a time ---------------------------------------------------------------------


def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}{_SIBLING}lock"


@contextlib.contextmanager
def output_lock(target: Path, on_wait: Waiting | None = None) -> Iterator[None]:
    """Hold the exclusive lock of writes into `target` (waiting for a holder to finish)."""
    path = lock_path(target)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            reason = f"cannot be used as the output's lock file ({exc.strerror})"
            raise refuse(path, reason) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait(path, os.pread(fd, 32, 0).decode("ascii", "replace").strip())
                fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                now = os.lstat(path)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
            break
        os.close(fd)  # the last holder removed this file on release: lock the current one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still held: a waiter on this inode will retry
        os.close(fd)
