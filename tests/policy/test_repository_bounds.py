"""A repository policy's `limits` and `names.maxLength` take effect when they tighten, and
raising one is refused: a field the policy schema accepts is never silently ignored."""

from __future__ import annotations

import pytest

from tests.harness import Repo
from tests.helpers import md_yaml

POLICY = "apiVersion: runwayc.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: team\n"


def compiled(policy: str, **files: str):
    sources = {"deployments/a.yaml": md_yaml(resources={"gpu": {"count": 1}}), **files}
    return Repo.of({"policies/team.yaml": POLICY + policy, **sources}).compile()


def test_a_lower_depth_bound_applies_to_the_sources():
    deep = "[" * 11 + "]" * 11
    result = compiled("limits:\n  maxDepth: 10\n", **{"deployments/deep.yaml": deep})
    assert "deployments/deep.yaml:1:11: error[YAML_TOO_DEEP]" in result.text
    assert "document nests deeper than 10 levels" in result.text


def test_a_lower_file_size_bound_applies_to_the_sources():
    result = compiled("limits:\n  maxFileBytes: 100\n", **{"deployments/b.yaml": md_yaml("b")})
    assert "deployments/b.yaml:1:1: error[YAML_TOO_LARGE]: file is larger than 100 bytes" in (
        result.text
    )


def test_a_shorter_name_limit_applies():
    long_name = "a-name-that-is-longer-than-twenty"
    result = compiled("names:\n  maxLength: 20\n", **{"deployments/b.yaml": md_yaml(long_name)})
    assert f'metadata.name "{long_name}" is 33 characters; at most 20 are allowed' in result.text


@pytest.mark.parametrize(
    ("policy", "path", "message"),
    [
        ("limits:\n  maxDepth: 100\n", "limits.maxDepth", "from 64 to 100"),
        ("limits:\n  maxNodes: 1000000\n", "limits.maxNodes", "from 100000 to 1000000"),
        ("names:\n  maxLength: 100\n", "names.maxLength", "from 63 to 100"),
    ],
)
def test_raising_a_bound_is_a_loosening(policy, path, message):
    result = compiled(policy)
    assert not result.ok
    expected = f'policies/team.yaml:6:3: error[POLICY_LOOSENING]: {path}: policy "team" raises'
    assert expected in result.text
    assert f"{message}; a repository policy may only lower it" in result.text


def test_the_same_bound_is_no_loosening():
    result = compiled("limits:\n  maxDepth: 64\nnames:\n  maxLength: 63\n")
    assert "POLICY_LOOSENING" not in result.codes
