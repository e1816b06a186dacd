"""runwayc's nesting bound is its own, whatever the parser installed.

libyaml 0.2.6 (in PyYAML 6.0.4) refuses more than 1,000 levels in its scanner, before it
produces an event; earlier releases have no cap and would recurse in C. The user gets the
same diagnostic either way: YAML_TOO_DEEP at the collection that opened level 65, found by
the walker for shallow-enough files, by the event scan for deep ones, and by PyYAML's
pure-Python parser where libyaml refuses. A stand-in libyaml with a cap lower than any
real release pins the mapping for a future version, too.
"""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler.core.load
from compiler.core.errors import LoadError
from compiler.core.load import LoadLimits, core_schema_tag, load_json, load_yaml, nesting_refusal

MESSAGE = "document nests deeper than 64 levels"


def flow_sequences(depth: int) -> str:
    return "[" * depth + "]" * depth


def flow_mappings(depth: int) -> str:
    return "{a: " * depth + "1" + "}" * depth


def block_mappings(depth: int) -> str:
    return "".join(" " * i + "a:\n" for i in range(depth)) + " " * depth + "x\n"


def compact_sequences(depth: int) -> str:
    return "- " * depth + "x\n"


# Where each shape opens its 65th collection (line, column), written out from the shape.
SHAPES = {
    "flow sequences": (flow_sequences, (1, 65)),
    "flow mappings": (flow_mappings, (1, 4 * 64 + 1)),
    "block mappings": (block_mappings, (65, 65)),
    "compact sequences": (compact_sequences, (1, 2 * 64 + 1)),
}


def refusals(text: str) -> list[tuple[str, int, int, str]]:
    result = load_yaml(text, "deep.yaml")
    return [(d.code, d.location.line, d.location.column, d.message) for d in result.diagnostics]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("depth", [65, 66, 999, 1000, 1001, 5_000])
def test_every_depth_past_the_bound_is_refused_at_level_65(shape, depth):
    make, (line, column) = SHAPES[shape]
    assert refusals(make(depth)) == [("YAML_TOO_DEEP", line, column, MESSAGE)]


@pytest.mark.parametrize("shape", SHAPES)
def test_the_bound_itself_is_allowed(shape):
    make, _ = SHAPES[shape]
    result = load_yaml(make(64), "deep.yaml")
    assert result.diagnostics == ()
    assert len(result.documents) == 1


def test_two_hundred_thousand_levels_are_refused_at_the_bound():
    assert refusals(flow_sequences(200_000)) == [("YAML_TOO_DEEP", 1, 65, MESSAGE)]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(SHAPES)), st.integers(1, 1_500), st.integers(0, 3))
def test_the_verdict_depends_on_depth_alone(shape, depth, leading_documents):
    make, (line, column) = SHAPES[shape]
    prefix = "a: 1\n---\n" * leading_documents
    found = refusals(prefix + make(depth))
    if depth <= 64:
        assert found == []
    else:
        assert found == [("YAML_TOO_DEEP", line + 2 * leading_documents, column, MESSAGE)]


class _CappedScanner(yaml.BaseLoader):
    """A libyaml of the future, as far as runwayc can tell: refuses past 100 levels."""

    CAP = 100

    def fetch_flow_collection_start(self, token_class):
        if self.flow_level >= self.CAP:
            raise yaml.scanner.ScannerError(
                "while increasing flow level",
                self.get_mark(),
                "exceeded maximum nesting depth",
                self.get_mark(),
            )
        super().fetch_flow_collection_start(token_class)

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and implicit[0]:
            return core_schema_tag(value)
        return super().resolve(kind, value, implicit)


@pytest.mark.parametrize("depth", [101, 500, 2_000])
def test_a_parser_cap_of_its_own_is_mapped_to_runwaycs_bound(monkeypatch, depth):
    with pytest.raises(yaml.scanner.ScannerError, match="exceeded maximum nesting depth"):
        list(yaml.compose_all(flow_sequences(depth), Loader=_CappedScanner))
    monkeypatch.setattr(compiler.core.load, "_CoreSchemaLoader", _CappedScanner)
    assert refusals(flow_sequences(depth)) == [("YAML_TOO_DEEP", 1, 65, MESSAGE)]


def test_a_syntax_error_after_a_shallow_start_keeps_the_parsers_words(monkeypatch):
    monkeypatch.setattr(compiler.core.load, "_CoreSchemaLoader", _CappedScanner)
    text = "a: [1, 2\nb: " + "x" * 80 + "\n"
    [(code, *_)] = refusals(text)
    assert code == "YAML_SYNTAX"


def test_a_refused_document_before_a_broken_one_is_reported_once():
    text = flow_sequences(100) + "\n---\na: [\n"
    codes = [code for code, *_ in refusals(text)]
    assert codes == ["YAML_TOO_DEEP", "YAML_SYNTAX"]


def test_the_bound_follows_the_limits():
    result = load_yaml(flow_sequences(11), "deep.yaml", LoadLimits(max_depth=10))
    [diagnostic] = result.diagnostics
    assert (diagnostic.code, diagnostic.location.column) == ("YAML_TOO_DEEP", 11)
    assert diagnostic.message == "document nests deeper than 10 levels"


@pytest.mark.parametrize("shape", SHAPES)
def test_nesting_refusal_is_the_loaders_diagnostic(shape):
    make, where = SHAPES[shape]
    refusal = nesting_refusal(make(3_000), "deep.yaml")
    assert refusal is not None
    assert (refusal.code, refusal.location.line, refusal.location.column) == (
        "YAML_TOO_DEEP",
        *where,
    )
    assert refusal == load_yaml(make(3_000), "deep.yaml").diagnostics[0]
    assert nesting_refusal(make(64), "deep.yaml") is None


# --- JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_deep_json_is_refused_at_the_bracket_that_crossed_the_bound(depth):
    text = '{"a": ' * 10 + "[" * (depth - 10) + "]" * (depth - 10) + "}" * 10
    with pytest.raises(LoadError) as caught:
        load_json(text, "recipe.json")
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.code, diagnostic.message) == ("YAML_TOO_DEEP", MESSAGE)
    assert (diagnostic.location.file, diagnostic.location.line) == ("recipe.json", 1)
    assert diagnostic.location.column == 6 * 10 + 55


def test_json_brackets_inside_strings_do_not_count():
    text = json.dumps({"a": "[" * 500, "b": ['{\\"[' * 100], "c": '\\"' + "{" * 100})
    assert load_json(text, "r.json") == json.loads(text)


def test_json_at_the_bound_loads_and_positions_count_lines():
    assert load_json("[" * 64 + "]" * 64, "r.json") == json.loads("[" * 64 + "]" * 64)
    with pytest.raises(LoadError) as caught:
        load_json("{\n" + '  "x":\n' + "[" * 70, "r.json")
    location = caught.value.diagnostics[0].location
    assert (location.line, location.column) == (3, 64)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300), st.text(alphabet='[]{}"\\ab', max_size=20))
def test_json_verdict_matches_the_decoded_depth(depth, noise):
    text = "[" * depth + json.dumps(noise) + "]" * depth
    if depth <= 64:
        assert load_json(text, "r.json") == json.loads(text)
    else:
        with pytest.raises(LoadError):
            load_json(text, "r.json")
