"""Real `git`, through subprocess: the I/O edge of diff and publish.

Every call has a fixed argument list (never a shell), an environment that cannot prompt for
credentials or open an editor, and errors that become PublishError with git's own words,
minus any credentials a remote URL carried.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from compiler.core.errors import PublishError

# Credentials in a URL (https://user:token@host/...) never reach a message or a file.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
# A tree exported for compiling is a source repo, not a monorepo: refuse absurd ones.
MAX_EXPORT_BYTES = 512 * 1024 * 1024
# What of a remote's refusal reaches a message: its words, not an unbounded body.
REMOTE_LINES, REMOTE_LINE_CHARS = 20, 300
# `git push --porcelain` reasons that mean "the branch moved": fetch, rebuild, push again.
# A remote that lost a race for the ref's lock to another push says "[remote rejected]"
# with a ref-update reason (git: "failed to update ref"; GitHub: "cannot lock ref ...").
_MOVED = ("(non-fast-forward)", "(fetch first)")
_LOST_RACE = ("failed to update ref", "cannot lock ref")


def redact(text: str) -> str:
    return _USERINFO.sub(r"\g<scheme>***@", text)


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What `git push` said: accepted, refused because the branch moved (try again on the new
    tip), or refused for any other reason, in the remote's own words."""

    accepted: bool
    moved: bool
    reason: str  # git's summary of the refusal: "[remote rejected] (pre-receive hook declined)"
    remote_says: tuple[str, ...]  # the remote's "remote: ..." lines, credentials removed


def _push_outcome(code: int, stdout: str, stderr: str) -> PushOutcome:
    # --porcelain: one "<flag>\t<from>:<to>\t<summary>" line per ref, "!" for a refused one.
    refused = [line.split("\t") for line in stdout.splitlines() if line.startswith("!\t")]
    reasons = [fields[2].strip() for fields in refused if len(fields) >= 3]
    moved = bool(reasons) and all(
        (r.startswith("[rejected]") and r.endswith(_MOVED))
        or (r.startswith("[remote rejected]") and any(m in r for m in _LOST_RACE))
        for r in reasons
    )
    said = [
        line.rstrip()[:REMOTE_LINE_CHARS]
        for line in stderr.splitlines()
        if line.startswith("remote:") and line.removeprefix("remote:").strip()
    ]
    if not reasons and code != 0:  # no ref reached a verdict: git's own error says why
        said = said or [line.strip()[:REMOTE_LINE_CHARS] for line in stderr.splitlines()]
    return PushOutcome(code == 0, moved, "; ".join(reasons), tuple(said[:REMOTE_LINES]))


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",  # fail rather than wait for a password
            "GIT_EDITOR": "true",
            "GIT_PAGER": "cat",
            "LC_ALL": "C",  # messages we match on (non-fast-forward) stay in English
        }
    )
    return env


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One entry of `git ls-tree -r -l`: a file (100644/100755), a symbolic link (120000) or
    a submodule (160000)."""

    path: str
    mode: str
    kind: str
    oid: str
    size: int

    @property
    def is_file(self) -> bool:
        return self.mode in ("100644", "100755")


@dataclass(frozen=True, slots=True)
class Git:
    """git in one working directory."""

    cwd: Path

    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> str:
        return self.run_bytes(*args, check=check, input_bytes=input_bytes).decode(
            "utf-8", "replace"
        )

    def run_bytes(
        self, *args: str, check: bool = True, input_bytes: bytes | BinaryIO | None = None
    ) -> bytes:
        """Run with `input_bytes` (bytes, or a file read from where it stands) on stdin."""
        done = self._run(args, input_bytes)
        if check and done.returncode != 0:
            stderr = redact(done.stderr.decode("utf-8", "replace").strip())
            raise PublishError(f"git {args[0]} failed: {stderr or 'exit ' + str(done.returncode)}")
        return done.stdout

    def attempt(self, *args: str) -> tuple[int, str]:
        """Run and return (exit code, stderr) instead of raising: for expected refusals."""
        done = self._run(args, None)
        return done.returncode, redact(done.stderr.decode("utf-8", "replace"))

    def push(self, remote: str, refspec: str) -> PushOutcome:
        """An ordinary (never forced) push of one refspec."""
        done = self._run(("push", "--porcelain", "--", remote, refspec), None)
        stdout = redact(done.stdout.decode("utf-8", "replace"))
        return _push_outcome(
            done.returncode, stdout, redact(done.stderr.decode("utf-8", "replace"))
        )

    def _run(
        self, args: tuple[str, ...], input_bytes: bytes | BinaryIO | None
    ) -> subprocess.CompletedProcess[bytes]:
        executable = shutil.which("git")
        if executable is None:
            raise PublishError("git is not installed (it is needed for diff and publish)")
        # Bytes are written to git's stdin; a file is its stdin as it is: a 10,000-model
        # fast-import stream is not held in memory a second time to be written to a pipe.
        given = input_bytes if isinstance(input_bytes, bytes) else None
        stdin = None if input_bytes is None or isinstance(input_bytes, bytes) else input_bytes
        # A fixed argument list, no shell: nothing in `args` is interpreted by anything but git.
        return subprocess.run(  # noqa: S603
            [executable, *args],
            cwd=self.cwd,
            input=given,
            stdin=stdin,
            capture_output=True,
            env=_environment(),
            check=False,
        )

    # --- questions ---------------------------------------------------------------------------

    def prefix(self) -> str:
        """The repo-relative path of `cwd` ("" at the top or outside a repository), with a
        trailing slash."""
        return self.run("rev-parse", "--show-prefix", check=False).strip()

    def remote_url(self, remote: str) -> str | None:
        """`remote`'s fetch URL as configured, credentials and all (callers strip them);
        None outside a repository or when there is no such remote."""
        if remote.startswith("-"):
            return None
        return self.run("remote", "get-url", remote, check=False).strip() or None

    def default_branch(self, remote: str) -> str | None:
        """The branch `remote`'s HEAD points at, as the last fetch recorded it."""
        ref = f"refs/remotes/{remote}/HEAD"
        short = self.run("symbolic-ref", "--quiet", "--short", ref, check=False).strip()
        return short.removeprefix(f"{remote}/") or None

    def tracks(self, path: str) -> bool:
        """True when the index holds any file under `path` (relative to `cwd`)."""
        return bool(self.run("ls-files", "--", path, check=False).strip())

    def resolve(self, ref: str) -> str:
        if ref.startswith("-"):
            raise PublishError(f'"{ref}" is not a git revision')
        sha = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if not sha.strip():
            raise PublishError(f'"{ref}" is not a commit in {self.cwd}')
        return sha.strip()

    def current_branch(self) -> str | None:
        """The branch HEAD is on (None: detached)."""
        return self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip() or None

    def has_commit(self, sha: str) -> bool:
        code, _ = self.attempt("cat-file", "-e", f"{sha}^{{commit}}")
        return code == 0

    def is_ancestor(self, older: str, newer: str) -> bool:
        """True when `older` is `newer` or one of its ancestors (both must be known)."""
        code, stderr = self.attempt("merge-base", "--is-ancestor", older, newer)
        if code not in (0, 1):
            raise PublishError(f"git merge-base failed: {stderr.strip()}")
        return code == 0

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").strip() == "true"

    def uncommitted(self, leave_out: Sequence[str] = ()) -> list[str]:
        """Repo-relative paths under `cwd` that differ from HEAD: staged, unstaged or
        untracked (ignored files, and those under `leave_out`, are not listed)."""
        excluded = [f":(exclude,literal){path}" for path in leave_out]
        out = self.run(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".", *excluded
        )
        fields = iter(out.split("\0"))
        found = []
        for entry in fields:
            if len(entry) < 4:
                continue
            found.append(entry[3:])
            if entry[0] in "RC":  # a rename's source path follows as its own field
                next(fields, None)
        return found

    def object_type(self, commit: str, path: str) -> str | None:
        """ "tree", "blob" (or "commit", a submodule) at `path` of `commit`; None: nothing."""
        spec = _tree(commit, path) if path.strip("/") else f"{commit}^{{tree}}"
        code, _ = self.attempt("cat-file", "-e", spec)
        if code != 0:
            return None
        return self.run("cat-file", "-t", spec).strip()

    def names(self, commit: str, path: str) -> list[str]:
        """Every file path under the directory `path` of `commit`, relative to it."""
        out = self.run("ls-tree", "-r", "-z", "--name-only", _tree(commit, path))
        return [name for name in out.split("\0") if name]

    def subject(self, sha: str) -> str:
        return self.run("log", "-1", "--format=%s", sha).strip()

    def export(self, ref: str, path: str, target: Path) -> None:
        """The files of `ref` under `path` (repo-relative, "" for all) into `target`."""
        with self._archive(self.resolve(ref), path, ref) as archive:
            target.mkdir(parents=True, exist_ok=True)
            # The "data" filter refuses absolute paths, links out of the tree and devices.
            archive.extractall(target, filter="data")

    def files(self, commit: str, path: str) -> dict[str, bytes]:
        """The regular files under `path` at `commit`, in memory ({} when there is no such
        directory); paths relative to `path`."""
        code, _ = self.attempt("rev-parse", "--verify", "--quiet", _tree(commit, path))
        if code != 0:
            return {}
        found: dict[str, bytes] = {}
        with self._archive(commit, path, commit) as archive:
            for member in archive.getmembers():
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is not None:
                    found[member.name] = handle.read()
        return found

    def entries(self, commit: str, path: str) -> list[TreeEntry]:
        """Every entry under the directory `path` of `commit`, recursively, with its mode,
        object id and size ([] when there is no such directory); paths relative to `path`."""
        code, _ = self.attempt("rev-parse", "--verify", "--quiet", _tree(commit, path))
        if code != 0:
            return []
        # --full-tree: from a subdirectory, ls-tree would list only what lies under the
        # same subdirectory of the tree named, which for `commit:path` is nothing.
        out = self.run_bytes("ls-tree", "-r", "-z", "-l", "--full-tree", _tree(commit, path))
        found: list[TreeEntry] = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            mode, kind, oid, size = meta.split()
            found.append(
                TreeEntry(
                    name.decode("utf-8", "surrogateescape"),
                    mode.decode(),
                    kind.decode(),
                    oid.decode(),
                    int(size) if size != b"-" else 0,
                )
            )
        return found

    def blobs(self, ids: Sequence[str]) -> dict[str, bytes]:
        """The contents of the blobs `ids`, in one `git cat-file --batch`."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        out = self.run_bytes("cat-file", "--batch", input_bytes="\n".join(wanted).encode() + b"\n")
        found: dict[str, bytes] = {}
        at = 0
        for _ in wanted:
            end = out.index(b"\n", at)
            oid, kind, size = out[at:end].split()
            if kind != b"blob":
                raise PublishError(f"git object {oid.decode()} is a {kind.decode()}, not a blob")
            start = end + 1
            found[oid.decode()] = out[start : start + int(size)]
            at = start + int(size) + 1
        return found

    def _archive(self, commit: str, path: str, label: str) -> tarfile.TarFile:
        # From the top: in a subdirectory, git archive keeps only what lies under the same
        # subdirectory of the tree named ("current working directory is untracked").
        top = Git(Path(self.run("rev-parse", "--show-toplevel").strip()))
        data = top.run_bytes("archive", "--format=tar", _tree(commit, path))
        if len(data) > MAX_EXPORT_BYTES:
            raise PublishError(f"{label} is larger than {MAX_EXPORT_BYTES} bytes; refusing to read")
        return tarfile.open(fileobj=io.BytesIO(data))


def _tree(commit: str, path: str) -> str:
    """`commit:path`, git's name for a directory of a commit (the commit itself at the top)."""
    clean = path.strip("/")
    return f"{commit}:{clean}" if clean else commit
