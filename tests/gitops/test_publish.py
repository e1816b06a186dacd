"""publish against real git: a bare remote and clones, as CI would run it."""

from __future__ import annotations

import os
import shutil
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


def test_a_one_model_change_hands_git_only_the_changed_files(remote, clone, monkeypatch):
    """Every file the branch already holds with the same bytes goes to fast-import by its
    blob id; only the changed model's files are written into the stream."""
    from compiler.io import publish as publishing

    inline: list[list[str]] = []
    original = publishing._fast_import_stream

    def spy(stream, ref, target, parent, files, message, committer):
        inline.append(sorted(name for name, content in files.items() if isinstance(content, bytes)))
        original(stream, ref, target, parent, files, message, committer)

    monkeypatch.setattr(publishing, "_fast_import_stream", spy)
    source = clone("a")
    assert run_cli("publish", source, "--env", "prod").exit_code == 0
    everything = expected_tree(source, "prod")
    assert inline[-1] == sorted(everything)  # the first publication: every file, inline
    set_memory(source, "0.8")
    commit_all(source, "phi4: less memory")
    assert run_cli("publish", source, "--env", "prod").exit_code == 0
    assert inline[-1] == ["team-a/phi4/hydrator.metadata", "team-a/phi4/manifest.yaml"]
    files = branch_files(remote, "environments/prod")
    rendered = expected_tree(source, "prod")
    assert {k: v for k, v in files.items() if not k.endswith("hydrator.metadata")} == {
        k: v for k, v in rendered.items() if not k.endswith("hydrator.metadata")
    }


def test_publish_to_a_path_keeps_the_rest_of_the_branch(remote, clone):
    source = clone("a")
    result = run_cli("publish", source, "--env", "staging", "--path", "deploy/staging")
    assert result.exit_code == 0, result.stderr
    files = branch_files(remote, "main")
    assert "runway.yaml" in files  # the source is still there
    assert "deploy/staging/team-a/phi4/manifest.yaml" in files
    # One sync unit per namespace, as compile writes them; nothing builds the environment.
    assert "deploy/staging/team-a/kustomization.yaml" in files
    assert "deploy/staging/team-a/namespace.yaml" in files
    assert "deploy/staging/kustomization.yaml" not in files


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
def test_racing_publishers_never_roll_back_whichever_lands_first(remote, clone, round_number):
    """Two CI jobs publishing consecutive source commits at once: neither forces, and the
    branch ends with the newer source's tree. When the newer lands first, the older one is
    refused (it would roll the environment back), not stacked on top as before."""
    first, second = clone("a"), clone("b")
    set_memory(first, f"0.6{round_number}")
    older = commit_all(first, "a")
    git(first, "push", "-q", "origin", "main")
    git(second, "pull", "-q", "--ff-only")
    set_memory(second, f"0.7{round_number}")
    newer = commit_all(second, "b")
    with ThreadPoolExecutor(2) as pool:
        late, early = pool.map(publish_cli, [first, second])
    assert early.returncode == 0, early.stderr
    history = commits(remote, "environments/prod")
    published = [trailer(remote, c, "Runwayc-Source-Commit") for c in history]
    if late.returncode == 0:
        assert published == [newer, older]  # the older landed first, the newer on top
    else:
        assert late.returncode == 2
        assert "error[PUBLISH_REFUSED]" in late.stderr
        assert published == [newer]
    files = branch_files(remote, "environments/prod")
    expected = expected_tree(second, "prod")
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


# --- what publish refuses ------------------------------------------------------------------


def test_publish_refuses_the_root_of_the_branch_it_publishes_from(remote, clone):
    source = clone("a")
    before = commits(remote, "main")
    result = run_cli("publish", source, "--env", "dev", "--branch", "main")
    assert result.exit_code == 2
    assert "origin main: error[PUBLISH_REFUSED]: the branch's top holds runwayc sources " in (
        result.stderr
    )
    assert commits(remote, "main") == before
    assert "runway.yaml" in branch_files(remote, "main")


def test_publish_refuses_the_root_of_an_unpushed_source_branch(remote, clone):
    source = clone("a")
    git(source, "checkout", "-q", "-b", "feature")
    result = run_cli("publish", source, "--env", "dev", "--branch", "feature")
    assert result.exit_code == 2
    assert "origin feature: error[PUBLISH_REFUSED]: the branch's top holds runwayc sources" in (
        result.stderr
    )
    assert git(remote, "branch", "--list", "feature") == ""


def add_on_main(source: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    commit_all(source, "add " + ", ".join(files))
    git(source, "push", "-q", "origin", "main")


PROJECT = "environments: {dev: {}}\n"


@pytest.mark.parametrize(
    ("path", "files", "reason"),
    [
        ("other", {"other/runway.yaml": PROJECT}, "holds runwayc sources (other/runway.yaml)"),
        ("apps", {"apps/t/runway.yaml": PROJECT}, "holds runwayc sources (apps/t/runway.yaml)"),
        ("deployments", {}, "deployments is part of the runwayc project in the top directory"),
        ("deployments/team-a", {}, "deployments is part of the runwayc project"),
        ("policies", {}, "policies is part of the runwayc project"),
        ("apps/t/overlays", {"apps/t/runway.yaml": PROJECT}, "apps/t/overlays is part of"),
        ("docs", {"docs/index.md": "# ours\n"}, "no runwayc publication of dev wrote (docs/"),
        ("README.md", {"README.md": "hi\n"}, "README.md is a file there"),
    ],
    ids=[
        "runway-yaml",
        "nested-runway-yaml",
        "deployments",
        "inside-deployments",
        "policies",
        "nested-project-overlays",
        "someone-elses-files",
        "a-file",
    ],
)
def test_publish_refuses_a_path_that_would_replace_sources(remote, clone, path, files, reason):
    source = clone("a")
    if files:
        add_on_main(source, files)
    before = commits(remote, "main")
    result = run_cli("publish", source, "--env", "dev", "--path", path)
    assert result.exit_code == 2, result.stderr
    assert f"origin main:{path}: error[PUBLISH_REFUSED]: " in result.stderr
    assert reason in result.stderr
    assert commits(remote, "main") == before


def test_publish_refuses_a_path_holding_another_environments_tree(remote, clone):
    source = clone("a")
    assert run_cli("publish", source, "--env", "staging", "--path", "deploy/x").exit_code == 0
    git(source, "pull", "-q", "--ff-only")
    set_memory(source, "0.8")
    commit_all(source, "phi4: less memory")
    git(source, "push", "-q", "origin", "main")
    again = run_cli("publish", source, "--env", "staging", "--path", "deploy/x")
    assert again.exit_code == 0, again.stderr  # its own tree: fine
    git(source, "pull", "-q", "--ff-only")
    result = run_cli("publish", source, "--env", "prod", "--path", "deploy/x")
    assert result.exit_code == 2
    assert "origin main:deploy/x: error[PUBLISH_REFUSED]: holds the staging environment's " in (
        result.stderr
    )


def test_publish_replaces_the_compile_output_of_its_env_committed_by_hand(remote, clone):
    source = clone("a")
    compiled = run_cli(
        "compile", source, "--env", "prod", "--locked", "--out", source / "rendered/prod"
    )
    assert compiled.exit_code == 0, compiled.stderr
    git(source, "add", "-f", "rendered")
    commit_all(source, "rendered/prod by hand")
    git(source, "push", "-q", "origin", "main")
    other = run_cli("publish", source, "--env", "staging", "--path", "rendered/prod")
    assert other.exit_code == 2
    assert "holds the prod environment's tree (rendered/prod/" in other.stderr
    result = run_cli("publish", source, "--env", "prod", "--path", "rendered/prod")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("path", ["/abs", "/", "../x", "a/../b", "./x", "a//b", "."])
def test_publish_refuses_an_absolute_path_or_dot_components(remote, clone, path):
    source = clone("a")
    before = commits(remote, "main")
    result = run_cli("publish", source, "--env", "dev", "--path", path)
    assert result.exit_code == 2
    assert "--path: error[PUBLISH_REFUSED]: " in result.stderr
    assert f'"{path}"' in result.stderr
    assert commits(remote, "main") == before


@pytest.mark.parametrize("change", ["modified", "staged", "untracked"])
def test_publish_refuses_a_dirty_tree_unless_allowed(remote, clone, change):
    source = clone("a")
    if change == "untracked":
        name = "deployments/team-a/new.yaml"
        (source / name).write_text((source / PHI4).read_text().replace("name: phi4", "name: n"))
    else:
        name = str(PHI4)
        set_memory(source, "0.5")
        if change == "staged":
            git(source, "add", name)
    result = run_cli("publish", source, "--env", "prod")
    assert result.exit_code == 2
    assert f"{name}: error[PUBLISH_REFUSED]: uncommitted change: publish compiles HEAD" in (
        result.stderr
    )
    assert git(remote, "branch", "--list", "environments/prod") == ""
    allowed = run_cli("publish", source, "--env", "prod", "--allow-dirty")
    assert allowed.exit_code == 0, allowed.stderr
    assert "1 uncommitted change(s) are not in it" in allowed.stderr
    head = git(source, "rev-parse", "HEAD")
    tip = commits(remote, "environments/prod")[0]
    assert trailer(remote, tip, "Runwayc-Source-Commit") == head


def test_runwaycs_own_cache_does_not_make_the_tree_dirty(remote, clone):
    source = clone("a")
    (source / ".gitignore").unlink()
    commit_all(source, "no .gitignore")
    assert run_cli("compile", source, "--env", "prod", "--out", source / "out").exit_code == 0
    assert (source / ".runwayc_cache").is_dir()
    result = run_cli("publish", source, "--env", "prod")
    assert result.exit_code == 2  # out/ is untracked: it might be meant for the commit
    assert "out/" in result.stderr
    shutil.rmtree(source / "out")
    result = run_cli("publish", source, "--env", "prod")
    assert result.exit_code == 0, result.stderr


def test_publish_refuses_an_older_source_commit_unless_allowed(remote, clone):
    source = clone("a")
    older = git(source, "rev-parse", "HEAD")
    set_memory(source, "0.8")
    newer = commit_all(source, "phi4: less memory")
    assert run_cli("publish", source, "--env", "prod").exit_code == 0
    git(source, "checkout", "-q", older)
    result = run_cli("publish", source, "--env", "prod")
    assert result.exit_code == 2
    assert (
        f"origin environments/prod: error[PUBLISH_REFUSED]: {older[:12]} is older than "
        f"{newer[:12]}, the source prod was last published from"
    ) in result.stderr
    assert "pass --allow-rollback" in result.stderr
    assert len(commits(remote, "environments/prod")) == 1
    git(source, "checkout", "-q", "-b", "same-change", older)
    set_memory(source, "0.8")
    commit_all(source, "the same change, not descended from the published one")
    same = run_cli("publish", source, "--env", "prod")
    assert same.exit_code == 0, same.stderr  # nothing would change: nothing to roll back
    assert "nothing changed" in same.stderr
    git(source, "checkout", "-q", older)
    rolled = run_cli("publish", source, "--env", "prod", "--allow-rollback")
    assert rolled.exit_code == 0, rolled.stderr
    tip = commits(remote, "environments/prod")[0]
    assert trailer(remote, tip, "Runwayc-Source-Commit") == older
    git(source, "checkout", "-q", "main")
    assert run_cli("publish", source, "--env", "prod").exit_code == 0  # forward again


def test_publish_refuses_when_the_recorded_source_is_unknown_here(remote, clone, tmp_path):
    """A shallow CI clone cannot order its commit against the recorded one: refused, and the
    message says to fetch the history."""
    source = clone("a")
    assert run_cli("publish", source, "--env", "prod").exit_code == 0
    set_memory(source, "0.8")
    commit_all(source, "phi4: less memory")
    git(source, "push", "-q", "origin", "main")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{remote}", str(shallow))
    result = run_cli("publish", shallow, "--env", "prod")
    assert result.exit_code == 2
    assert "which this repository does not have (this is a shallow clone" in result.stderr
    git(shallow, "fetch", "-q", "--unshallow")
    fetched = run_cli("publish", shallow, "--env", "prod")
    assert fetched.exit_code == 0, fetched.stderr


def test_publish_an_unknown_env_is_exit_2_naming_the_known_ones(remote, clone):
    source = clone("a")
    result = run_cli("publish", source, "--env", "prd")
    assert result.exit_code == 2
    assert 'environment "prd" is not listed in runway.yaml (known: dev, prod, staging)' in (
        result.stderr
    )
    assert git(remote, "branch", "--list", "environments/prd") == ""


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


def test_publish_refuses_models_moving_between_sync_units_unless_allowed(remote, clone):
    """Splitting a namespace into shards hands its models to new Argo CD Applications or Flux
    Kustomizations while their objects stay the same: the old unit prunes them if it syncs
    first. The diff says so, and publish does it only when told."""
    source = clone("a")
    assert run_cli("publish", source, "--env", "prod").exit_code == 0
    before = commits(remote, "environments/prod")
    project = source / "runway.yaml"
    project.write_text(project.read_text() + "syncUnits:\n  shards:\n    team-a: 2\n")
    commit_all(source, "split team-a")
    diff = run_cli("diff", source, "--base", "HEAD~1", "--head", "HEAD", "--env", "prod")
    assert diff.exit_code == 0, diff.stderr
    assert "prod: no changes to objects; " in diff.stdout
    assert "model(s) move between sync units" in diff.stdout
    assert "prod: warning: team-a/phi4: sync unit team-a -> team-a.shard-" in diff.stdout
    refused = run_cli("publish", source, "--env", "prod")
    assert refused.exit_code == 2
    assert "error[PUBLISH_REFUSED]: team-a/" in refused.stderr
    assert "publishing moves models between sync units" in refused.stderr
    assert "pass --allow-unit-moves" in refused.stderr
    assert commits(remote, "environments/prod") == before  # nothing pushed
    allowed = run_cli("publish", source, "--env", "prod", "--allow-unit-moves")
    assert allowed.exit_code == 0, allowed.stderr
    published = branch_files(remote, "environments/prod")
    assert b"namespace.yaml" in published["team-a/kustomization.yaml"]
    assert b"../team-a/phi4" in b"".join(
        content for name, content in published.items() if name.startswith("team-a.shard-")
    )
    # Once the shards are published, an ordinary change publishes as before.
    set_memory(source, "0.8")
    commit_all(source, "phi4: less memory")
    assert run_cli("publish", source, "--env", "prod").exit_code == 0
