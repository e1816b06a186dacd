"""No input reaches the user as a traceback: bytes, bad paths, broken config."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli
from tests.harness import PROJECT
from tests.helpers import md_yaml


def test_non_utf8_source_is_a_diagnostic_and_others_still_checked(make_repo):
    repo = make_repo({"deployments/ok.yaml": md_yaml(resources={"gpu": {"count": 0}})})
    (repo / "deployments" / "bad.yaml").write_bytes(b"\xff\xfe oops")
    result = run_cli("check", repo)
    assert result.exit_code == 1
    assert "deployments/bad.yaml: error[NOT_UTF8]: not UTF-8 text (invalid byte at offset 0)" in (
        result.stderr
    )
    assert "error[PROVIDER_NEEDS_GPU]" in result.stderr


def test_missing_repository_is_a_refusal(tmp_path):
    result = run_cli("check", tmp_path / "nope")
    assert result.exit_code == 2
    nope = tmp_path / "nope"
    assert f"{nope}: error[NO_REPOSITORY]: no such directory {nope}" in result.stderr


def test_broken_runway_yaml_is_a_diagnostic(make_repo, tmp_path):
    repo = make_repo({"runway.yaml": "environments: [\n", "deployments/a.yaml": md_yaml()})
    result = run_cli("compile", repo, "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert "runway.yaml:2:1: error[YAML_SYNTAX]" in result.stderr


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.binary(max_size=400),
    st.sampled_from(["deployments/a.yaml", "runway.lock", "overlays/dev.yaml", "policies/p.yaml"]),
)
def test_arbitrary_bytes_anywhere_never_raise(raw, where):
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        (repo / "runway.yaml").write_text(PROJECT)
        (repo / "deployments").mkdir()
        (repo / "deployments" / "z.yaml").write_text(md_yaml())
        target = repo / where
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)
        result = run_cli("check", repo, "--format", "json")  # catch_exceptions=False
        assert result.exit_code in (0, 1)


def test_absurd_nesting_is_refused_before_composing(make_repo):
    # libyaml's composer recurses in C; 200,000 levels would crash the process if composed.
    repo = make_repo({"deployments/deep.yaml": "[" * 200_000 + "]" * 200_000})
    result = run_cli("check", repo)
    assert result.exit_code == 1
    assert (
        "deployments/deep.yaml:1:65: error[YAML_TOO_DEEP]: document nests deeper than 64 levels"
        in result.stderr
    )
