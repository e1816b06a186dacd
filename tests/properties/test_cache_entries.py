"""Cache entries are read from the user's disk: any entry decodes to an outcome or to a miss,
never to an exception, and an encoded outcome decodes to itself."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.core.cache import (
    Entry,
    LockDigests,
    decode,
    decode_lock,
    encode,
    encode_lock,
    format_shard,
    lock_memo_key,
    parse_shard,
)
from compiler.core.diagnostics import Diagnostic, Location, Severity
from compiler.core.load import LoadLimits
from compiler.core.lockfile import ImagePin, LockFile, ProviderPin, RecordedVolume, UpdateRecord
from compiler.core.outcome import CompiledDeployment, SourceOutcome

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
def test_an_entry_decodes_to_its_outcome(outcome: SourceOutcome) -> None:
    entry = encode(outcome)
    assert "\n" not in entry.meta  # one line of JSON, whatever the strings hold
    lengths = [d["manifestLength"] for d in json.loads(entry.meta)["deployments"]]
    assert lengths == [len(d.manifest) for d in outcome.deployments]
    # The outcome's own bytes, not copies: a fleet's manifests are in memory once.
    assert all(m is d.manifest for m, d in zip(entry.manifests, outcome.deployments, strict=True))
    decoded = decode(entry)
    assert decoded == outcome
    assert decoded is not None
    assert all(d.manifest is m for d, m in zip(decoded.deployments, entry.manifests, strict=True))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(), json_values.map(json.dumps)),
    st.lists(st.binary(max_size=8), max_size=2).map(tuple),
)
def test_any_entry_is_an_outcome_or_a_miss(meta: str, manifests: tuple[bytes, ...]) -> None:
    outcome = decode(Entry(meta, manifests))
    assert outcome is None or isinstance(outcome, SourceOutcome)


@settings(max_examples=200, deadline=None)
@given(outcomes, st.integers(-2, 2), st.binary(min_size=1, max_size=3))
def test_an_entry_with_a_wrong_length_an_extra_manifest_or_bytes_not_utf8_is_a_miss(
    outcome: SourceOutcome, shift: int, extra: bytes
) -> None:
    entry = encode(outcome)
    meta = json.loads(entry.meta)
    if meta["deployments"] and shift:
        meta["deployments"][-1]["manifestLength"] += shift
        assert decode(Entry(json.dumps(meta), entry.manifests)) is None
    assert decode(Entry(entry.meta, (*entry.manifests, extra))) is None
    if entry.manifests:
        damaged = b"\xff" + entry.manifests[-1][1:] if entry.manifests[-1] else b""
        if damaged:
            assert decode(Entry(entry.meta, (*entry.manifests[:-1], damaged))) is None


keys = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, outcomes.map(encode), max_size=4))
def test_a_shard_reads_back_its_entries(entries: dict[str, Entry]) -> None:
    data = format_shard(entries)
    assert parse_shard(data, "") == entries
    for prefix in {key[:2] for key in entries}:
        assert parse_shard(data, prefix) == {k: e for k, e in entries.items() if k[:2] == prefix}


raw_entries = st.builds(Entry, st.text(), st.lists(st.binary(), max_size=2).map(tuple))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, raw_entries, max_size=3), st.integers(0, 400), st.binary(max_size=30))
def test_a_damaged_shard_keeps_only_whole_entries(
    entries: dict[str, Entry], cut: int, junk: bytes
) -> None:
    """A shard cut short reads as some of its entries, whole; with anything appended or
    prepended it still reads without an error (an entry that a cut and the junk after it
    happen to frame is caught by `decode`, which checks every length again)."""
    data = format_shard(entries)
    header, _, frames = data.partition(b"\n")
    head, _, after = frames.partition(b"\n")
    misframed = data
    if frames:  # the first entry's JSON line said to be longer than it is
        key, first, *others = head.split(b" ")
        grown = str(int(first) + 1 + cut % 5).encode()
        misframed = b"\n".join([header, b" ".join([key, grown, *others]), after])
    for damaged in (data[:cut], misframed):
        found = parse_shard(damaged, "")
        assert all(entries.get(key) == entry for key, entry in found.items())
    for damaged in (data[:cut] + junk, junk + data):
        assert parse_shard(damaged, "").keys() <= entries.keys()


optional = st.none() | text
image_pins = st.builds(
    ImagePin,
    requested=text,
    repository=text,
    tag=optional,
    digest=st.none() | st.just("sha256:" + "0" * 64),
    resolved=optional,
    source=optional,
    resolved_at=optional,
    unresolved_reason=optional,
)


def _volume(**fields: Any) -> RecordedVolume:
    return RecordedVolume(**fields)


def _record(**fields: Any) -> UpdateRecord:
    return UpdateRecord(**fields)


# Through functions: once pydantic has built a model, its signature names the camelCase
# aliases, and st.builds would add an inferred `claimName` beside the given `claim_name`.
volumes = st.builds(
    _volume,
    name=text,
    claim_name=text,
    mount_path=text,
    purpose=text,
    read_only=st.booleans(),
    access_mode=text,
    storage_class_name=optional,
    size=text,
)
update_records = st.builds(
    _record,
    model_id=text,
    model_source=text,
    engine_type=optional,
    serving_mode=text,
    managed_volumes=st.lists(volumes, max_size=2),
)
provider_pins = st.builds(
    ProviderPin,
    name=text,
    reason=text,
    engine=st.none() | st.sampled_from(["vllm", "sglang"]),
    engine_reason=optional,
    immutable=st.none() | update_records,
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(image_pins, provider_pins))
def test_a_pins_digest_text_is_its_json_dump(pin: ImagePin | ProviderPin) -> None:
    """LockDigests serialises a pin's __dict__, nested; that must stay the model's own JSON
    dump, or cached outcomes would be checked against the wrong text."""
    expected = json.dumps(pin.model_dump(mode="json"), sort_keys=True)
    assert LockDigests(LockFile.empty())._pin_text(pin) == expected


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(text, provider_pins, max_size=3),
    st.dictionaries(text, image_pins, max_size=3),
    st.text(max_size=10),
)
def test_a_lock_memo_reads_back_only_under_its_own_key(
    providers: dict[str, ProviderPin], images: dict[str, ImagePin], other: str
) -> None:
    lock = LockFile(version=1, providers=providers, images=images)
    key = lock_memo_key("code", LoadLimits(), "text")
    memo = encode_lock(key, lock)
    assert decode_lock(memo, key) == lock
    assert decode_lock(memo, lock_memo_key("code", LoadLimits(), "text" + other + "!")) is None
