"""Rendered trees at git revisions, and publishing one to the branch or path a GitOps tool syncs.

Publishing never touches a working tree: the new commit is built by `git fast-import` from the
compiled files and the target's current tip, and reaches the remote by an ordinary (never
forced) push. A push refused because the target moved is answered by fetching the new tip and
building the commit again on top of it, a bounded number of times. A commit whose tree equals
its parent's is never made.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from compiler.core.diagnostics import Diagnostic, has_errors
from compiler.core.errors import PublishError
from compiler.core.gitops import hydrate
from compiler.core.gitops.diff import TreeDiff, diff_trees
from compiler.core.pipeline import CompileOptions, CompileResult
from compiler.io.cache_store import CacheStore
from compiler.io.git import Git, redact
from compiler.io.workspace import Workspace, compile_env, environments, require_environments

MAX_PUSH_ATTEMPTS = 5
DEFAULT_IDENTITY = ("runwayc", "runwayc@users.noreply.github.com")
_REJECTED = ("[rejected]", "non-fast-forward", "fetch first", "[remote rejected]", "stale info")


# --- rendering at a revision -----------------------------------------------------------------


def compile_at(
    repo: Path, ref: str | None, env: str, scratch: Path, *, locked: bool = False
) -> CompileResult:
    """Compile `env` of the runwayc project at `repo` as of `ref` (None: the working tree),
    reusing what `repo`'s compile cache holds and storing nothing there."""
    options = CompileOptions(env=env, locked=locked)
    borrowed = CacheStore.for_repo(repo, env, writable=False)
    if ref is None:
        return compile_env(Workspace(repo), env, options, store=borrowed)
    git = Git(repo)
    target = scratch / hashlib.sha256(ref.encode()).hexdigest()[:16]
    git.export(ref, git.prefix(), target)
    return compile_env(Workspace(target), env, options, store=borrowed)


@dataclass(frozen=True, slots=True)
class RefTree:
    files: Mapping[str, bytes]
    errors: int  # the revision's compile errors (its tree is empty when there are any)


def rendered_at(repo: Path, ref: str | None, env: str, scratch: Path) -> RefTree:
    result = compile_at(repo, ref, env, scratch)
    if has_errors(result.diagnostics):
        return RefTree({}, sum(1 for d in result.diagnostics if d.is_error))
    return RefTree(result.files, 0)


def diff_refs(
    repo: Path, base: str, head: str | None, env: str
) -> tuple[TreeDiff, RefTree, RefTree]:
    with tempfile.TemporaryDirectory(prefix="runwayc-diff-") as scratch:
        old = rendered_at(repo, base, env, Path(scratch))
        new = rendered_at(repo, head, env, Path(scratch))
    return diff_trees(env, old.files, new.files), old, new


@dataclass(frozen=True, slots=True)
class EnvDiff:
    env: str
    diff: TreeDiff
    old: RefTree
    new: RefTree


def diff_environments(
    repo: Path, base: str, head: str | None, env: str | None
) -> tuple[list[Diagnostic], Iterator[EnvDiff]]:
    """runway.yaml's problems, then (lazily, one environment at a time) the diff of `env`'s
    rendered trees at `base` and `head` (else of every environment runway.yaml lists)."""
    names, problems = environments(Workspace(repo), env)

    def each() -> Iterator[EnvDiff]:
        for name in names:
            diff, old, new = diff_refs(repo, base, head, name)
            yield EnvDiff(name, diff, old, new)

    return problems, each()


# --- publishing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    remote: str
    branch: str
    path: str  # "" for the branch root, else "deploy/prod" style, no slashes at the ends


@dataclass(frozen=True, slots=True)
class Published:
    target: Target
    commit: str | None  # None: nothing changed, nothing committed
    parent: str | None
    attempts: int
    diff: TreeDiff
    source: str


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def target_for(git: Git, env: str, remote: str, branch: str | None, path: str | None) -> Target:
    """Where `publish` writes: environments/<env> at the root, or a path on a branch."""
    clean_path = (path or "").strip("/")
    if branch is None:
        if clean_path:
            current = git.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
            if not current:
                raise PublishError("HEAD is detached: say which branch --path is on (--branch)")
            branch = current
        else:
            branch = f"environments/{env}"
    if not remote or remote.startswith("-") or any(c.isspace() or ord(c) < 32 for c in remote):
        raise PublishError(f'remote "{redact(remote)[:200]}" is not a remote name or URL')
    for what, value in (("branch", branch), ("path", clean_path or "x")):
        if not _SAFE_NAME.fullmatch(value) or ".." in value.split("/"):
            raise PublishError(f'{what} "{value[:200]}" is not a plain git name or path')
    code, _ = git.attempt("check-ref-format", "--branch", branch)
    if code != 0:
        raise PublishError(f'"{branch[:200]}" is not a valid branch name')
    return Target(remote, branch, clean_path)


def blob_id(content: bytes) -> str:
    """git's object id for a blob with this content (what `git hash-object` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


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
    metadata (by blob id), so a commit is made only when manifests change."""
    result: dict[str, bytes | str] = dict(files)
    apps: dict[str, list[str]] = {}
    for name in files:
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
    """A commit on `parent` whose `target.path` holds exactly `files`, via git fast-import."""
    name, email = _identity(git)
    stream = io.BytesIO()

    def data(content: bytes) -> None:
        stream.write(b"data %d\n" % len(content) + content + b"\n")

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
    # --force: the private ref is scratch space; a crashed earlier run may have left it anywhere.
    git.run_bytes(
        "fast-import",
        "--quiet",
        "--force",
        "--done",
        "--date-format=now",
        input_bytes=stream.getvalue(),
    )
    return git.run("rev-parse", f"{ref}^{{commit}}").strip()


def publish(
    repo: Path,
    env: str,
    target: Target,
    *,
    pull_request: bool = False,
    attempts: int = MAX_PUSH_ATTEMPTS,
) -> Published:
    """Compile HEAD's `env` (locked) and publish it to `target`; see the module docstring."""
    git = Git(repo)
    source = git.resolve("HEAD")
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
    for attempt in range(1, attempts + 1):
        parent = _tip(git, target)
        previous = git.files(parent, target.path) if parent else {}
        files = hydrated_files(result.files, previous, env, source)
        commit = _build_commit(git, private_ref, target, parent, files, message)
        diff = diff_trees(env, previous, result.files)
        if parent is not None and _tree(git, commit) == _tree(git, parent):
            git.run("update-ref", "-d", private_ref)
            return Published(target, None, parent, attempt, diff, source)
        branch = target.branch
        if pull_request:
            branch = f"runwayc/{env}/{source[:12]}"
        code, stderr = git.attempt("push", "--", target.remote, f"{commit}:refs/heads/{branch}")
        if code == 0:
            git.run("update-ref", "-d", private_ref)
            return Published(
                Target(target.remote, branch, target.path), commit, parent, attempt, diff, source
            )
        if pull_request or not any(marker in stderr for marker in _REJECTED):
            raise PublishError(f"push to {target.remote} {branch} failed: {stderr.strip()}")
    raise PublishError(
        f"{target.remote} {target.branch} kept moving: {attempts} pushes were rejected as "
        "non-fast-forward; nothing was forced, try again"
    )


def publish_env(
    repo: Path,
    env: str,
    *,
    remote: str,
    branch: str | None,
    path: str | None,
    pull_request: bool = False,
) -> Published:
    """`publish` to where the flags say (`target_for`: environments/<env>, or `path` on
    `branch`, by default the current one)."""
    require_environments(Workspace(repo), [env])
    target = target_for(Git(repo), env, remote, branch, path)
    return publish(repo, env, target, pull_request=pull_request)


def _tree(git: Git, commit: str) -> str:
    return git.run("rev-parse", f"{commit}^{{tree}}").strip()
