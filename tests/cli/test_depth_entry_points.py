"""Every file runwayc parses is held to its own nesting bound, not to a parser's.

One check per YAML entry point: sources, runway.yaml, overlays, policies and runway.lock
(recipe JSON is in tests/recipes/test_depth.py). Each gets a document far deeper than any
parser's own cap, and the user sees runwayc's diagnostic at the 65th level.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.harness import PROJECT
from tests.helpers import md_yaml

DEEP = "[" * 200_000 + "]" * 200_000
REFUSAL = "error[YAML_TOO_DEEP]: document nests deeper than 64 levels"


@pytest.mark.parametrize(
    ("where", "command"),
    [
        ("deployments/deep.yaml", "check"),
        ("runway.yaml", "check"),
        ("overlays/dev.yaml", "check"),
        ("policies/deep.yaml", "check"),
        ("runway.lock", "compile"),
    ],
)
def test_each_yaml_entry_point_refuses_at_the_bound(make_repo, tmp_path, where, command):
    repo = make_repo({"runway.yaml": PROJECT, "deployments/a.yaml": md_yaml(), where: DEEP})
    args = ("--env", "dev", "--locked", "--out", tmp_path / "out") if command == "compile" else ()
    result = run_cli(command, repo, *args)
    assert result.exit_code == 1
    assert f"{where}:1:65: {REFUSAL}" in result.stderr
    assert "Traceback" not in result.stderr
