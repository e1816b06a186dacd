"""runwayc diff: per-resource diffs of the rendered trees of two git revisions."""

from __future__ import annotations

import json

import pytest

from compiler.core.gitops.diff import diff_trees, format_markdown
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


def test_a_base_that_does_not_compile_counts_as_empty(clone):
    source = clone("a")
    result = run_cli("diff", source, "--base", "no-such-ref", "--env", "prod")
    assert result.exit_code == 1
    assert '"no-such-ref" is not a commit' in result.stderr


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
