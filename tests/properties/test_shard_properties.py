"""A sharded namespace's units, for any model names and shard count: every shard is written,
each model is listed by exactly one of them (and by no namespace unit), and a model's shard
is the same whatever else the namespace holds."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from compiler.core.emit import App, hydrated_tree
from compiler.core.gitops.units import shard_of, shard_unit

names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


def tree(models: set[str], shards: int) -> dict[str, bytes]:
    apps = [App("team", name, f"deployments/{name}.yaml", b"kind: X\n") for name in models]
    return hydrated_tree("prod", apps, {"team": shards})


@given(st.sets(names, min_size=1, max_size=20), st.integers(min_value=2, max_value=12))
def test_each_model_is_listed_by_exactly_one_shard(models: set[str], shards: int) -> None:
    files = tree(models, shards)
    listed: dict[str, list[str]] = {}
    for k in range(shards):
        resources = yaml.safe_load(files[f"{shard_unit('team', k)}/kustomization.yaml"])
        for entry in resources["resources"]:
            listed.setdefault(entry, []).append(shard_unit("team", k))
    assert sorted(listed) == sorted(f"../team/{name}" for name in models)
    for name in models:
        assert listed[f"../team/{name}"] == [shard_unit("team", shard_of(name, shards))]
    own = yaml.safe_load(files["team/kustomization.yaml"])["resources"]
    assert own == ["namespace.yaml"]


@given(st.sets(names, min_size=2, max_size=20), st.integers(min_value=2, max_value=12))
def test_a_models_shard_does_not_depend_on_the_others(models: set[str], shards: int) -> None:
    alone = {name: tree({name}, shards) for name in sorted(models)[:3]}
    together = tree(models, shards)
    for name, files in alone.items():
        unit = next(p.split("/")[0] for p, c in files.items() if f"../team/{name}".encode() in c)
        assert f"../team/{name}".encode() in together[f"{unit}/kustomization.yaml"]
