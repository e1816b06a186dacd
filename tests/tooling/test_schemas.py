"""Committed JSON Schemas match the models; the example repo validates against them."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from compiler.core.schema import json_schemas
from tests.conftest import QUICKSTART, ROOT, run_cli

SCHEMAS = ROOT / "schemas"


def test_committed_schemas_match_the_models():
    expected = json_schemas()
    committed = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert sorted(committed) == sorted(expected), "run `runwayc schema --out schemas/`"
    drifted = [name for name, text in expected.items() if committed[name] != text]
    assert not drifted, f"schemas drifted from their models: {drifted}; run `runwayc schema`"


def test_schema_command_writes_the_same_files(tmp_path):
    assert run_cli("schema", "--out", tmp_path).exit_code == 0
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == json_schemas()


def load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


@pytest.mark.parametrize(
    ("schema", "pattern"),
    [
        ("modeldeployment.schema.json", "deployments/**/*.yaml"),
        ("runway-yaml.schema.json", "runway.yaml"),
        ("runway-lock.schema.json", "runway.lock"),
    ],
)
def test_quickstart_files_validate(schema, pattern):
    validator = jsonschema.Draft202012Validator(load(schema))
    files = sorted(QUICKSTART.glob(pattern))
    assert files
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            errors = [e.message for e in validator.iter_errors(doc)]
            assert not errors, (path, errors)


@pytest.mark.parametrize(
    ("schema", "folder"),
    [("policy.schema.json", "policies"), ("overlay.schema.json", "overlays")],
)
def test_builtin_data_validates(schema, folder):
    validator = jsonschema.Draft202012Validator(load(schema))
    for path in sorted((ROOT / folder).glob("*.yaml")):
        if path.name == "providers.yaml":
            validator = jsonschema.Draft202012Validator(load("provider-catalog.schema.json"))
        else:
            validator = jsonschema.Draft202012Validator(load(schema))
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert not errors, (path, errors)


def test_schema_rejects_an_unknown_field():
    validator = jsonschema.Draft202012Validator(load("modeldeployment.schema.json"))
    doc = {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "m"},
        "spec": {"model": {"id": "a/b", "bogus": 1}},
    }
    assert any("bogus" in e.message for e in validator.iter_errors(doc))
