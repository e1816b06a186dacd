"""`compile --out -` prints the environment as `helm template` and `kustomize build` do: one
YAML stream on stdout, diagnostics on stderr, nothing written (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from compiler.core.emit import RANK_ORDER
from compiler.core.stream import environment_stream
from tests.conftest import needs_binary, run_cli
from tests.helpers import kustomize_build, md_yaml


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def canonical(objects: list[object]) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True) for o in objects)


def test_the_stream_is_what_kustomize_builds_of_the_tree_and_nothing_is_written(
    quickstart, tmp_path
):
    before = files_under(quickstart)
    streamed = run_cli("compile", quickstart, "--env", "prod", "--out", "-")
    assert streamed.exit_code == 0, streamed.stderr
    assert files_under(quickstart) == before  # no rendered/, no .runwayc_cache/
    assert streamed.stdout.startswith("---\napiVersion: ")
    assert "runwayc: prod: 4 ModelDeployment(s) printed to stdout" in streamed.stderr

    written = run_cli("compile", quickstart, "--env", "prod", "--out", tmp_path / "tree")
    assert written.exit_code == 0, written.stderr
    tree = {
        p.relative_to(tmp_path / "tree").as_posix(): p.read_bytes()
        for p in (tmp_path / "tree").rglob("*")
        if p.is_file()
    }
    built = kustomize_build(needs_binary("kubectl"), tree, tmp_path / "built")
    objects = list(yaml.safe_load_all(streamed.stdout))
    assert canonical(objects) == canonical(built)
    # Deterministic, and in the tree's kind order (what others depend on first).
    again = run_cli("compile", quickstart, "--env", "prod", "--out", "-", "--no-cache")
    assert again.stdout == streamed.stdout
    rank = {kind: i for i, kind in enumerate(RANK_ORDER)}
    ranks = [rank.get(o["kind"], len(RANK_ORDER)) for o in objects]
    assert ranks == sorted(ranks)


def test_a_namespace_file_streams_before_the_objects_in_it():
    files = {
        "kustomization.yaml": b"resources:\n- team-a/m/manifest.yaml\n- team-a/namespace.yaml\n",
        "team-a/m/manifest.yaml": b"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: m\n",
        "team-a/m/README.md": b"# m\n",
        "team-a/namespace.yaml": b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
    }
    stream = environment_stream(files)
    assert [o["kind"] for o in yaml.safe_load_all(stream)] == ["Namespace", "Service"]
    assert stream.count("---\n") == 2


def test_errors_go_to_stderr_and_stdout_stays_empty(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml(resources={"gpu": {"count": 0}})})
    result = run_cli("compile", repo, "--out", "-")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error[PROVIDER_NEEDS_GPU]" in result.stderr
    assert "runwayc: dev: 1 error(s), 0 warning(s); nothing printed" in result.stderr
    assert not (repo / "rendered").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--format", "json"], "--format json prints to stdout, where --out - streams"),
        (["--format", "sarif"], "--format sarif prints to stdout, where --out - streams"),
        (["--allow-empty"], "--allow-empty only applies when a tree is written"),
    ],
    ids=["json", "sarif", "allow-empty"],
)
def test_flags_that_contradict_a_stream_are_usage_errors(make_repo, flags, message):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    result = run_cli("compile", repo, "--out", "-", *flags)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_a_directory_named_dash_is_still_reachable(make_repo, tmp_path, monkeypatch):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    monkeypatch.chdir(tmp_path)
    result = run_cli("compile", repo, "--out", "./-")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "-" / "team-a" / "m" / "manifest.yaml").is_file()
    assert result.stdout == ""
