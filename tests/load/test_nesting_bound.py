"""The cheap nesting bound that decides whether a file needs the event-stream depth scan.

If the bound ever under-estimated, a deep file would reach libyaml's recursive composer
unscanned; so it is checked against the parser's own events on YAML written every way a
person or an emitter nests: block, compact (`- - x`), zero-indented sequences, flow, mixed.
"""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.core.load import _CoreSchemaLoader, _nesting_bound

scalars = st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none())
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=4), children, min_size=1, max_size=3),
    ),
    max_leaves=40,
)


def event_depth(text: str) -> int:
    loader = _CoreSchemaLoader(text)
    depth = deepest = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                deepest = max(deepest, depth)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    finally:
        loader.dispose()
    return deepest


@settings(max_examples=300)
@given(trees, st.integers(1, 4), st.sampled_from([None, False, True]), st.booleans())
def test_bound_is_never_below_the_real_depth(tree, indent, flow, zero_indent_sequences):
    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, zero_indent_sequences and indentless)

    text = yaml.dump(tree, Dumper=Dumper, indent=indent, default_flow_style=flow, width=10**6)
    assert event_depth(text) <= _nesting_bound(text)


def test_compact_nesting_on_one_line_is_bounded_by_the_line():
    text = "- " * 300 + "x\n"
    assert event_depth(text) == 300
    assert _nesting_bound(text) >= 300


def test_a_large_flat_lock_file_stays_under_the_scan_threshold():
    lines = [f"  team-{i}/md-{i}:\n    name: vllm\n    reason: explicit" for i in range(5000)]
    text = "providers:\n" + "\n".join(lines) + "\n"
    assert _nesting_bound(text) < 100
