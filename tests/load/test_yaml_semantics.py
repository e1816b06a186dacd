"""The loader reads YAML 1.2's core schema, as the Kubernetes API does, with positions."""

from __future__ import annotations

import pytest

from compiler.core.load import load_yaml


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", "yes"),
        ("on", "on"),
        ("No", "No"),
        ("true", True),
        ("FALSE", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("0777", 777),
        ("0o17", 15),
        ("0x1F", 31),
        ("-12", -12),
        ("1.5e3", 1500.0),
        ("2024-01-01", "2024-01-01"),
        ("'12'", "12"),
        ('"true"', "true"),
        ("!!str 12", "12"),
        ("!!int '7'", 7),
        ("1_000", "1_000"),
    ],
)
def test_core_schema_scalars(text, value):
    result = load_yaml(f"a: {text}\n", "x.yaml")
    assert not result.diagnostics
    assert result.documents[0].data == {"a": value}


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("a: &x {b: 1}\nc:\n  <<: *x\n",
         "merge keys (<<) are not supported; write the keys out", 3, 3),
        ("a: !!binary aGk=\n", "unsupported YAML tag 'tag:yaml.org,2002:binary'", 1, 4),
        ("? [1]\n: 2\n", "mapping keys must be strings; quote the key", 1, 3),
        ("a: .inf\n", "non-finite number '.inf'", 1, 4),
        ("a: !Ref x\n", "unsupported YAML tag '!Ref'", 1, 4),
    ],
)  # fmt: skip
def test_refused_constructs_name_the_place(text, message, line, column):
    (diagnostic,) = load_yaml(text, "x.yaml").diagnostics
    assert diagnostic.message == message
    assert (diagnostic.location.line, diagnostic.location.column) == (line, column)


def test_positions_of_keys_and_items():
    doc = load_yaml("spec:\n  args:\n    - --a\n    - --b\n", "x.yaml").documents[0]
    assert doc.location(("spec", "args")).line == 2
    assert (doc.location(("spec", "args", 1)).line, doc.location(("spec", "args", 1)).column) == (
        4,
        7,
    )
    assert doc.location(("spec", "missing", "deeper")).line == 1  # nearest existing ancestor
