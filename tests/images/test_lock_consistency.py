"""runway.lock is refused when an entry disagrees with itself (LOCK_INCONSISTENT), by every
command that reads it, and a malformed runway.lock is named as what it is."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from compiler.io.publish import compile_at
from tests.conftest import run_cli
from tests.gitops.conftest import commit_all, git
from tests.helpers import line_col, md_yaml

FIX = (
    "runway.lock is written by `runwayc lock`: undo the edit, or delete the entry and run "
    "`runwayc lock` to pin it again"
)


def pinned_repo(make_repo, registry, tmp_path) -> tuple[Path, str, str]:
    """A repository whose user image is pinned by `lock` and compiled once (so the lock
    memo and the cache are warm)."""
    digest = registry.push_image("acme/vllm", "v1")
    image = f"{registry.host}/acme/vllm:v1"
    repo = make_repo({"deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image})})
    assert run_cli("lock", repo).exit_code == 0
    assert run_cli("compile", repo, "--locked", "--out", tmp_path / "warm").exit_code == 0
    return repo, image, digest


OTHER = "sha256:" + "1" * 64

# Hand edits of one entry, and where each is reported (the field that disagrees).
EDITS = {
    "resolved-on-another-registry": (
        lambda text, host: text.replace(f"resolved: {host}/", "resolved: evil.example.com/"),
        "resolved",
        'resolved "evil.example.com/acme/vllm@{digest}" disagrees with its repository and '
        'digest (expected "{host}/acme/vllm@{digest}")',
    ),
    "digest-in-resolved-differs": (
        lambda text, host: re.sub(r"(resolved: \S+@)sha256:[0-9a-f]+", rf"\g<1>{OTHER}", text),
        "resolved",
        'resolved "{host}/acme/vllm@' + OTHER + '" disagrees with its repository and digest '
        '(expected "{host}/acme/vllm@{digest}")',
    ),
    "repository-on-another-registry": (
        lambda text, host: text.replace(f"repository: {host}/", "repository: evil.example.com/"),
        "repository",
        'repository "evil.example.com/acme/vllm" is not {image}\'s ({host}/acme/vllm)',
    ),
}


@pytest.mark.parametrize(("edit", "field", "reason"), EDITS.values(), ids=EDITS.keys())
@pytest.mark.parametrize(
    "command",
    [("compile", "--locked"), ("compile",), ("check",), ("check", "--locked"), ("images",),
     ("lock",)],
    ids=lambda c: " ".join(c),
)  # fmt: skip
def test_a_hand_edited_entry_is_refused_by_every_command(
    make_repo, registry, tmp_path, edit, field, reason, command
):
    repo, image, digest = pinned_repo(make_repo, registry, tmp_path)
    lock_path = repo / "runway.lock"
    edited = edit(lock_path.read_text(), registry.host)
    lock_path.write_text(edited)
    out = tmp_path / "out"
    args = [*command, repo]
    if command[0] == "compile":
        args += ["--out", out]
    result = run_cli(*args)
    assert result.exit_code == 1, result.stderr
    line, col = line_col(edited, f"{field}: ", occurrence=1)
    expected = reason.format(host=registry.host, digest=digest, image=image)
    assert (
        f"runway.lock:{line}:{col}: error[LOCK_INCONSISTENT]: images['{image}'].{field}: "
        f"entry {image}: {expected}; {FIX}\n"
    ) in result.stderr
    assert not out.exists()
    assert lock_path.read_text() == edited  # lock refuses too, and leaves the file alone


def test_the_edited_digest_is_never_rendered_beside_the_old_annotation(
    make_repo, registry, tmp_path
):
    repo, _, digest = pinned_repo(make_repo, registry, tmp_path)
    lock_path = repo / "runway.lock"
    moved = "sha256:" + "2" * 64
    lock_path.write_text(lock_path.read_text().replace(f"vllm@{digest}", f"vllm@{moved}"))
    result = run_cli("compile", repo, "--locked", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "error[LOCK_INCONSISTENT]" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.fixture
def git_repo(make_repo, registry, tmp_path):
    repo, _, _ = pinned_repo(make_repo, registry, tmp_path)
    shutil.rmtree(repo / ".runwayc_cache", ignore_errors=True)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "models")
    lock_path = repo / "runway.lock"
    lock_path.write_text(
        lock_path.read_text().replace(f"resolved: {registry.host}/", "resolved: x.io/")
    )
    return repo


def test_diff_and_publish_compile_through_the_same_refusal(git_repo, tmp_path):
    # diff compiles the working tree and a revision; publish compiles HEAD, --locked.
    commit_all(git_repo, "hand edit")
    with tempfile.TemporaryDirectory() as scratch:
        for ref, locked in ((None, False), ("HEAD", False), ("HEAD", True)):
            result = compile_at(git_repo, ref, "dev", Path(scratch), locked=locked)
            codes = {d.code for d in result.diagnostics if d.is_error}
            assert codes == {"LOCK_INCONSISTENT"}, (ref, locked)
            assert result.files == {}
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(git_repo, "remote", "add", "origin", str(bare))
    published = run_cli("publish", git_repo, "--env", "dev")
    assert published.exit_code == 1
    assert "error[LOCK_INCONSISTENT]" in published.stderr


# --- malformed runway.lock: what is wrong, named ---------------------------------------------

SHAPE = "a mapping of version, providers, images and recipes, as `runwayc lock` writes it"
MALFORMED = {
    "a-list": (
        "- a\n- b\n",
        f"1:1: error[LOCK_MALFORMED]: runway.lock must be {SHAPE}; got a list",
    ),
    "a-scalar": (
        "hello\n",
        f"1:1: error[LOCK_MALFORMED]: runway.lock must be {SHAPE}; got a scalar",
    ),
    "empty": (
        "# nothing\n",
        f"1:1: error[LOCK_MALFORMED]: runway.lock holds 0 YAML documents; expected one, {SHAPE}",
    ),
    "two-documents": (
        "version: 1\n---\nversion: 1\n",
        f"1:1: error[LOCK_MALFORMED]: runway.lock holds 2 YAML documents; expected one, {SHAPE}",
    ),
    "newer-version": (
        "version: 2\n",
        "1:1: error[LOCK_VERSION]: version: runway.lock is version 2; this runwayc reads version 1",
    ),
    "providers-a-list": (
        "version: 1\nproviders: [a]\n",
        "2:1: error[INVALID_VALUE]: providers: expected a mapping, got a list",
    ),
    "provider-pin-a-string": (
        "version: 1\nproviders:\n  team-a/m: vllm\n",
        "3:3: error[INVALID_VALUE]: providers['team-a/m']: expected a mapping, got a string",
    ),
    "images-an-integer": (
        "version: 1\nimages: 3\n",
        "2:1: error[INVALID_VALUE]: images: expected a mapping, got an integer",
    ),
    "requested-a-list": (
        "version: 1\nimages:\n  x:\n    requested: [a]\n    repository: r\n",
        "4:5: error[INVALID_VALUE]: images.x.requested: Input should be a valid string (got list)",
    ),
}


@pytest.mark.parametrize(("text", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_lock_is_named_as_what_it_is(make_repo, text, expected):
    repo = make_repo({"deployments/a.yaml": md_yaml(), "runway.lock": text})
    for command in ("check", "lock"):
        result = run_cli(command, repo)
        assert result.exit_code == 1
        assert f"runway.lock:{expected}\n" in result.stderr
        assert "apiVersion and kind" not in result.stderr
    assert (repo / "runway.lock").read_text() == text


def test_a_lock_written_by_lock_agrees_with_itself(quickstart):
    data = yaml.safe_load((quickstart / "runway.lock").read_text())
    assert data["images"]  # the quickstart's pins are consistent: it compiles --locked
    assert run_cli("check", quickstart, "--locked").exit_code == 0
