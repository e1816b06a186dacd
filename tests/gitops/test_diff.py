"""runwayc diff: per-resource diffs of the rendered trees of two git revisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.core.diagnostics import Location, error
from compiler.core.gitops.diff import BrokenSide, diff_trees, format_markdown
from tests.conftest import run_cli
from tests.gitops.conftest import commit_all
from tests.gitops.test_publish import PHI4, set_memory


def edit_add(clone):
    text = (clone / PHI4).read_text().replace("name: phi4", "name: phi4-canary")
    (clone / "deployments/team-a/phi4-canary.yaml").write_text(text)


def edit_remove(clone):
    (clone / "deployments/team-b/llama.yaml").unlink()


def edit_change(clone):
    set_memory(clone, "0.8")


def edit_rename(clone):
    path = clone / PHI4
    path.write_text(path.read_text().replace("name: phi4", "name: phi4-mini"))


EDITS = {"add": edit_add, "remove": edit_remove, "change": edit_change, "rename": edit_rename}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_markdown_diff_per_case(clone, text_snapshot, case):
    source = clone("a")
    EDITS[case](source)
    commit_all(source, case)
    result = run_cli("diff", source, "--base", "HEAD~1", "--env", "prod", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == text_snapshot


def test_rename_is_reported_once_not_as_add_and_remove(clone):
    source = clone("a")
    edit_rename(source)
    result = run_cli("diff", source, "--base", "HEAD", "--env", "prod", "--format", "json")
    (report,) = json.loads(result.stdout)
    kinds = sorted(c["kind"] for c in report["changes"])
    assert kinds == ["renamed", "renamed", "renamed"]  # the MD, its Service and Deployment
    assert report["summary"] == {"added": 0, "changed": 0, "removed": 0, "renamed": 3}


def test_working_tree_against_head_and_exit_code(clone):
    source = clone("a")
    same = run_cli("diff", source, "--base", "HEAD", "--env", "prod", "--exit-code")
    assert same.exit_code == 0
    assert same.stdout == "prod: no changes\n"
    edit_change(source)  # not committed: the working tree is the head side
    changed = run_cli("diff", source, "--base", "HEAD", "--env", "prod", "--exit-code")
    assert changed.exit_code == 1
    assert "* changed: Deployment team-a/phi4\n" in changed.stdout
    assert changed.stdout.endswith("prod: 2 changed (1 app(s))\n")


def test_every_environment_by_default(clone):
    source = clone("a")
    edit_change(source)
    result = run_cli("diff", source, "--base", "HEAD")
    assert result.stdout.splitlines()[-3:] == [
        "dev: 2 changed (1 app(s))",
        "prod: 2 changed (1 app(s))",
        "staging: 2 changed (1 app(s))",
    ]


def test_a_revision_that_does_not_exist_is_a_usage_error(clone):
    source = clone("a")
    result = run_cli("diff", source, "--base", "no-such-ref", "--env", "prod")
    assert result.exit_code == 2
    assert '"no-such-ref" is not a commit' in result.stderr


def break_phi4(clone):
    path = clone / PHI4
    path.write_text(path.read_text().replace("count: 1", "count: 1000"))


def test_a_base_that_does_not_compile_is_exit_2_with_its_diagnostics_not_an_empty_tree(clone):
    source = clone("a")
    break_phi4(source)
    commit_all(source, "too many GPUs")
    (source / PHI4).write_text((source / PHI4).read_text().replace("count: 1000", "count: 1"))
    commit_all(source, "fixed")
    text = run_cli("diff", source, "--base", "HEAD~1", "--head", "HEAD", "--env", "prod")
    assert text.exit_code == 2
    assert "runwayc: prod: HEAD~1 (base) does not compile (1 error(s)):\n" in text.stderr
    assert "deployments/team-a/phi4.yaml:" in text.stderr
    assert "removed" not in text.stdout
    assert "added" not in text.stdout
    assert text.stdout == "prod: HEAD~1 (base) does not compile (1 error(s))\n"

    markdown = run_cli(
        "diff",
        source,
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--env",
        "prod",
        "--format",
        "markdown",
    )
    assert markdown.exit_code == 2
    assert "#### prod: <code>HEAD~1</code> (base) does not compile\n" in markdown.stdout
    fenced = markdown.stdout.split("```text\n", 1)[1].split("```", 1)[0]
    assert fenced.startswith("deployments/team-a/phi4.yaml:")
    assert "error[" in fenced

    machine = run_cli("diff", source, "--base", "HEAD~1", "--env", "prod", "--format", "json")
    assert machine.exit_code == 2
    (entry,) = json.loads(machine.stdout)
    assert entry["doesNotCompile"]["side"] == "base"
    assert entry["doesNotCompile"]["diagnostics"][0]["file"] == "deployments/team-a/phi4.yaml"


def test_a_working_tree_that_does_not_compile_is_exit_2_and_other_envs_still_diff(clone):
    source = clone("a")
    (source / "runway.yaml").write_text("environments: [\n")
    result = run_cli("diff", source, "--base", "HEAD")
    assert result.exit_code == 2
    assert "the working tree (head) does not compile" in result.stderr
    assert "runway.yaml:" in result.stderr
    assert "removed" not in result.stdout


def test_an_unknown_env_is_exit_2_naming_the_known_ones(clone):
    source = clone("a")
    result = run_cli("diff", source, "--base", "HEAD", "--env", "prd")
    assert result.exit_code == 2
    assert 'environment "prd" is not listed in runway.yaml (known: dev, prod, staging)' in (
        result.stderr
    )
    assert "no changes" not in result.stdout


def test_an_environment_new_at_head_diffs_against_an_empty_base(clone):
    source = clone("a")
    project = source / "runway.yaml"
    project.write_text(project.read_text() + "  qa: {}\n")
    result = run_cli("diff", source, "--base", "HEAD", "--env", "qa")
    assert result.exit_code == 0, result.stderr
    assert "runway.yaml at HEAD does not list it" in result.stderr
    assert result.stdout.splitlines()[-1].startswith("qa: ")
    assert " added " in result.stdout.splitlines()[-1] + " "


def test_markdown_is_cut_to_fit_a_comment():
    manifest = "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n  namespace: n\n"
        f"data:\n  k: '{'x' * 200}'\n"
        for i in range(50)
    )
    head = {
        f"n/app{i}/manifest.yaml": manifest.replace("name: c", f"name: a{i}-").encode()
        for i in range(40)
    }
    text = format_markdown([diff_trees("prod", {}, head)], limit=20_000)
    assert len(text) < 21_000
    assert "diff truncated to fit a pull-request comment" in text


def test_backticks_in_a_manifest_cannot_close_the_fence():
    base = {
        "n/a/manifest.yaml": b"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        b"  name: a\n  namespace: n\ndata:\n  k: x\n"
    }
    head = {"n/a/manifest.yaml": base["n/a/manifest.yaml"].replace(b"k: x", b"k: '````'")}
    text = format_markdown([diff_trees("prod", base, head)])
    assert "`````diff\n" in text


def test_a_broken_side_leads_the_comment_and_survives_the_cut():
    broken = BrokenSide(
        "prod",
        "base",
        "origin/<main>",
        (error("CEILING_EXCEEDED", "too many GPUs ```", Location("deployments/a.yaml", 3, 5)),),
    )
    head = {
        f"n/app{i}/manifest.yaml": (
            f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a{i}\n  namespace: n\n"
            f"data:\n  k: '{'x' * 2000}'\n"
        ).encode()
        for i in range(40)
    }
    text = format_markdown([diff_trees("dev", {}, head)], limit=5_000, broken=[broken])
    assert text.startswith(
        "### runwayc: rendered diff\n\nprod: origin/<main> (base) does not compile (1 error(s)); "
        "dev: 40 added (40 app(s))\n"
    )
    assert "#### prod: <code>origin/&lt;main&gt;</code> (base) does not compile\n" in text
    assert "````text\ndeployments/a.yaml:3:5: error[CEILING_EXCEEDED]: too many GPUs ```\n````" in (
        text
    )
    assert "diff truncated to fit a pull-request comment" in text


def test_a_new_namespace_shows_its_namespace_object_and_an_emptied_one_never_a_rename(clone):
    """A Namespace is part of the tree a PR changes: a model moved to team-c adds team-c's
    Namespace, and team-b's (its only model gone) shows as removed, never as a rename (the
    cluster keeps it: Namespaces are never pruned)."""
    source = clone("a")
    path = source / "deployments/team-b/llama.yaml"
    path.write_text(path.read_text().replace("namespace: team-b", "namespace: team-c"))
    result = run_cli("diff", source, "--base", "HEAD", "--env", "prod", "--format", "json")
    assert result.exit_code == 0, result.stderr
    (report,) = json.loads(result.stdout)
    namespaces = {(c["kind"], c["object"]) for c in report["changes"] if "Namespace" in c["object"]}
    assert namespaces == {("added", "Namespace team-c"), ("removed", "Namespace team-b")}


def test_a_changed_shard_count_is_reported_as_models_moving_between_units():
    """No object changes, yet two Argo CD Applications trade models: the diff says which."""
    from compiler.core.gitops.diff import as_json, diff_trees, format_text

    base = {"a/kustomization.yaml": b"resources:\n- m0/manifest.yaml\n- m1/manifest.yaml\n"}
    head = {
        "a/kustomization.yaml": b"resources:\n- namespace.yaml\n",
        "a.shard-0/kustomization.yaml": b"resources:\n- ../a/m1\n",
        "a.shard-1/kustomization.yaml": b"resources:\n- ../a/m0\n",
    }
    moved = diff_trees("prod", base, head)
    assert moved.differs
    assert not moved.changes
    assert moved.moved == ("a/m0: sync unit a -> a.shard-1", "a/m1: sync unit a -> a.shard-0")
    text = format_text([moved])
    assert text.startswith("prod: no changes to objects; 2 model(s) move between sync units\n")
    assert "prod: warning: a/m0: sync unit a -> a.shard-1\n" in text
    assert as_json([moved])[0]["moved"] == list(moved.moved)
    # The same units on both sides: nothing moves, whatever else changed.
    assert not diff_trees("prod", head, {**head, "a/m0/README.md": b"x"}).moved


def test_a_locked_diff_renders_what_publish_pushes_and_refuses_a_missing_pin(clone):
    """--locked compiles each side from its runway.lock, as publish does: the same objects
    where the lock covers the change, and a side that names an image the lock lacks does not
    compile (publish would refuse it) instead of rendering the tag."""
    source = clone("a")
    edit_change(source)
    commit_all(source, "change")
    unlocked = run_cli("diff", source, "--base", "HEAD~1", "--head", "HEAD", "--env", "prod")
    locked = run_cli(
        "diff", source, "--base", "HEAD~1", "--head", "HEAD", "--env", "prod", "--locked"
    )
    assert locked.exit_code == unlocked.exit_code == 0
    assert locked.stdout == unlocked.stdout
    path = source / PHI4
    text = path.read_text()
    image = next(line.split(": ", 1)[1] for line in text.splitlines() if "image: " in line)
    path.write_text(text.replace(image, "docker.io/vllm/vllm-openai:v9.9.9"))
    commit_all(source, "an image runway.lock does not pin")
    refused = run_cli("diff", source, "--base", "HEAD~1", "--env", "prod", "--locked")
    assert refused.exit_code == 2
    assert "the working tree (head) does not compile" in refused.stderr
    assert "vllm-openai:v9.9.9" in refused.stderr


def test_a_committed_revision_with_a_linked_source_is_read_from_a_checkout(clone):
    """git's objects hold a symbolic link as its target's name: such a revision is exported,
    so the link is followed (and bounded) exactly as in a working tree."""
    source = clone("a")
    moved = source / "shared" / "phi4.yaml"
    moved.parent.mkdir()
    (source / PHI4).rename(moved)
    (source / PHI4).symlink_to(Path("../../shared/phi4.yaml"))
    commit_all(source, "phi4 through a link")
    assert run_cli("diff", source, "--base", "HEAD~1", "--head", "HEAD").stdout.endswith(
        "dev: no changes\nprod: no changes\nstaging: no changes\n"
    )
    set_memory(source, "0.8")  # through the link
    commit_all(source, "change through the link")
    result = run_cli("diff", source, "--base", "HEAD~1", "--head", "HEAD", "--env", "prod")
    assert result.exit_code == 0, result.stderr
    assert "* changed: Deployment team-a/phi4\n" in result.stdout
