"""publish against real git: a bare remote and clones, as CI would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from compiler.core.pipeline import CompileOptions
from compiler.io.publish import compile_at
from compiler.io.workspace import Workspace, compile_env
from tests.conftest import run_cli
from tests.gitops.conftest import commit_all, git

PHI4 = Path("deployments/team-a/phi4.yaml")


def branch_files(remote: Path, branch: str) -> dict[str, bytes]:
    names = git(remote, "ls-tree", "-r", "--name-only", branch).splitlines()
    return {
        name: subprocess.run(
            ["git", "show", f"{branch}:{name}"], cwd=remote, capture_output=True, check=True
        ).stdout
        for name in names
    }


def commits(remote: Path, branch: str) -> list[str]:
    return git(remote, "rev-list", branch).splitlines()


def trailer(remote: Path, commit: str, key: str) -> str:
    body = git(remote, "log", "-1", "--format=%B", commit)
    return next(line.split(": ", 1)[1] for line in body.splitlines() if line.startswith(key))


def set_memory(clone: Path, value: str) -> None:
    path = clone / PHI4
    text = path.read_text()
    start = text.index("gpu-memory-utilization: ")
    end = text.index("\n", start)
    path.write_text(text[:start] + f'gpu-memory-utilization: "{value}"' + text[end:])


def expected_tree(clone: Path, env: str) -> dict[str, bytes]:
    result = compile_env(Workspace(clone), env, CompileOptions(env=env, locked=True))
    return dict(result.files)


def test_publish_creates_the_branch_then_commits_only_changes(remote, clone):
    source = clone("a")
    head = git(source, "rev-parse", "HEAD")

    first = run_cli("publish", source, "--env", "prod")
    assert first.exit_code == 0, first.stderr
    assert len(commits(remote, "environments/prod")) == 1
    tip = commits(remote, "environments/prod")[0]
    assert trailer(remote, tip, "Runwayc-Source-Commit") == head
    assert trailer(remote, tip, "Runwayc-Env") == "prod"
    files = branch_files(remote, "environments/prod")
    assert files[".gitattributes"] == b"* linguist-generated=true\n"
    assert b'"drySha": "' + head.encode() in files["team-a/phi4/hydrator.metadata"]
    rendered = expected_tree(source, "prod")
    assert {k: v for k, v in files.items() if not k.endswith("hydrator.metadata")} == {
        k: v for k, v in rendered.items() if not k.endswith("hydrator.metadata")
    }

    again = run_cli("publish", source, "--env", "prod")
    assert again.exit_code == 0
    assert "nothing changed" in again.stderr
    assert commits(remote, "environments/prod") == [tip]

    # A source commit that changes no output publishes nothing either.
    (source / "README-team.md").write_text("notes\n")
    commit_all(source, "docs only")
    assert run_cli("publish", source, "--env", "prod").exit_code == 0
    assert commits(remote, "environments/prod") == [tip]

    set_memory(source, "0.8")
    changed = commit_all(source, "phi4: less memory")
    third = run_cli("publish", source, "--env", "prod")
    assert third.exit_code == 0, third.stderr
    history = commits(remote, "environments/prod")
    assert len(history) == 2
    assert history[1] == tip
    assert trailer(remote, history[0], "Runwayc-Source-Commit") == changed
    touched = git(remote, "diff", "--name-only", tip, history[0]).splitlines()
    assert touched == ["team-a/phi4/hydrator.metadata", "team-a/phi4/manifest.yaml"]
    files = branch_files(remote, "environments/prod")
    # Each app names the source commit that last changed it.
    assert changed.encode() in files["team-a/phi4/hydrator.metadata"]
    assert head.encode() in files["team-b/llama-8b/hydrator.metadata"]


def test_publish_to_a_path_keeps_the_rest_of_the_branch(remote, clone):
    source = clone("a")
    result = run_cli("publish", source, "--env", "staging", "--path", "deploy/staging")
    assert result.exit_code == 0, result.stderr
    files = branch_files(remote, "main")
    assert "runway.yaml" in files  # the source is still there
    assert "deploy/staging/team-a/phi4/manifest.yaml" in files
    assert "deploy/staging/kustomization.yaml" in files


def test_publish_refuses_a_spec_with_errors_and_pushes_nothing(remote, clone):
    source = clone("a")
    path = source / PHI4
    path.write_text(path.read_text().replace("count: 1", "count: 1000"))
    commit_all(source, "too many GPUs")
    result = run_cli("publish", source, "--env", "prod")
    assert result.exit_code == 1
    assert "deployments/team-a/phi4.yaml:" in result.stderr
    assert git(remote, "branch", "--list", "environments/prod") == ""


def test_pull_request_mode_pushes_a_branch_and_prints_the_body(remote, clone):
    source = clone("a")
    assert run_cli("publish", source, "--env", "prod").exit_code == 0
    set_memory(source, "0.7")
    head = commit_all(source, "phi4: 0.7")
    result = run_cli("publish", source, "--env", "prod", "--pull-request")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"runwayc: publish prod from {head[:12]}\n")
    assert "<details><summary><code>team-a/phi4</code>: 2 changed</summary>" in result.stdout
    assert git(remote, "branch", "--list", f"runwayc/prod/{head[:12]}").strip()
    # The environment branch itself is untouched until the PR merges.
    assert len(commits(remote, "environments/prod")) == 1


def publish_cli(clone: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compiler.cli", "publish", str(clone), "--env", "prod"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )


@pytest.mark.parametrize("round_number", range(6))
def test_racing_publishers_both_land_and_the_last_source_wins(remote, clone, round_number):
    """Two CI jobs publishing different sources at once: both succeed in turn, neither
    forces, and the branch ends with the tree of whichever source published last."""
    first, second = clone("a"), clone("b")
    set_memory(first, f"0.6{round_number}")
    set_memory(second, f"0.7{round_number}")
    sources = {commit_all(first, "a"): first, commit_all(second, "b"): second}
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(publish_cli, [first, second]))
    for result in results:
        assert result.returncode == 0, result.stderr
    history = commits(remote, "environments/prod")
    assert len(history) == 2  # one commit each, the second on top of the first
    published = [trailer(remote, c, "Runwayc-Source-Commit") for c in history]
    assert set(published) == set(sources)
    last = sources[published[0]]
    files = branch_files(remote, "environments/prod")
    expected = expected_tree(last, "prod")
    assert files["team-a/phi4/manifest.yaml"] == expected["team-a/phi4/manifest.yaml"]
    assert set(files) == set(expected)


def cache_state(clone: Path) -> dict[str, tuple[bytes, int]]:
    directory = clone / ".runwayc_cache"
    return {
        str(path.relative_to(directory)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_a_revision_compile_reads_the_checkouts_cache_and_stores_nothing(
    clone, tmp_path, monkeypatch
):
    source = clone("a")
    models = len(Workspace(source).deployment_sources())
    assert run_cli("compile", source, "--env", "prod", "--locked").exit_code == 0
    set_memory(source, "0.8")
    commit_all(source, "one model changed since the cache was filled")
    before = cache_state(source)

    warm = compile_at(source, "HEAD", "prod", tmp_path / "warm", locked=True)
    assert warm.cache is not None
    assert warm.cache.reused == models - 1  # every model but the changed one is a hit
    assert cache_state(source) == before  # nothing stored, not even the changed model

    monkeypatch.setenv("RUNWAYC_CACHE_DIR", str(tmp_path / "empty-cache"))
    cold = compile_at(source, "HEAD", "prod", tmp_path / "cold", locked=True)
    assert cold.cache is not None
    assert cold.cache.reused == 0
    assert warm.files == cold.files
    assert warm.files == expected_tree(source, "prod")


HOOK = """#!/bin/sh
echo attempt >> "$GIT_DIR/attempts"
echo "policy: environments/* takes signed commits only" >&2
echo "see https://example.invalid/policy" >&2
exit 1
"""


def install_hook(remote: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(HOOK)
    hook.chmod(0o755)


def test_a_hook_rejection_shows_the_remotes_words_and_is_not_retried(remote, clone):
    source = clone("a")
    install_hook(remote)
    result = run_cli("publish", source, "--env", "prod")
    assert result.exit_code == 1
    assert "error[PUSH_REJECTED]: the push was refused [remote rejected] (pre-receive hook" in (
        result.stderr
    )
    assert "remote: policy: environments/* takes signed commits only; remote: see https" in (
        result.stderr
    )
    assert "non-fast-forward" not in result.stderr
    assert (remote / "attempts").read_text() == "attempt\n"  # failed at once, no retries


def test_credentials_in_a_remote_url_are_never_printed(remote, clone):
    source = clone("a")
    base = "https://ci-bot:s3cret-token@git.example.invalid/"
    # git rewrites the URL to the local bare remote: nothing leaves the machine.
    git(source, "config", f"url.{remote}/.insteadOf", base)
    url = base
    first = run_cli("publish", source, "--env", "prod", "--remote", url)
    assert first.exit_code == 0, first.stderr
    assert "to https://***@git.example.invalid/ environments/prod" in first.stderr
    again = run_cli("publish", source, "--env", "prod", "--remote", url)
    assert "nothing changed; https://***@git.example.invalid/ environments/prod" in again.stderr
    install_hook(remote)
    set_memory(source, "0.8")
    commit_all(source, "phi4: less memory")
    refused = run_cli("publish", source, "--env", "prod", "--remote", url)
    assert refused.exit_code == 1
    assert "https://***@git.example.invalid/ environments/prod: error[PUSH_REJECTED]" in (
        refused.stderr
    )
    for result in (first, again, refused):
        assert "s3cret-token" not in result.stdout + result.stderr
