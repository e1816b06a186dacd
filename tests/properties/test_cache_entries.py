"""Cache entries are read from the user's disk: any text decodes to an outcome or to a miss,
never to an exception, and an encoded outcome decodes to itself."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.cache import decode, encode
from compiler.diagnostics import Diagnostic, Location, Severity
from compiler.lockfile import ProviderPin
from compiler.outcome import CompiledDeployment, SourceOutcome

text = st.text(max_size=20)
locations = st.builds(Location, text, st.integers(0, 10**6), st.integers(0, 10**6))
deployments = st.builds(
    CompiledDeployment,
    namespace=text,
    name=text,
    lock_key=text,
    source=text,
    provider=st.none() | st.builds(ProviderPin, name=text, reason=text),
    image=st.none() | text,
    image_is_default=st.booleans(),
    component_images=st.lists(text, max_size=3).map(tuple),
    name_location=st.none() | locations,
    manifest=text.map(str.encode),
    lock_digest=text,
)
diagnostics = st.builds(Diagnostic, st.sampled_from(list(Severity)), text, text, locations, text)
outcomes = st.builds(
    SourceOutcome,
    st.lists(deployments, max_size=3).map(tuple),
    st.lists(diagnostics, max_size=3).map(tuple),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(outcomes)
def test_an_entry_decodes_to_its_outcome_and_stays_one_line(outcome: SourceOutcome) -> None:
    entry = encode(outcome)
    assert "\n" not in entry
    assert decode(entry) == outcome


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), json_values.map(json.dumps)))
def test_any_text_is_an_outcome_or_a_miss(entry: str) -> None:
    outcome = decode(entry)
    assert outcome is None or isinstance(outcome, SourceOutcome)
