"""A sync unit (a namespace, or a shard of one) is one kustomize build for Argo CD or Flux,
whose cost grows with the square of the objects in it (bench/sync_bench.py): past policy's
syncUnits.maxModelsPerUnit, check and compile warn, naming the unit and the count, at the
first model past the limit, and say what to write in runway.yaml to split it. It is a
warning: the tree is still written."""

from __future__ import annotations

from typing import Any

from compiler.core.diagnostics import Diagnostic
from tests.conftest import run_cli
from tests.harness import Repo
from tests.helpers import line_col, md_yaml


def policy(limit: int) -> str:
    return (
        "apiVersion: runwayc.dev/v1alpha1\nkind: Policy\nmetadata: {name: units}\n"
        f"syncUnits: {{maxModelsPerUnit: {limit}}}\n"
    )


def fleet(count: int, namespace: str = "team-a") -> dict[str, str]:
    return {
        f"deployments/{namespace}/m{i}.yaml": md_yaml(name=f"m{i}", namespace=namespace)
        for i in range(count)
    }


def large(result: Any) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.code == "SYNC_UNIT_LARGE"]


def test_a_namespace_past_the_limit_is_warned_once_at_the_first_model_past_it():
    files = {**fleet(3), **fleet(1, "team-b"), "policies/units.yaml": policy(2)}
    result = Repo.of(files).compile("dev")
    assert result.ok  # a warning: the tree is still written
    (warning,) = large(result)
    assert not warning.is_error
    assert warning.message.startswith(
        "namespace team-a holds 3 ModelDeployments in environment dev, more than "
        "syncUnits.maxModelsPerUnit (2): its sync unit (rendered/dev/team-a)"
    )
    # ceil(2 * 3 / 2) shards bring team-a to half the limit per unit on average.
    assert "split the namespace with syncUnits.shards.team-a: 3 in runway.yaml" in warning.message
    # Models are ordered by name: m0, m1, m2; the third is the first past the limit.
    assert warning.location.file == "deployments/team-a/m2.yaml"
    text = files["deployments/team-a/m2.yaml"]
    assert (warning.location.line, warning.location.column) == line_col(text, "name: m2")


def test_within_the_limit_nothing_is_said():
    assert not large(Repo.of({**fleet(3), "policies/units.yaml": policy(3)}).compile("dev"))
    # The built-in limit (policies/sync-units.yaml) is far above a small repository.
    assert not large(Repo.of(fleet(3)).compile("dev"))


def test_a_repository_may_raise_the_limit():
    """Advisory: an Argo CD allowed more than 90 s may hold more per unit."""
    files = {**fleet(3), "policies/units.yaml": policy(1)}
    assert large(Repo.of(files).compile("dev"))
    files["policies/units.yaml"] = policy(1000)
    assert not large(Repo.of(files).compile("dev"))


def test_a_limit_that_is_not_a_positive_number_is_refused_where_it_is_written():
    for value, reason in (("0", "greater than or equal to 1"), ('"1"', "a valid integer")):
        text = policy(0).replace("maxModelsPerUnit: 0", f"maxModelsPerUnit: {value}")
        result = Repo.of({**fleet(1), "policies/units.yaml": text}).check()
        assert not result.ok
        line = next(e for e in result.errors if "syncUnits.maxModelsPerUnit" in e)
        assert line.startswith("policies/units.yaml:4:")
        assert reason in line


PROJECT = "apiVersion: runwayc.dev/v1alpha1\nkind: Project\nenvironments: {dev: {}}\n"


def test_a_sharded_namespace_is_measured_per_shard():
    """Split in two, each shard holds what the hash gives it: the warning names the shard
    that is past the limit and asks for more shards than there are."""
    files = {**fleet(8), "policies/units.yaml": policy(3)}
    files["runway.yaml"] = PROJECT + "syncUnits: {shards: {team-a: 2}}\n"
    result = Repo.of(files).compile("dev")
    assert result.ok
    shards = {
        name.split("/")[0]: content.count(b"../team-a/")
        for name, content in result.files.items()
        if name.startswith("team-a.shard-")
    }
    assert sum(shards.values()) == 8
    over = sorted(unit for unit, count in shards.items() if count > 3)
    warned = sorted(d.message.split("(rendered/dev/")[1].split(")")[0] for d in large(result))
    assert over, shards  # 8 models over 2 shards: one holds more than 3
    assert warned == over
    assert all(d.message.startswith("shard ") for d in large(result))
    assert all("syncUnits.shards.team-a: 6 in runway.yaml" in d.message for d in large(result))
    files["runway.yaml"] = PROJECT + "syncUnits: {shards: {team-a: 8}}\n"
    assert not large(Repo.of(files).compile("dev"))


def test_a_shard_count_out_of_bounds_is_refused_where_it_is_written():
    for value, reason in (("0", "greater than or equal to 1"), ("257", "less than or equal")):
        text = PROJECT + f"syncUnits:\n  shards:\n    team-a: {value}\n"
        result = Repo.of({**fleet(1), "runway.yaml": text}).check()
        assert not result.ok
        line = next(e for e in result.errors if "syncUnits.shards.team-a" in e)
        assert line.startswith("runway.yaml:6:"), line
        assert reason in line


def test_a_shard_key_no_environment_uses_is_warned_by_check_at_its_line(tmp_path):
    """A misspelt namespace splits nothing: check over every environment says so where the
    key is written; a key some environment uses, or a check of one environment, says nothing."""
    project = PROJECT.replace("{dev: {}}", "{dev: {}, prod: {}}")
    text = project + "syncUnits:\n  shards:\n    team-a: 2\n    team-aa: 4\n"
    repo = Repo.of({**fleet(2), "runway.yaml": text})
    unused = [d for d in repo.check().diagnostics if d.code == "SYNC_UNIT_SHARDS_UNUSED"]
    assert [d.path for d in unused] == ["syncUnits.shards.team-aa"]
    assert unused[0].message.startswith(
        "syncUnits.shards names namespace team-aa, which no environment renders a "
        "ModelDeployment into, so nothing is split"
    )
    # At the key: the namespace name is what is misspelt.
    assert (unused[0].location.line, unused[0].location.column) == line_col(text, "team-aa")
    assert not [d for d in repo.check("dev").diagnostics if d.code == "SYNC_UNIT_SHARDS_UNUSED"]
    # The CLI's check reports it the same way.
    for name, content in {**fleet(2), "runway.yaml": text}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    result = run_cli("check", tmp_path)
    assert result.exit_code == 0, result.stderr
    line, column = line_col(text, "team-aa")
    warned = (
        f"runway.yaml:{line}:{column}: warning[SYNC_UNIT_SHARDS_UNUSED]: syncUnits.shards.team-aa: "
    )
    assert warned in result.stderr


def test_a_shard_key_that_is_no_namespace_is_refused_where_it_is_written():
    """The key becomes a directory name: a path, a shard's own spelling (which would make
    one namespace's shard another's unit), capitals or an over-long label never get that far."""
    for key in ("../etc", "team-a.shard-0", "Team-A", "a/b", "x" * 64):
        text = PROJECT + f"syncUnits:\n  shards:\n    '{key}': 2\n"
        result = Repo.of({**fleet(1), "runway.yaml": text}).check()
        assert not result.ok, key
        line = next(e for e in result.errors if "syncUnits.shards" in e)
        assert line.startswith("runway.yaml:6:"), line
