"""The rendered-tree writer: with its record it reads back nothing it can trust, and is
never fooled by anything it cannot.

Each edit below is one a person or tool could make to a rendered tree between two compiles;
whatever the record says, the tree must end up holding exactly the compile's files, or, when
the edit added something runwayc did not write, be refused and left as it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.core.errors import OutputError
from compiler.io.tree_writer import OWNERSHIP_FILE, read_record, spare_path, write_tree

FILES = {
    "team-a/m0/manifest.yaml": b"kind: A\n",
    "team-a/m0/README.md": b"# m0\n",
    "team-a/m1/manifest.yaml": b"kind: B\n",
    "team-b/m2/manifest.yaml": b"kind: C\n",
    "kustomization.yaml": b"resources: []\n",
}
TREE_NAMES = {name.rpartition("/")[2] for name in FILES}  # reads of anything else are not


def tree(directory: Path) -> dict[str, bytes]:
    """The tree's files, but runwayc's ownership record."""
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != OWNERSHIP_FILE
    }


def age(record: Path) -> None:
    """Move the record's stamp one second past the tree, as if the compile were long over
    (on a fast machine the files and the record can share a clock tick: racy, re-read)."""
    stamp = record.stat().st_mtime_ns + 1_000_000_000
    os.utime(record, ns=(stamp, stamp))


def edit_keeping_times(path: Path, content: bytes, *, replace: bool = False) -> None:
    """Write `content` (in place, or as a new file) and put the old atime and mtime back:
    what a careless tool or `cp -p` leaves, and only the ctime (or inode) can tell."""
    st = path.stat()
    if replace:
        path.unlink()
    path.write_bytes(content)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, Path]:
    out, record = tmp_path / "out", tmp_path / "cache" / "tree-dev.json"
    assert write_tree(out, FILES, record)
    age(record)
    return out, record


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the tree files read back."""
    seen: list[str] = []
    original = Path.read_bytes

    def spy(self: Path) -> bytes:
        seen.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    return seen


def test_first_write_records_every_file_and_directory(written: tuple[Path, Path]) -> None:
    out, record_path = written
    record = read_record(record_path, out.resolve())
    assert record is not None
    assert sorted(record.files) == sorted([*FILES, OWNERSHIP_FILE])
    assert sorted(record.dirs) == ["team-a", "team-a/m0", "team-a/m1", "team-b", "team-b/m2"]
    assert tree(out) == FILES


def test_no_change_reads_back_only_the_ownership_record_and_writes_nothing(
    written: tuple[Path, Path], reads: list[str]
) -> None:
    out, record = written
    before = record.stat().st_mtime_ns
    assert write_tree(out, FILES, record) is False
    assert [name for name in reads if name in TREE_NAMES] == []
    assert record.stat().st_mtime_ns == before


def test_without_a_record_every_file_is_read_back(
    written: tuple[Path, Path], reads: list[str]
) -> None:
    out, _ = written
    assert write_tree(out, FILES) is False
    read_back = [name.rpartition("/")[2] for name in [*FILES, OWNERSHIP_FILE]]
    assert sorted(reads) == sorted([*read_back, OWNERSHIP_FILE])  # once more, as the proof


def test_one_change_rewrites_one_file(written: tuple[Path, Path], reads: list[str]) -> None:
    out, record = written
    new = {**FILES, "team-a/m1/manifest.yaml": b"kind: X\n"}
    mtimes = {name: (out / name).stat().st_mtime_ns for name in FILES}
    assert write_tree(out, new, record)
    assert [name for name in reads if name in TREE_NAMES] == []
    assert tree(out) == new
    assert [n for n in FILES if (out / n).stat().st_mtime_ns != mtimes[n]] == [
        "team-a/m1/manifest.yaml"
    ]


def test_same_size_edit_with_old_mtime_is_found(written: tuple[Path, Path]) -> None:
    """The edit keeps the size and puts the mtime back: only the ctime tells."""
    out, record = written
    edit_keeping_times(out / "team-a" / "m0" / "manifest.yaml", b"kind: Z\n")
    assert write_tree(out, FILES, record)
    assert tree(out) == FILES


def test_replaced_file_with_same_content_size_and_times_is_found(
    written: tuple[Path, Path],
) -> None:
    out, record = written
    edit_keeping_times(out / "team-b" / "m2" / "manifest.yaml", b"kind: Q\n", replace=True)
    assert write_tree(out, FILES, record)
    assert tree(out) == FILES


@pytest.mark.parametrize(
    "foreign",
    ["team-a/m0/extra.yaml", "team-a/new/manifest.yaml", "team-c/x/y/z.yaml", "stray.txt"],
)
def test_foreign_files_are_refused_not_removed(written: tuple[Path, Path], foreign: str) -> None:
    """A file runwayc did not write is never deleted: the write is refused, naming it."""
    out, record = written
    (out / foreign).parent.mkdir(parents=True, exist_ok=True)
    (out / foreign).write_bytes(b"x")
    new = {**FILES, "team-a/m1/manifest.yaml": b"kind: X\n"}
    with pytest.raises(OutputError, match="was not written by runwayc") as refused:
        write_tree(out, new, record)
    assert refused.value.exit_code == 2
    assert tree(out) == {**FILES, foreign: b"x"}


def test_deleted_file_and_directory_are_restored(written: tuple[Path, Path]) -> None:
    out, record = written
    (out / "team-a" / "m0" / "README.md").unlink()
    for path in (out / "team-b" / "m2").iterdir():
        path.unlink()
    (out / "team-b" / "m2").rmdir()
    assert write_tree(out, FILES, record)
    assert tree(out) == FILES


def test_file_replaced_by_a_directory_is_found(written: tuple[Path, Path]) -> None:
    out, record = written
    (out / "team-a" / "m0" / "README.md").unlink()
    (out / "team-a" / "m0" / "README.md").mkdir()
    (out / "team-a" / "m0" / "README.md" / "inner").write_bytes(b"x")
    with pytest.raises(OutputError, match=r"README\.md/inner"):  # not ours to delete
        write_tree(out, FILES, record)
    assert (out / "team-a" / "m0" / "README.md" / "inner").read_bytes() == b"x"


def test_racy_entries_are_verified_by_content(written: tuple[Path, Path], reads: list[str]) -> None:
    """A record stamped in the same tick as the files cannot vouch for them."""
    out, record = written
    os.utime(record, ns=(0, 0))
    edit_keeping_times(out / "team-a" / "m1" / "manifest.yaml", b"kind: W\n")
    assert write_tree(out, FILES, record)
    assert tree(out) == FILES
    assert "manifest.yaml" in reads


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"[]",
        b'{"format": 1, "target": "/elsewhere", "files": {}, "dirs": {}}',
        b'{"format": 1, "target": "TARGET", "files": {"a": [1]}, "dirs": {}}',
        b'{"format": 1, "target": "TARGET", "files": {}, "dirs": {"": ["x", 1, 2, 3]}}',
        b'{"format": 99, "target": "TARGET", "files": {}, "dirs": {}}',
        # The spare's part: a field missing, a wrong shape, the spare's top directory.
        b'{"format": 1, "target": "TARGET", "files": {}, "dirs": {}, "spare": {"files": {}}}',
        b'{"format": 1, "target": "TARGET", "files": {}, "dirs": {}, '
        b'"spare": {"files": {"a": [1]}, "dirs": {}}}',
        b'{"format": 1, "target": "TARGET", "files": {}, "dirs": {}, '
        b'"spare": {"files": {}, "dirs": {"": [1, 2, 3, 4]}}}',
    ],
)
def test_damaged_or_foreign_record_is_no_record(written: tuple[Path, Path], damage: bytes) -> None:
    out, record = written
    record.write_bytes(damage.replace(b"TARGET", str(out.resolve()).encode()))
    age(record)
    assert read_record(record, out.resolve()) is None
    (out / "team-a" / "m0" / "manifest.yaml").write_bytes(b"kind: Y\n")
    assert write_tree(out, FILES, record)
    assert tree(out) == FILES
    assert read_record(record, out.resolve()) is not None  # rewritten with the tree


def test_lying_record_cannot_hide_a_difference(written: tuple[Path, Path]) -> None:
    """A record claiming a hash for content that is not there: stat and hash must both agree
    with the new content, so a wrong hash can only cost a rewrite, never skip one."""
    out, record = written
    document = json.loads(record.read_bytes())
    stamp = record.stat().st_mtime_ns
    document["files"]["team-a/m0/manifest.yaml"][4] = "0" * 64
    record.write_text(json.dumps(document))
    os.utime(record, ns=(stamp, stamp))
    before = (out / "team-a" / "m0" / "manifest.yaml").stat().st_mtime_ns
    assert write_tree(out, FILES, record)  # rewritten: the recorded hash says it differs
    assert tree(out) == FILES
    assert (out / "team-a" / "m0" / "manifest.yaml").stat().st_mtime_ns >= before


def test_unwritable_record_location_still_writes_the_tree(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_bytes(b"a file where the cache directory should be")
    out = tmp_path / "out"
    assert write_tree(out, FILES, blocker / "tree-dev.json")
    assert write_tree(out, FILES, blocker / "tree-dev.json") is False
    assert tree(out) == FILES


def test_no_change_without_a_record_starts_one(tmp_path: Path) -> None:
    out, record = tmp_path / "out", tmp_path / "tree-dev.json"
    write_tree(out, FILES)
    assert not record.exists()
    assert write_tree(out, FILES, record) is False
    assert read_record(record, out.resolve()) is not None


names = st.sampled_from(
    ["a/x/manifest.yaml", "a/x/README.md", "a/y/manifest.yaml", "b/z/manifest.yaml", "k.yaml"]
)
contents = st.sampled_from([b"one\n", b"two\n", b"three\n", b""])
file_sets = st.dictionaries(names, contents, min_size=1)
tampering = st.lists(
    st.tuples(st.sampled_from(["same-size", "delete", "foreign", "foreign-dir"]), names, contents),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(first=file_sets, second=file_sets, edits=tampering, aged=st.booleans())
def test_tree_holds_exactly_the_files_whatever_was_done_to_it(
    tmp_path_factory: pytest.TempPathFactory,
    first: dict[str, bytes],
    second: dict[str, bytes],
    edits: list[tuple[str, str, bytes]],
    aged: bool,
) -> None:
    base = tmp_path_factory.mktemp("tree")
    out, record = base / "out", base / "tree-dev.json"
    write_tree(out, first, record)
    if aged:
        age(record)
    foreign = False
    for action, name, content in edits:
        path = out / name
        if action == "same-size" and path.is_file():
            old = path.read_bytes()
            edit_keeping_times(path, old[::-1] if old != old[::-1] else old + b"!")
        elif action == "delete" and path.is_file():
            path.unlink()
        elif action == "foreign":
            path.with_name("foreign.txt").parent.mkdir(parents=True, exist_ok=True)
            path.with_name("foreign.txt").write_bytes(content)
            foreign = True
        elif action == "foreign-dir":
            extra = out / "extra" / name
            extra.parent.mkdir(parents=True, exist_ok=True)
            extra.write_bytes(content)
            foreign = True
    if foreign:
        before = tree(out)
        with pytest.raises(OutputError):
            write_tree(out, second, record)
        assert tree(out) == before  # refused: not a byte moved
        return
    write_tree(out, second, record)
    assert tree(out) == second
    if aged:
        age(record)
    assert write_tree(out, second, record) is False
    assert tree(out) == second


# --- the spare's record -----------------------------------------------------------------------
# The record also says what the spare holds after a write (the tree it replaced), so the next
# write lists only the spare's directories whose lstat moved. Whatever is done to the spare in
# between, the next tree is exactly the compile's files.

SECOND = {**FILES, "team-a/m0/manifest.yaml": b"kind: A2\n", "team-c/m3/manifest.yaml": b"D\n"}
THIRD = {**FILES, "team-a/m1/manifest.yaml": b"kind: B3\n"}


@pytest.fixture
def swapped(written: tuple[Path, Path]) -> tuple[Path, Path, Path]:
    """A second write done and aged: the spare holds the first tree, and the record says so."""
    out, record = written
    assert write_tree(out, SECOND, record)
    age(record)
    document = json.loads(record.read_bytes())
    assert set(document["spare"]["files"]) == {*FILES, OWNERSHIP_FILE}
    return out, record, spare_path(out.resolve())


def test_an_unchanged_spare_is_not_listed(
    swapped: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, record, spare = swapped
    listed: list[str] = []
    original = os.scandir

    def spy(path: Any = ".") -> Any:
        listed.append(os.fspath(path).rstrip("/"))
        return original(path)

    monkeypatch.setattr(os, "scandir", spy)
    assert write_tree(out, THIRD, record)
    assert tree(out) == THIRD
    # Only the spare's top directory (the swap changes its ctime) is listed.
    assert [p for p in listed if p.startswith(os.fspath(spare))] == [os.fspath(spare)]


@pytest.mark.parametrize("keep_mtime", [False, True])
def test_a_file_added_to_the_spare_is_removed(
    swapped: tuple[Path, Path, Path], keep_mtime: bool
) -> None:
    """A file dropped into one of the spare's directories changes its mtime and ctime; with
    the mtime put back, the ctime alone still tells."""
    out, record, spare = swapped
    directory = spare / "team-a" / "m0"
    before = directory.stat()
    (directory / "stray.yaml").write_bytes(b"kind: Stray\n")
    if keep_mtime:
        os.utime(directory, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert write_tree(out, THIRD, record)
    assert tree(out) == THIRD


def test_a_file_removed_from_the_spare_is_written_anew(swapped: tuple[Path, Path, Path]) -> None:
    out, record, spare = swapped
    (spare / "team-a" / "m1" / "manifest.yaml").unlink()
    (spare / "team-b" / "m2" / "manifest.yaml").unlink()
    assert write_tree(out, THIRD, record)
    assert tree(out) == THIRD


def test_a_record_of_the_spare_naming_a_path_out_of_it_is_refused(
    swapped: tuple[Path, Path, Path],
) -> None:
    """The record is cache data: a name in it that climbs out (here through a directory
    whose identity is forged to match) is refused before anything is deleted by it."""
    out, record, spare = swapped
    document = json.loads(record.read_bytes())
    stamp = record.stat().st_mtime_ns

    def identity(path: Path) -> list[int]:
        st = path.lstat()
        return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]

    document["spare"]["dirs"]["team-a/m0/.."] = identity(spare / "team-a")
    document["spare"]["files"]["team-a/m0/../m1/manifest.yaml"] = [1, True]
    record.write_text(json.dumps(document))
    os.utime(record, ns=(stamp, stamp))
    before = tree(out)
    with pytest.raises(OutputError, match=r"record of the spare: .*not a plain relative path"):
        write_tree(out, THIRD, record)
    assert tree(out) == before
    assert (spare / "team-a" / "m1" / "manifest.yaml").exists()


spare_edits = st.lists(
    st.tuples(st.sampled_from(["stray", "delete", "replace", "stray-dir"]), names, contents),
    max_size=4,
)


@settings(max_examples=100, deadline=None)
@given(revisions=st.lists(file_sets, min_size=3, max_size=4), edits=spare_edits)
def test_the_tree_is_exact_whatever_was_done_to_the_spare(
    tmp_path_factory: pytest.TempPathFactory,
    revisions: list[dict[str, bytes]],
    edits: list[tuple[str, str, bytes]],
) -> None:
    base = tmp_path_factory.mktemp("spare")
    out, record = base / "out", base / "tree-dev.json"
    for files in revisions[:-1]:
        write_tree(out, files, record)
        age(record)
    spare = spare_path(out.resolve())
    for action, name, content in edits:
        path = spare / name
        if action == "stray" and path.parent.is_dir():
            (path.parent / "stray.txt").write_bytes(content)
        elif action == "delete" and path.is_file():
            path.unlink()
        elif action == "replace" and path.is_file():
            edit_keeping_times(path, content + b"!", replace=True)
        elif action == "stray-dir" and spare.is_dir():
            (spare / "stray" / name).parent.mkdir(parents=True, exist_ok=True)
            (spare / "stray" / name).write_bytes(content)
    write_tree(out, revisions[-1], record)
    assert tree(out) == revisions[-1]
    assert write_tree(out, revisions[-1], record) is False
