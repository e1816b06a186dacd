"""Rendered trees at git revisions, and publishing one to the branch or path a GitOps tool syncs.

Publishing never touches a working tree: the new commit is built by `git fast-import` from the
compiled files and the target's current tip, and reaches the remote by an ordinary (never
forced) push. A push refused because the target moved is answered by fetching the new tip and
building the commit again on top of it, a bounded number of times; any other refusal fails at
once, in the remote's own words. A commit whose tree equals its parent's is never made.

Before anything is pushed, publish refuses (PublishRefused, exit 2) what would lose work: a
target path that holds sources or files that are not the environment's tree, uncommitted
changes (the commit is built from HEAD), and a source commit that is not a descendant of the
one the environment was last published from. publish compiles HEAD from git's objects in
memory (`revision_inputs`); a diff compares two revisions exported once each; a side that
does not compile is reported with its diagnostics, never as an empty tree.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from compiler.core.diagnostics import Diagnostic, Location, error, has_errors
from compiler.core.errors import FlagError, PublishError, PublishRefused
from compiler.core.gitops import hydrate
from compiler.core.gitops.diff import BrokenSide, TreeDiff, diff_trees
from compiler.core.pipeline import (
    CompileInputs,
    CompileOptions,
    CompileResult,
    SourceFile,
    read_project,
)
from compiler.core.project import unknown_environment_message
from compiler.core.recipes import RECIPES_DIR
from compiler.io.cache_store import CACHE_DIR, CacheStore
from compiler.io.git import Git, PushOutcome, TreeEntry, redact
from compiler.io.revision import revision_inputs
from compiler.io.workspace import (
    LOCK_FILE,
    OVERLAYS_DIR,
    POLICIES_DIR,
    PROJECT_FILE,
    SOURCES_DIR,
    Workspace,
    check_size,
    compile_inputs,
    source_from_bytes,
)

MAX_PUSH_ATTEMPTS = 5
DEFAULT_IDENTITY = ("runwayc", "runwayc@users.noreply.github.com")


# --- rendering at a revision -----------------------------------------------------------------


def compile_at(
    repo: Path, ref: str | None, env: str, scratch: Path, *, locked: bool = False
) -> CompileResult:
    """Compile `env` of the runwayc project at `repo` as of `ref` (None: the working tree),
    reusing what `repo`'s compile cache holds and storing nothing there."""
    if ref is None:
        return _compile(repo, env, locked=locked, cache_of=repo)
    git = Git(repo)
    inputs = revision_inputs(git, git.resolve(ref), env)
    if inputs is not None:
        return _borrowing(inputs, env, locked=locked, cache_of=repo)
    # A symbolic link among the sources: a checkout models it (and bounds where it points).
    target = scratch / hashlib.sha256(ref.encode()).hexdigest()[:16]
    git.export(ref, git.prefix(), target)
    return _compile(target, env, locked=locked, cache_of=repo)


def _compile(root: Path, env: str, *, locked: bool, cache_of: Path | None = None) -> CompileResult:
    """Compile `env` of the files at `root`, borrowing the compile cache of the checkout
    `cache_of` (default: `root`'s own) without storing anything in it."""
    return _borrowing(Workspace(root).inputs(env), env, locked=locked, cache_of=cache_of or root)


def _borrowing(inputs: CompileInputs, env: str, *, locked: bool, cache_of: Path) -> CompileResult:
    """Compile `inputs`, reading the compile cache of the checkout `cache_of` and storing
    nothing there (entries are keyed by content and repo-relative path)."""
    options = CompileOptions(env=env, locked=locked)
    borrowed = CacheStore.for_repo(cache_of, env, writable=False)
    return compile_inputs(inputs, options, store=borrowed)


@dataclass(slots=True)
class Revision:
    """One side of a diff: a commit, read from git's objects (or the working tree), and what
    its runway.yaml lists."""

    side: str  # "base" or "head"
    name: str  # as the user named it
    root: Path | None  # the working tree, or where the commit was exported (None: not yet)
    environments: frozenset[str] | None  # None: no readable runway.yaml there
    problems: tuple[Diagnostic, ...]  # runway.yaml's own diagnostics
    commit: str | None = None  # None: the working tree
    scratch: Path | None = None  # where an export goes, when git's objects cannot serve
    entries: list[TreeEntry] | None = None  # the commit's, listed once for every environment

    def broken(self, env: str, diagnostics: Sequence[Diagnostic]) -> BrokenSide:
        return BrokenSide(env, self.side, self.name, tuple(diagnostics))

    def compile(self, git: Git, env: str, *, locked: bool, cache_of: Path) -> CompileResult:
        """`env` at this revision, borrowing `cache_of`'s compile cache: from git's objects
        in memory, or (a symbolic link among the sources) from an export made once."""
        if self.root is None and self.commit is not None:
            inputs = revision_inputs(git, self.commit, env, self.entries)
            if inputs is not None:
                return _borrowing(inputs, env, locked=locked, cache_of=cache_of)
            assert self.scratch is not None
            self.root = self.scratch / self.side
            git.export(self.commit, git.prefix(), self.root)
        assert self.root is not None
        return _compile(self.root, env, locked=locked, cache_of=cache_of)


def _revision(git: Git, repo: Path, side: str, ref: str | None, scratch: Path) -> Revision:
    entries: list[TreeEntry] | None = None
    if ref is None:
        project_file = Workspace(repo).project()
        name, commit, root = "the working tree", None, repo
    else:
        name = ref
        try:
            commit = git.resolve(ref)
        except PublishError as exc:  # a revision that does not exist is a bad flag value
            raise FlagError(exc.message, param_hint=f"--{side}") from exc
        root = None
        entries = git.entries(commit, git.prefix())
        project_file, linked = _committed_project(git, entries)
        if linked:  # runway.yaml is a link: a checkout decides what it reads
            root = scratch / side
            git.export(commit, git.prefix(), root)
            project_file = Workspace(root).project()
    if project_file is None:
        where = git.prefix().rstrip("/") or "the repository's top directory"
        missing = error(
            "NO_PROJECT", f"no runway.yaml in {where} at {name}", Location(PROJECT_FILE)
        )
        return Revision(side, name, root, None, (missing,), commit, scratch, entries)
    project, problems = read_project(project_file)
    listed = frozenset(project.environments) if project is not None else None
    return Revision(side, name, root, listed, tuple(problems), commit, scratch, entries)


def _committed_project(git: Git, entries: Sequence[TreeEntry]) -> tuple[SourceFile | None, bool]:
    """runway.yaml among a commit's `entries`, read from git's objects and bounded as on
    disk, and whether it is something other than a regular file (a link), which only a
    checkout can read."""
    entry = next((e for e in entries if e.path == PROJECT_FILE), None)
    if entry is None:
        return None, False
    if not entry.is_file:
        return None, True
    check_size(PROJECT_FILE, entry.size)
    return source_from_bytes(git.blobs([entry.oid])[entry.oid], PROJECT_FILE), False


@dataclass(frozen=True, slots=True)
class EnvDiff:
    env: str
    diff: TreeDiff | None  # None: a side does not compile
    broken: tuple[BrokenSide, ...]
    unlisted: tuple[Revision, ...]  # sides whose runway.yaml does not list env: empty there


@dataclass(frozen=True, slots=True)
class DiffPlan:
    """The environments to diff between two revisions, each compiled on demand."""

    repo: Path  # whose compile cache both sides borrow
    base: Revision
    head: Revision
    names: tuple[str, ...]
    locked: bool = False  # compile both sides from their runway.lock, as publish does

    @property
    def problems(self) -> tuple[Diagnostic, ...]:
        """runway.yaml's warnings at the head side (its errors break that side)."""
        return tuple(d for d in self.head.problems if not d.is_error)

    def each(self) -> Iterator[EnvDiff]:
        """One environment at a time, so only one pair of trees is held in memory."""
        for env in self.names:
            yield self.diff_env(env)

    def diff_env(self, env: str) -> EnvDiff:
        trees: list[Mapping[str, bytes]] = []
        broken: list[BrokenSide] = []
        unlisted: list[Revision] = []
        git = Git(self.repo)
        for revision in (self.base, self.head):
            if revision.environments is None:
                broken.append(revision.broken(env, revision.problems))
            elif env not in revision.environments:
                unlisted.append(revision)  # the environment is new, or deleted, here
                trees.append({})
            else:
                result = revision.compile(git, env, locked=self.locked, cache_of=self.repo)
                if has_errors(result.diagnostics):
                    errors = [d for d in result.diagnostics if d.is_error]
                    broken.append(revision.broken(env, errors))
                trees.append(result.files)
                # Only the tree is kept: the rest of a side's result (its compiled models
                # and cache entries, 10,000 of each) must not outlive it into the other's.
                del result
        if broken:
            return EnvDiff(env, None, tuple(broken), tuple(unlisted))
        return EnvDiff(env, diff_trees(env, trees[0], trees[1]), (), tuple(unlisted))


@contextmanager
def diff_environments(
    repo: Path, base: str, head: str | None, env: str | None, *, locked: bool = False
) -> Iterator[DiffPlan]:
    """Both revisions, read from git's objects (the head side is the working tree when
    `head` is None), and `env` (else every environment either side's runway.yaml lists) to
    diff. An `env` neither side lists is a usage error naming the ones they do."""
    git = Git(repo)
    with tempfile.TemporaryDirectory(prefix="runwayc-diff-") as scratch:
        old = _revision(git, repo, "base", base, Path(scratch))
        new = _revision(git, repo, "head", head, Path(scratch))
        known = (old.environments or frozenset()) | (new.environments or frozenset())
        if env is not None and env not in known:
            raise FlagError(_unknown_environment(env, known), param_hint="--env")
        names = (env,) if env is not None else tuple(sorted(known))
        yield DiffPlan(repo, old, new, names, locked)


def _unknown_environment(env: str, known: Iterable[str]) -> str:
    return unknown_environment_message([env], known)


# --- publishing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    remote: str
    branch: str
    path: str  # "" for the branch root, else "deploy/prod" style, no slashes at the ends

    def __str__(self) -> str:
        """How messages name it: the remote (credentials removed), the branch and the path."""
        return f"{redact(self.remote)} {self.branch}" + (f":{self.path}" if self.path else "")


@dataclass(frozen=True, slots=True)
class Published:
    target: Target
    commit: str | None  # None: nothing changed, nothing committed
    parent: str | None
    attempts: int
    diff: TreeDiff
    source: str
    uncommitted: tuple[str, ...] = ()  # left out of the publication (--allow-dirty)


@dataclass(frozen=True, slots=True)
class Overrides:
    """The refusals a user may lift, each by its own flag."""

    allow_dirty: bool = False
    allow_rollback: bool = False
    allow_unit_moves: bool = False


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
# What a runwayc source repository holds beside runway.yaml: publishing into any of these
# would replace sources with rendered output.
SOURCE_ENTRIES = (PROJECT_FILE, LOCK_FILE, SOURCES_DIR, OVERLAYS_DIR, POLICIES_DIR, RECIPES_DIR)


def _refused(where: str, message: str) -> PublishRefused:
    return PublishRefused(message, [error("PUBLISH_REFUSED", message, Location(where))])


def _target_path(path: str | None) -> str:
    """`--path` as a directory of the target branch, or a refusal: git trees have no
    absolute paths and no `..`, and quietly turning one into a relative path publishes
    somewhere the user did not say."""
    if path is None:
        return ""
    shown = path[:200]
    if path.startswith("/"):
        raise _refused(
            "--path",
            f'"{shown}" is absolute; --path is a directory inside the target branch, relative '
            "to its top (deploy/prod)",
        )
    parts = path.removesuffix("/").split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise _refused(
                "--path",
                f'"{shown}" has a "{part}" component; give a plain directory of the branch '
                "(deploy/prod), or no --path for the branch's top",
            )
    return "/".join(parts)


def target_for(git: Git, env: str, remote: str, branch: str | None, path: str | None) -> Target:
    """Where `publish` writes: environments/<env> at the root, or a path on a branch."""
    clean_path = _target_path(path)
    if not remote or remote.startswith("-") or any(c.isspace() or ord(c) < 32 for c in remote):
        raise _refused("--remote", f'remote "{redact(remote)[:200]}" is not a remote name or URL')
    for what, value in (("branch", branch or "x"), ("path", clean_path or "x")):
        if not _SAFE_NAME.fullmatch(value):
            raise _refused(f"--{what}", f'{what} "{value[:200]}" is not a plain git name or path')
    if branch is None:
        if clean_path:
            current = git.current_branch()
            if current is None:
                raise _refused("--branch", "HEAD is detached: say which branch --path is on")
            branch = current
        else:
            branch = f"environments/{env}"
    code, _ = git.attempt("check-ref-format", "--branch", branch)
    if code != 0:
        raise _refused("--branch", f'"{branch[:200]}" is not a valid branch name')
    return Target(remote, branch, clean_path)


def _replaced_sources(git: Git, commit: str, target: Target) -> str | None:
    """Why writing `target.path` of `commit` would replace sources (None: it would not).
    Publishing deletes everything under the path, so it must hold no runway.yaml, and it
    must not be, or be inside, what a runwayc project above it reads."""
    kind = git.object_type(commit, target.path)
    if kind not in (None, "tree"):
        return f"{target.path} is a file there, not a directory runwayc publishes into"
    if kind == "tree":
        projects = [
            _join(target.path, name)
            for name in git.names(commit, target.path)
            if name.rsplit("/", 1)[-1] == PROJECT_FILE
        ]
        if projects:
            where = f"{target.path}/" if target.path else "the branch's top"
            return (
                f"{where} holds runwayc sources ({projects[0]}); publishing there would "
                "replace them with rendered output"
            )
    parts = target.path.split("/") if target.path else []
    for depth in range(len(parts)):
        project = "/".join(parts[:depth])
        if git.object_type(commit, _join(project, PROJECT_FILE)) != "blob":
            continue
        if parts[depth] in SOURCE_ENTRIES:
            return (
                f"{_join(project, parts[depth])} is part of the runwayc project in "
                f"{project or 'the top directory'} ({_join(project, PROJECT_FILE)}); "
                "publishing there would replace its sources"
            )
    return None


@dataclass(frozen=True, slots=True)
class Publication:
    """The latest commit that published an environment at a target, and its source."""

    commit: str
    source: str


_SHA = re.compile(r"^[0-9a-f]{40}$")


def last_publication(git: Git, tip: str, target: Target, env: str) -> Publication | None:
    """The newest commit in `tip`'s history that published `env` at `target.path`, by its
    trailers (None: there is none)."""
    fields = "%H%x00%(trailers:key=Runwayc-Env,valueonly)%x00" + (
        "%(trailers:key=Runwayc-Source-Commit,valueonly)%x00"
    )
    args = ["log", f"--format={fields}", "--fixed-strings", f"--grep=Runwayc-Env: {env}", tip]
    if target.path:
        args += ["--", f":(top,literal){target.path}"]
    records = git.run(*args).split("\0")
    for start in range(0, len(records) - 2, 3):
        commit, recorded_env, source = (r.strip() for r in records[start : start + 3])
        if recorded_env == env:
            return Publication(commit, source)
    return None


def _check_rollback(git: Git, target: Target, env: str, source: str, last: Publication) -> None:
    """Refuse to publish `source` when the environment was last published from a commit
    that is not `source` or one of its ancestors: that would put older (or other) manifests
    in front of the cluster. A recorded commit this repository does not have cannot be
    ordered, so it is refused too: runwayc cannot tell a rollback from a shallow clone."""
    recorded = last.source
    if recorded == source:
        return
    lift = "pass --allow-rollback to publish it anyway"
    if not _SHA.fullmatch(recorded) or not git.has_commit(recorded):
        shallow = " (this is a shallow clone: fetch its full history)" if git.is_shallow() else ""
        raise _refused(
            str(target),
            f"{env} was last published from {recorded[:40] or 'an unnamed commit'} "
            f"({last.commit[:12]}), which this repository does not have{shallow}, so runwayc "
            f"cannot tell whether {source[:12]} is newer; fetch it, or {lift}",
        )
    if git.is_ancestor(recorded, source):
        return
    if git.is_shallow():
        raise _refused(
            str(target),
            f"{env} was last published from {recorded[:12]} ({last.commit[:12]}) and this "
            f"shallow clone's history does not reach it from {source[:12]}: fetch the full "
            f"history (git fetch --unshallow), or {lift}",
        )
    raise _refused(
        str(target),
        f"{source[:12]} is older than {recorded[:12]}, the source {env} was last published "
        f"from ({last.commit[:12]}), or not descended from it: publishing it would roll "
        f"{env} back; {lift}",
    )


def _check_sources(git: Git, target: Target, tip: str | None, source: str) -> None:
    """Refuse a target whose path holds sources: at the remote's tip, and in the commit
    being published when that is on the same branch (it may not have been pushed yet)."""
    same_branch = target.branch == git.current_branch()
    for commit in dict.fromkeys(c for c in (tip, source if same_branch else None) if c):
        why = _replaced_sources(git, commit, target)
        if why is not None:
            raise _refused(str(target), why)


def _check_owner(
    target: Target, env: str, previous: Mapping[str, bytes], last: Publication | None
) -> None:
    """Refuse a target whose path holds files that are not `env`'s tree: runwayc replaces
    only what it wrote there, a publication of `env` or `env`'s compile output."""
    if not previous or last is not None:
        return
    owners = {
        name: hydrate.environment_of(content)
        for name, content in previous.items()
        if name.rsplit("/", 1)[-1] == hydrate.METADATA
    }
    if owners and set(owners.values()) == {env}:
        return  # env's compile output, committed by hand: runwayc's to replace
    others = sorted(name for name, owner in owners.items() if owner not in (None, env))
    if others:
        other = owners[others[0]]
        raise _refused(
            str(target),
            f"holds the {other} environment's tree ({_join(target.path, others[0])}), not "
            f"{env}'s; publishing would replace it: give {env} its own branch or path",
        )
    shown = _join(target.path, min(previous))
    raise _refused(
        str(target),
        f"holds files no runwayc publication of {env} wrote ({shown}); publishing would "
        "replace them: move them, or publish to another branch or path",
    )


def blob_id(content: bytes) -> str:
    """git's object id for a blob with this content (what `git hash-object` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def committed_files(
    git: Git, commit: str, path: str, compiled: Mapping[str, bytes]
) -> dict[str, bytes]:
    """The regular files under `path` at `commit`, as `git.files` reads them, but compared by
    blob id first: a file whose id is the compiled file's is that file, and is not read. A
    one-model change to a 10,000-model branch reads a handful of blobs, not 30,000."""
    entries = [e for e in git.entries(commit, path) if e.is_file]
    same = {e.path for e in entries if e.path in compiled and blob_id(compiled[e.path]) == e.oid}
    read = git.blobs([e.oid for e in entries if e.path not in same])
    return {e.path: compiled[e.path] if e.path in same else read[e.oid] for e in entries}


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _tip(git: Git, target: Target) -> str | None:
    """The remote branch's current commit, fetched into this repository (None: no branch)."""
    listed = git.run("ls-remote", "--heads", "--", target.remote, f"refs/heads/{target.branch}")
    if not listed.strip():
        return None
    git.run("fetch", "--quiet", "--no-tags", "--", target.remote, f"refs/heads/{target.branch}")
    return git.run("rev-parse", "FETCH_HEAD^{commit}").strip()


def hydrated_files(
    files: Mapping[str, bytes], previous: Mapping[str, bytes], env: str, source: str
) -> dict[str, bytes | str]:
    """The files to commit: compiled `files`, with each app's hydrator.metadata naming the
    source commit only where the app's other files changed; an unchanged app keeps its old
    metadata (by blob id), so a commit is made only when manifests change. A file the target
    already holds with the same bytes is given by its blob id too, so a one-model change to a
    10,000-model tree hands git a few files, not 30,000 (about 90 MB)."""
    result: dict[str, bytes | str] = {}
    apps: dict[str, list[str]] = {}
    for name, content in files.items():
        # `previous` holds the compiled bytes object itself where the blob ids matched
        # (`committed_files`), so this is mostly an identity check.
        result[name] = blob_id(content) if previous.get(name) == content else content
        directory, _, base = name.rpartition("/")
        if directory and base != hydrate.METADATA:
            apps.setdefault(directory, []).append(name)
    for directory, siblings in apps.items():
        name = f"{directory}/{hydrate.METADATA}"
        if name not in files:
            continue
        unchanged = all(previous.get(n) == files[n] for n in siblings)
        old = previous.get(name)
        if unchanged and old is not None:
            result[name] = blob_id(old)
        else:
            result[name] = hydrate.metadata(env, dry_sha=source)
    return result


def _identity(git: Git) -> tuple[str, str]:
    name = git.run("config", "--get", "user.name", check=False).strip()
    email = git.run("config", "--get", "user.email", check=False).strip()
    return (name or DEFAULT_IDENTITY[0], email or DEFAULT_IDENTITY[1])


def commit_message(env: str, source: str, subject: str) -> str:
    return (
        f"runwayc: publish {env} from {source[:12]}\n\n"
        f"{subject}\n\n"
        f"Runwayc-Source-Commit: {source}\n"
        f"Runwayc-Env: {env}\n"
    )


def _build_commit(
    git: Git,
    ref: str,
    target: Target,
    parent: str | None,
    files: Mapping[str, bytes | str],
    message: str,
) -> str:
    """A commit on `parent` whose `target.path` holds exactly `files`, via git fast-import.
    The stream goes through a temporary file, which git reads as its stdin: a first
    publication of a large fleet is as large as the tree."""
    with tempfile.TemporaryFile() as stream:
        _fast_import_stream(stream, ref, target, parent, files, message, _identity(git))
        stream.seek(0)
        # --force: the private ref is scratch space; a crashed earlier run may have left it
        # anywhere.
        git.run_bytes(
            "fast-import",
            "--quiet",
            "--force",
            "--done",
            "--date-format=now",
            input_bytes=stream,
        )
    return git.run("rev-parse", f"{ref}^{{commit}}").strip()


def _fast_import_stream(
    stream: BinaryIO,
    ref: str,
    target: Target,
    parent: str | None,
    files: Mapping[str, bytes | str],
    message: str,
    committer: tuple[str, str],
) -> None:
    name, email = committer

    def data(content: bytes) -> None:
        stream.write(b"data %d\n" % len(content))
        stream.write(content)
        stream.write(b"\n")

    stream.write(f"commit {ref}\n".encode())
    stream.write(f"committer {name} <{email}> now\n".encode())
    data(message.encode("utf-8"))
    if parent is not None:
        stream.write(f"from {parent}\n".encode())
    if target.path:
        stream.write(f'D "{target.path}"\n'.encode())
    else:
        stream.write(b"deleteall\n")
    for relative in sorted(files):
        content = files[relative]
        quoted = _join(target.path, relative).replace("\\", "\\\\").replace('"', '\\"')
        if isinstance(content, str):  # an existing blob, by id
            stream.write(f'M 100644 {content} "{quoted}"\n'.encode())
        else:
            stream.write(f'M 100644 inline "{quoted}"\n'.encode())
            data(content)
    stream.write(b"done\n")


def _unit_moves_refused(target: Target, moved: Sequence[str]) -> PublishRefused:
    """A changed shard count hands models from one Argo CD Application (or Flux
    Kustomization) to another, and the old one prunes what it no longer lists if it syncs
    first: a GPU model deleted and recreated, its cache with it. Never by accident."""
    more = f" and {len(moved) - 1} more" if len(moved) > 1 else ""
    return _refused(
        str(target),
        f"{moved[0]}{more}: publishing moves models between sync units, and the unit that "
        "listed them prunes them if it syncs before the new one takes them over; turn "
        "pruning off for the namespace's unit as the README's section on sharding says, "
        "then pass --allow-unit-moves",
    )


def publish(
    repo: Path,
    env: str,
    target: Target,
    *,
    pull_request: bool = False,
    attempts: int = MAX_PUSH_ATTEMPTS,
    overrides: Overrides = Overrides(),
) -> Published:
    """Compile HEAD's `env` (locked) and publish it to `target`; see the module docstring."""
    git = Git(repo)
    source = git.resolve("HEAD")
    # runwayc's own cache is no source: a compile before publish must not make it "dirty".
    uncommitted = tuple(git.uncommitted(leave_out=(CACHE_DIR,)))
    if uncommitted and not overrides.allow_dirty:
        more = f" and {len(uncommitted) - 1} more" if len(uncommitted) > 1 else ""
        raise _refused(
            uncommitted[0],
            f"uncommitted change{more}: publish compiles HEAD ({source[:12]}), not the "
            "working tree; commit or stash first, or pass --allow-dirty to publish HEAD anyway",
        )
    subject = git.subject(source)
    with tempfile.TemporaryDirectory(prefix="runwayc-publish-") as scratch:
        result = compile_at(repo, source, env, Path(scratch), locked=True)
    if has_errors(result.diagnostics):
        raise PublishError(
            f"{env} does not compile at {source[:12]}; nothing published",
            [d for d in result.diagnostics if d.is_error],
        )
    private_ref = f"refs/runwayc/publish/{env}"
    message = commit_message(env, source, subject)
    pushed = PushOutcome(accepted=False, moved=True, reason="none made", remote_says=())
    for attempt in range(1, attempts + 1):
        parent = _tip(git, target)
        _check_sources(git, target, parent, source)
        previous = committed_files(git, parent, target.path, result.files) if parent else {}
        last = last_publication(git, parent, target, env) if parent else None
        _check_owner(target, env, previous, last)
        files = hydrated_files(result.files, previous, env, source)
        commit = _build_commit(git, private_ref, target, parent, files, message)
        diff = diff_trees(env, previous, result.files)
        if parent is not None and _tree(git, commit) == _tree(git, parent):
            git.run("update-ref", "-d", private_ref)
            return Published(target, None, parent, attempt, diff, source, uncommitted)
        if diff.moved and not overrides.allow_unit_moves:
            git.run("update-ref", "-d", private_ref)
            raise _unit_moves_refused(target, diff.moved)
        # Only a commit that changes the tree can roll it back: an older source that renders
        # the same (a late CI job) publishes nothing and is no refusal.
        if last is not None and not overrides.allow_rollback:
            try:
                _check_rollback(git, target, env, source, last)
            except PublishRefused:
                git.run("update-ref", "-d", private_ref)
                raise
        branch = target.branch
        if pull_request:
            branch = f"runwayc/{env}/{source[:12]}"
        pushed = git.push(target.remote, f"{commit}:refs/heads/{branch}")
        if pushed.accepted:
            git.run("update-ref", "-d", private_ref)
            landed = Target(target.remote, branch, target.path)
            return Published(landed, commit, parent, attempt, diff, source, uncommitted)
        if pull_request or not pushed.moved:
            git.run("update-ref", "-d", private_ref)
            said = "; ".join(pushed.remote_says) or "the remote gave no reason"
            refusal = f" {pushed.reason}" if pushed.reason else ""
            raise PublishError(
                f"push to {redact(target.remote)} {branch} failed:{refusal}: {said}",
                [
                    error(
                        "PUSH_REJECTED",
                        f"the push was refused{refusal}: {said}",
                        Location(str(Target(target.remote, branch, target.path))),
                    )
                ],
            )
    raise PublishError(
        f"{target} kept moving: {attempts} pushes were refused because the branch changed "
        f"meanwhile (last: {pushed.reason}); nothing was forced, try again"
    )


def publish_env(
    repo: Path,
    env: str,
    *,
    remote: str,
    branch: str | None,
    path: str | None,
    pull_request: bool = False,
    overrides: Overrides = Overrides(),
) -> Published:
    """`publish` to where the flags say (`target_for`: environments/<env>, or `path` on
    `branch`, by default the current one). An environment HEAD's runway.yaml does not list
    is a usage error naming the ones it does."""
    git = Git(repo)
    listed = _listed_environments(git, git.resolve("HEAD"))
    if listed is not None and env not in listed:
        raise FlagError(_unknown_environment(env, listed), param_hint="--env")
    target = target_for(git, env, remote, branch, path)
    return publish(repo, env, target, pull_request=pull_request, overrides=overrides)


def _listed_environments(git: Git, commit: str) -> frozenset[str] | None:
    """What runway.yaml lists at `commit` (None: it cannot be read; the compile says why)."""
    name = f"{git.prefix()}{PROJECT_FILE}"
    code, _ = git.attempt("cat-file", "-e", f"{commit}:{name}")
    if code != 0:
        return None
    text = git.run_bytes("cat-file", "blob", f"{commit}:{name}").decode("utf-8", "replace")
    project, _ = read_project(SourceFile(PROJECT_FILE, text))
    return frozenset(project.environments) if project is not None else None


def _tree(git: Git, commit: str) -> str:
    return git.run("rev-parse", f"{commit}^{{tree}}").strip()
