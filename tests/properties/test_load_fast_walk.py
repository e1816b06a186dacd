"""Loading without recording positions changes nothing a user sees (issue 27).

`load_yaml` turns each composed document into data without paths or positions, and finds
positions only when a diagnostic asks; anything the position-recording walker would refuse
sends the document through that walker, which says what and where. Here every text is loaded
both ways, the old way being the walker alone: the same data, the same diagnostics (codes,
messages, positions, paths) and the same position of every node.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.core import load
from compiler.core.load import LoadLimits, load_yaml


def _walker_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def unsure(root: Any, limits: LoadLimits) -> Any:
        raise load._Unsure

    monkeypatch.setattr(load, "_data", unsure)


def _seen(text: str, limits: LoadLimits) -> tuple[Any, ...]:
    result = load_yaml(text, "f.yaml", limits)
    documents = []
    for doc in result.documents:
        # Where every node is, asked before and after the positions are all found, and
        # where paths that are not in the document fall back to.
        probes = [("metadata", "name"), ("metadata", "zz"), ("zz",), ("zz", "y"), (0,), ()]
        early = [doc.location(path) for path in probes]
        positions = dict(doc.positions)
        probes += [(*path, "zz") for path in positions] + [(*path, 9) for path in positions]
        late = [doc.location(path) for path in [*positions, *probes]]
        documents.append((doc.index, doc.data, positions, early, late))
    return tuple(documents), result.diagnostics


# YAML fragments near every check the walker makes: tags, merge keys, non-string and
# duplicate keys, aliases, huge integers, non-finite floats, depth, core-schema scalars.
fragments = st.sampled_from(
    ["a: 1", "a: yes", "a: ~", "a: 0o17", "a: 0x1F", "a: 1_000", "a: .inf", "a: -.inf",
     "a: .nan", "a: 1e400", "a: !!str 12", "a: !!int '7'", "a: !Ref x", "a: !!python/none",
     "<<: {b: 1}", "1: one", "? [x]\n: y", "a: 1\na: 2", "a: &x [1, 2]\nb: *x", "a: " + "9" * 4301,
     "a: [[[[[[1]]]]]]", "a:\n  - b: {c: [d, {e: f}]}", "- 1\n- two\n- {three: 3}", "plain",
     "'quoted'", "a: 'b'\nc: \"d\"", "a: !!map {b: 1}", "a: !!seq [1]", "a: !!float 1",
     "a: null\nb: Null\nc: NULL", "a: TRUE\nb: False", "a: 2024-01-01", "{a: 1, a: 2}",
     "metadata: {name: m, labels: {x: y}}", "metadata:\n  name: m\n  n: [1]", "metadata: [m]",
     "metadata: m", "- metadata: {name: m}"]
)  # fmt: skip
documents = st.lists(fragments, min_size=1, max_size=4).map("\n".join)
texts = st.lists(documents, min_size=1, max_size=3).map("\n---\n".join)
limits = st.sampled_from([LoadLimits(), LoadLimits(max_nodes=6), LoadLimits(max_depth=3)])


@settings(max_examples=400, deadline=None)
@given(texts, limits)
def test_fast_load_is_the_walkers_load(text: str, bound: LoadLimits) -> None:
    fast = _seen(text, bound)
    with pytest.MonkeyPatch.context() as patch:
        _walker_only(patch)
        assert fast == _seen(text, bound)


data = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats()),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(data, st.booleans())
def test_fast_load_of_dumped_data_is_the_walkers_load(value: Any, flow: bool) -> None:
    text = yaml.safe_dump_all([value, {"k": value}], default_flow_style=flow)
    fast = _seen(text, LoadLimits())
    with pytest.MonkeyPatch.context() as patch:
        _walker_only(patch)
        assert fast == _seen(text, LoadLimits())


def test_positions_are_found_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[int] = []
    walk = load._Walker.walk

    def counted(self: Any, node: Any, path: Any, depth: int) -> Any:
        walks.append(depth)
        return walk(self, node, path, depth)

    monkeypatch.setattr(load._Walker, "walk", counted)
    result = load_yaml("a: 1\n---\nb: [x, y]\n", "f.yaml")
    assert [d.data for d in result.documents] == [{"a": 1}, {"b": ["x", "y"]}]
    assert walks == []  # loading recorded no position
    assert result.documents[1].location(("b", 1)).line == 3
    assert result.documents[0].location(("a",)).column == 1
    assert walks  # asked: found, with the walker's own answer


def test_where_metadata_name_is_needs_no_second_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every compile asks it of every ModelDeployment: composing the text again for it made
    # loading without positions slower than recording them.
    text = "apiVersion: v1\nmetadata:\n  name: m\n  namespace: n\nspec:\n  a: [1]\n"
    walked = load_yaml(text, "f.yaml", LoadLimits())
    with pytest.MonkeyPatch.context() as patch:
        _walker_only(patch)
        reference = load_yaml(text, "f.yaml", LoadLimits()).documents[0]
    composed: list[str] = []
    compose = load._compose_all

    def counted(source: str) -> Any:
        composed.append(source)
        return compose(source)

    monkeypatch.setattr(load, "_compose_all", counted)
    doc = walked.documents[0]
    for path in [("metadata", "name"), ("metadata",), ("spec",), (), ("metadata", "labels")]:
        assert doc.location(path) == reference.location(path)
    assert composed == []
    assert doc.location(("spec", "a", 0)) == reference.location(("spec", "a", 0))
    assert composed == [text]
