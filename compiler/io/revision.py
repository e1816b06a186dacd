"""A commit's sources read straight from git's object store, for compiling it in memory.

`publish` compiles HEAD as committed. Exporting the commit to a scratch directory first
(`git archive`, then reading every file back, then deleting the directory) cost more than the
compile itself at 10,000 models: three passes over the disk for bytes git already holds.
Here one `git ls-tree` lists the revision and one `git cat-file --batch` reads what a compile
reads, into the same `CompileInputs` the working tree gives (same display paths, same size
bound, same refusals). What only a checkout can model, a symbolic link among the files a
compile reads, is left to the export (`None`), which follows and bounds links as the
working tree does. Unlike `git archive`, `.gitattributes` export rules (`export-ignore`,
`export-subst`) do not apply: what is compiled is the commit's content, not an archive of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from compiler.core.diagnostics import Diagnostic, Location, error
from compiler.core.errors import ConfigError, PublishError
from compiler.core.pipeline import CompileInputs, SourceFile
from compiler.core.recipes import MAX_BODY_BYTES, RECIPES_DIR
from compiler.io.git import MAX_EXPORT_BYTES, Git, TreeEntry
from compiler.io.workspace import (
    LOCK_FILE,
    MAX_FILE_BYTES,
    OVERLAYS_DIR,
    POLICIES_DIR,
    PROJECT_FILE,
    SOURCE_SUFFIXES,
    SOURCES_DIR,
    builtin_catalog,
    builtin_overlay,
    builtin_policies,
    check_size,
    source_from_bytes,
)

SUBMODULE = "160000"


def revision_inputs(
    git: Git, commit: str, env: str, entries: Sequence[TreeEntry] | None = None
) -> CompileInputs | None:
    """What compiling `env` of the project at `git`'s prefix as of `commit` reads, or None
    when a file it would read is a symbolic link (the caller exports the commit then).
    `entries`: the commit's `git.entries` under the prefix, when the caller has listed them."""
    label = commit[:12]
    if entries is None:
        entries = git.entries(commit, git.prefix())
    if sum(e.size for e in entries) > MAX_EXPORT_BYTES:
        raise PublishError(f"{label} is larger than {MAX_EXPORT_BYTES} bytes; refusing to read")
    by_path = {e.path: e for e in entries}
    # A directory that is itself a link (or a submodule) leaves no entries under it here.
    for directory in (SOURCES_DIR, POLICIES_DIR, OVERLAYS_DIR, RECIPES_DIR):
        if directory in by_path:
            return None

    # A link or a submodule where a configuration file should be: the export decides.
    names = (PROJECT_FILE, LOCK_FILE, f"{OVERLAYS_DIR}/{env}.yaml")
    if any(name in by_path and not by_path[name].is_file for name in names):
        return None
    project, lock, overlay = (by_path.get(name) for name in names)
    sources: list[TreeEntry] = []
    policies: list[TreeEntry] = []
    recipes: list[TreeEntry] = []
    for entry in entries:
        head, _, rest = entry.path.partition("/")
        if entry.mode == SUBMODULE:
            continue  # a checkout has an empty directory there, which no walk reads
        if head == SOURCES_DIR and rest and entry.path.endswith(SOURCE_SUFFIXES):
            if not entry.is_file:
                return None
            sources.append(entry)
        elif head == POLICIES_DIR and rest and "/" not in rest:
            if PurePosixPath(rest).suffix in (".yaml", ".yml"):
                if not entry.is_file:
                    return None
                policies.append(entry)
        elif head == RECIPES_DIR and rest and entry.is_file:
            recipes.append(entry)  # a linked recipe is not followed, as in the working tree
    sources.sort(key=lambda e: e.path.split("/"))
    policies.sort(key=lambda e: e.path)
    wanted = [*sources, *policies, *recipes]
    wanted += [e for e in (project, lock, overlay) if e is not None]
    # Oversized files are refused unread, as stat refuses them on disk.
    blobs = git.blobs([e.oid for e in wanted if e.size <= _limit(e)])

    def read(entry: TreeEntry) -> SourceFile:
        check_size(entry.path, entry.size)
        return source_from_bytes(blobs[entry.oid], entry.path)

    deployments: list[SourceFile] = []
    unreadable: list[Diagnostic] = []
    for entry in sources:
        try:
            deployments.append(read(entry))
        except ConfigError as exc:
            found = exc.diagnostics or [error("UNREADABLE", exc.message, Location(entry.path))]
            unreadable.extend(found)
    return CompileInputs(
        catalog=builtin_catalog(),
        builtin_policies=builtin_policies(),
        deployments=tuple(deployments),
        read_diagnostics=tuple(unreadable),
        project=read(project) if project is not None else None,
        lock=read(lock) if lock is not None else None,
        overlay=read(overlay) if overlay is not None else builtin_overlay(env),
        user_policies=tuple(read(e) for e in policies),
        recipe_files={e.path: blobs[e.oid][: MAX_BODY_BYTES + 1] for e in recipes},
    )


def _limit(entry: TreeEntry) -> int:
    """What is read of an entry: a recipe up to one byte past the client's body limit (the
    rest cannot matter), anything else whole if within the file bound."""
    return MAX_EXPORT_BYTES if entry.path.startswith(f"{RECIPES_DIR}/") else MAX_FILE_BYTES
