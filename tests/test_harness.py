"""The in-memory harness reads a repository exactly as the workspace reads it from disk: the
same inputs, so the same diagnostics and the same rendered objects, on every example and
environment and on a repository that has every kind of input the workspace reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.core.pipeline import CompileInputs, CompileOptions, compile_project
from compiler.io.workspace import Workspace
from tests.harness import ROOT, Compiled, Repo
from tests.helpers import md_yaml

EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "runway.yaml").is_file())

# The fields of CompileInputs the harness builds (the cache fields are the edge's business).
FIELDS = (
    "catalog",
    "builtin_policies",
    "deployments",
    "read_diagnostics",
    "project",
    "lock",
    "overlay",
    "user_policies",
    "recipe_files",
)


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return root


def assert_same(root: Path, repo: Repo, env: str, locked: bool) -> Compiled:
    on_disk: CompileInputs = Workspace(root).inputs(env)
    in_memory = repo.inputs(env)
    for name in FIELDS:
        assert getattr(in_memory, name) == getattr(on_disk, name), name
    options = CompileOptions(env=env, locked=locked)
    expected = compile_project(on_disk, options)
    actual = repo.compile(env, locked=locked)
    assert actual.result.diagnostics == expected.diagnostics
    assert actual.text == Compiled(expected.diagnostics, env, expected).text
    assert actual.files == expected.files
    assert actual.rendered() == Compiled(expected.diagnostics, env, expected).rendered()
    assert actual.result.lock == expected.lock
    return actual


def example_cases() -> list[tuple[Path, str]]:
    cases = []
    for example in EXAMPLES:
        for env in [*Repo.read(example).environments(), "no-such-env"]:
            cases.append((example, env))
    return cases


@pytest.mark.parametrize(
    ("example", "env"), example_cases(), ids=lambda v: v.name if isinstance(v, Path) else v
)
@pytest.mark.parametrize("locked", [False, True], ids=["unlocked", "locked"])
def test_harness_equals_the_workspace_on_every_example(example, env, locked):
    compiled = assert_same(example, Repo.read(example), env, locked)
    if env != "no-such-env" and locked:
        assert compiled.ok, compiled.text  # the examples compile --locked in CI
        assert compiled.models


POLICY = """\
apiVersion: runwayc.dev/v1alpha1
kind: Policy
metadata:
  name: {name}
ceilings:
  gpuCount: 2
"""
OVERLAY = """\
apiVersion: runwayc.dev/v1alpha1
kind: Overlay
namespace: {namespace}
labels:
  environment: {env}
"""
PROJECT = """\
apiVersion: runwayc.dev/v1alpha1
kind: Project
defaultEnvironment: dev
namespace: inference
environments:
  dev: {}
  prod: {}
  qa: {}
"""


def every_input() -> dict[str, str | bytes]:
    """A repository with every kind of file the workspace reads, and some it must not."""
    return {
        "runway.yaml": PROJECT,
        "runway.lock": "version: 1\n",
        "deployments/a.yaml": md_yaml("a"),
        "deployments/b.yml": md_yaml("b", None),
        "deployments/team/c.yaml": md_yaml("c", resources={"gpu": {"count": 4}}),
        "deployments/team/deeper/d.yaml": md_yaml("d", "team-b"),
        "deployments/team-x/e.yaml": md_yaml("e", "team-x"),  # sorts after team/ by parts
        "deployments/broken.yaml": b"\xff\xfe not UTF-8",
        "deployments/crlf.yaml": md_yaml("f", "team-c").replace("\n", "\r\n"),
        "deployments/notes.txt": "not a source",
        "deployments/README.md": md_yaml("ignored"),
        "policies/a.yaml": POLICY.format(name="a"),
        "policies/b.yml": POLICY.format(name="b"),
        "policies/nested/c.yaml": POLICY.format(name="nested"),  # not read: not in policies/
        "policies/readme.txt": "not a policy",
        "overlays/dev.yaml": OVERLAY.format(namespace="sandbox", env="dev"),  # shadows built-in
        "overlays/qa.yaml": OVERLAY.format(namespace="qa", env="qa"),  # no built-in qa
        "recipes/v1/models/a.json": '{"x": 1}',
        "recipes/v1/raw.bin": b"\x00\x01\xff",
        "rendered/dev/kustomization.yaml": "resources: []\n",
        ".runwayc_cache/compile-dev/00.entries": "junk",
    }


@pytest.mark.parametrize("env", ["dev", "prod", "qa", "staging", "none"])
def test_harness_equals_the_workspace_on_every_kind_of_input(tmp_path, env):
    files = every_input()
    backwards = Repo(dict(reversed(files.items())))  # the order of writing does not count
    compiled = assert_same(write(tmp_path, files), backwards, env, locked=False)
    assert "deployments/broken.yaml: error[NOT_UTF8]" in compiled.text
    if env in ("dev", "prod", "qa"):
        assert "CEILING_EXCEEDED" in compiled.text  # the user policies were read
    else:
        assert "UNKNOWN_ENVIRONMENT" in compiled.text
    inputs = Repo(files).inputs(env)
    assert [p.path for p in inputs.user_policies] == ["policies/a.yaml", "policies/b.yml"]
    assert sorted(inputs.recipe_files) == ["recipes/v1/models/a.json", "recipes/v1/raw.bin"]


def test_harness_renders_what_the_workspace_renders_where_nothing_fails(tmp_path):
    files = {
        k: v
        for k, v in every_input().items()
        if k not in ("deployments/broken.yaml", "deployments/team/c.yaml")
    }
    for env in ("dev", "prod", "qa"):
        compiled = assert_same(write(tmp_path, files), Repo(files), env, locked=False)
        assert compiled.ok, compiled.text
        assert len(compiled.models) == 5


def test_check_covers_every_environment_like_the_cli():
    files = every_input()
    checked = Repo(files).check()
    assert sorted(checked.environments) == ["dev", "prod", "qa"]
    assert not checked.ok
    lines = [ln for c in checked.environments.values() for ln in c.lines]
    assert sorted(set(lines)) == sorted(checked.lines)


def test_a_path_must_be_repo_relative():
    for bad in ("/etc/x.yaml", "../x.yaml", "a/./b.yaml", "a//b.yaml", "a\\b.yaml", "a/"):
        with pytest.raises(ValueError):
            Repo({bad: ""})
