"""Every command that prints a table prints its rows as JSON with `--format json` (issue 26):
the same rows as the table, raw values, keys that do not move."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.helpers import md_yaml
from tests.recipes.conftest import recipe_cli, recipes_server  # noqa: F401 - a fixture

IMAGE_KEYS = [
    "reference",
    "source",
    "digest",
    "resolvedAt",
    "ageSeconds",
    "usedBy",
    "unpinnedReason",
]


def test_images_json_carries_the_tables_rows(quickstart):
    table = run_cli("images", quickstart)
    as_json = run_cli("images", quickstart, "--format", "json")
    assert as_json.exit_code == table.exit_code == 0
    doc = json.loads(as_json.stdout)
    assert list(doc) == ["images", "diagnostics"]
    assert doc["diagnostics"] == []
    rows = [line.split() for line in table.stdout.splitlines()[1:] if line]
    assert [list(image) for image in doc["images"]] == [IMAGE_KEYS] * len(rows)
    for image, row in zip(doc["images"], rows, strict=True):
        reference, source, digest, age = row[:4]
        assert (image["reference"], image["source"], image["digest"]) == (
            reference,
            source,
            digest,
        )
        assert age == f"{image['ageSeconds'] // 86400}d"
        assert ", ".join(image["usedBy"]) == " ".join(row[4:])
        assert image["unpinnedReason"] is None
        assert image["resolvedAt"].endswith("Z")


def test_images_json_says_why_an_image_is_unpinned(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    (image,) = json.loads(run_cli("images", repo, "--format", "json").stdout)["images"]
    assert image["digest"] is None
    assert image["resolvedAt"] is None
    assert image["ageSeconds"] is None
    assert image["usedBy"] == ["deployments/a.yaml"]
    assert image["unpinnedReason"] == "no digest pin in runway.lock; run `runwayc lock`"


def test_images_json_holds_the_errors_and_exits_1(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml(), "runway.lock": "[]\n"})
    result = run_cli("images", repo, "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [d["code"] for d in doc["diagnostics"]] == ["LOCK_MALFORMED"]
    assert result.stderr == ""


def test_recipe_list_json_carries_the_listed_models(quickstart, recipes_server):  # noqa: F811
    text = recipe_cli("list", quickstart, recipes_server)
    as_json = recipe_cli("list", quickstart, recipes_server, "--format", "json")
    assert as_json.exit_code == text.exit_code == 0
    models = json.loads(as_json.stdout)
    assert [list(m) for m in models] == [["model", "title", "provider", "url"]] * len(models)
    assert [f"{m['model']}\t{m['title'] or ''}" for m in models] == text.stdout.splitlines()
    filtered = recipe_cli("list", quickstart, recipes_server, "--filter", "phi", "--format", "json")
    assert [m["model"] for m in json.loads(filtered.stdout)] == ["microsoft/Phi-4-mini-instruct"]


@pytest.mark.parametrize("command", [["images"], ["recipe", "list"]], ids=" ".join)
def test_an_unknown_table_format_is_a_usage_error(quickstart, command):
    result = run_cli(
        *command, "--format", "yaml", *(["-C", quickstart] if len(command) > 1 else [quickstart])
    )
    assert result.exit_code == 2
    assert "'yaml' is not one of 'text', 'json'" in result.stderr
