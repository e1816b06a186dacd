"""Incremental compiles: source-file outcomes keyed by content hashes (pure).

An entry's key hashes everything a source file's outcome can depend on except runway.lock:
the compiler's own code (a fingerprint the edge supplies), the options, every configuration
text (catalog, policies, runway.yaml, overlay) and the file's path and text. runway.lock is
left out of the key on purpose, because one new pin would otherwise invalidate every entry;
instead each compiled ModelDeployment records a digest of the lock entries it read, and the
entry is reused only while those entries are unchanged. A pull request that touches one
model therefore compiles one model.

An entry is one line of JSON (everything but the manifests, each deployment giving its
manifest's length) and the manifests as they are: decoding the JSON string of a 5 KB manifest
was most of the cost of a hit (10,000 hits: 0.19 s of 0.23 s). The manifests are kept as the
very bytes objects the compiled deployments hold, read from the shard once: an entry made by
a compile shares them with its outcome, and a hit hands them to its outcome, so a
10,000-model fleet's 46 MB of manifests is in memory once rather than twice (once in the
entry's text and once as the outcome's bytes). Each entry is kept as it was read: a hit is
passed through to the next cache file as that same object, so storing a 10,000-entry cache
after a one-model change encodes one entry, not 10,000. The cache lives on the user's disk but
is still treated as input that can be damaged: anything that does not decode exactly is a
miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast, get_args

from compiler.core.diagnostics import Diagnostic, Location, Severity
from compiler.core.lockfile import ImagePin, LockFile, ProviderPin, UpdateRecord
from compiler.core.model import EngineType
from compiler.core.outcome import CompiledDeployment, SourceOutcome

CACHE_FORMAT = 5


@dataclass(frozen=True, slots=True)
class Entry:
    """One source file's stored outcome: a line of JSON (everything but the manifests) and
    the manifests, in the order of its deployments."""

    meta: str
    manifests: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class CacheView:
    """What the edge read from one environment's cache, for a compile to look things up in;
    the compile never changes it."""

    entries: Mapping[str, Entry]  # key -> entry, exactly as read (see `lookup`)
    code: str  # the fingerprint of the compiler's own code, supplied by the edge
    lock_memo: str | None = None  # the memo of runway.lock the last compile left, if any


@dataclass(frozen=True, slots=True)
class CacheUpdate:
    """What a compile would store: the entries of this compile's keys, and the lock memo.

    A hit keeps the very Entry object the view held, so the edge can tell an unchanged shard
    by comparing the entries with the view's (mostly identity checks) and leave it alone;
    only what was compiled now is a new entry."""

    entries: dict[str, Entry]
    lock_memo: str | None  # None: nothing worth keeping
    reused: int  # how many source files were answered by the view


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def settings_fingerprint(
    texts: Iterable[tuple[str, str]], code: str, options: Iterable[str]
) -> str:
    """One hash of the compiler code, the options and every (path, text) of configuration."""
    parts = [f"format={CACHE_FORMAT}", code, *options]
    for path, text in texts:
        parts += [path, text]
    return _digest(parts)


def entry_key(fingerprint: str, path: str, text: str) -> str:
    return _digest([fingerprint, path, text])


def lock_memo_key(code: str, limits: object, text: str) -> str:
    """What a parsed runway.lock depends on: the code that parsed it, the load limits it was
    held to, and its text."""
    return _digest([f"format={CACHE_FORMAT}", "runway.lock", code, repr(limits), text])


def encode_lock(key: str, lock: LockFile) -> str:
    """The memo of a runway.lock that parsed without a diagnostic: its model as JSON, which
    reads back about twenty times faster than the YAML (10,000 pins: 0.5 s of YAML)."""
    entry = {"key": key, "lock": lock.model_dump(mode="json", by_alias=True, exclude_none=True)}
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def decode_lock(text: str, key: str) -> LockFile | None:
    """The memo's lock if it was made for exactly `key`, else None (damage is a miss too: the
    lock is validated again, as strictly as from YAML)."""
    try:
        entry = json.loads(text)
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return LockFile.model_validate(entry.get("lock"))
    except (ValueError, RecursionError):  # pydantic's ValidationError is a ValueError
        return None


def lock_digest(lock: LockFile, lock_key: str, images: Sequence[str]) -> str:
    """Digest of the lock entries one ModelDeployment reads: its provider and image pins."""
    return LockDigests(lock).of(lock_key, images)


class LockDigests:
    """`lock_digest` for many ModelDeployments of one lock: each image pin, which thousands
    of models share, is serialised once."""

    def __init__(self, lock: LockFile) -> None:
        self.lock = lock
        self._images: dict[str, str] = {}

    def _pin_text(self, pin: ImagePin | ProviderPin | None) -> str:
        # A pin's fields are str, bool or None but for a provider pin's update record (a
        # model holding a list of models of those), so its __dict__, with the record's
        # spelled out, is the JSON model_dump would build (pinned by a test), at a fraction
        # of the cost: a compile of 10,000 models serialises 10,000 provider pins.
        if pin is None:
            return "null"
        fields: dict[str, Any] = pin.__dict__
        record = fields.get("immutable")
        if record is not None:
            volumes = [volume.__dict__ for volume in record.managed_volumes]
            fields = {**fields, "immutable": {**record.__dict__, "managed_volumes": volumes}}
        return json.dumps(fields, sort_keys=True)

    def of(self, lock_key: str, images: Sequence[str]) -> str:
        parts = [self._pin_text(self.lock.providers.get(lock_key))]
        for image in images:
            text = self._images.get(image)
            if text is None:
                text = self._images[image] = self._pin_text(self.lock.images.get(image))
            parts.append(text)
        return _digest(parts)


def still_valid(outcome: SourceOutcome, digests: LockDigests) -> bool:
    return all(d.lock_digest == digests.of(d.lock_key, d.images) for d in outcome.deployments)


# --- JSON ------------------------------------------------------------------------------------


def _location_json(loc: Location) -> list[Any]:
    return [loc.file, loc.line, loc.column]


def encode(outcome: SourceOutcome) -> Entry:
    """An outcome's entry: a line of JSON (which escapes every control character) and the
    manifests it gives the lengths of, the outcome's own bytes."""
    manifests = tuple(d.manifest for d in outcome.deployments)
    entry = {
        "diagnostics": [
            [str(d.severity), d.code, d.message, _location_json(d.location), d.path]
            for d in outcome.diagnostics
        ],
        "deployments": [
            {
                "namespace": d.namespace,
                "name": d.name,
                "lockKey": d.lock_key,
                "source": d.source,
                "provider": (
                    [
                        d.provider.name,
                        d.provider.reason,
                        d.provider.engine,
                        d.provider.engine_reason,
                    ]
                    if d.provider
                    else None
                ),
                "updateRecord": (
                    d.provider.immutable.model_dump(mode="json")
                    if d.provider and d.provider.immutable
                    else None
                ),
                "image": d.image,
                "imageIsDefault": d.image_is_default,
                "componentImages": list(d.component_images),
                "nameLocation": _location_json(d.name_location) if d.name_location else None,
                "manifestLength": len(manifest),
                "lockDigest": d.lock_digest,
            }
            for d, manifest in zip(outcome.deployments, manifests, strict=True)
        ],
    }
    return Entry(json.dumps(entry, ensure_ascii=False, separators=(",", ":")), manifests)


class _Undecodable(Exception):
    pass


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _Undecodable
    return value


def _str_tuple(value: Any) -> tuple[str, ...]:
    if type(value) is not list:
        raise _Undecodable
    return tuple(_str(item) for item in value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise _Undecodable
    return value


def _length(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise _Undecodable
    return value


def _location(value: Any) -> Location:
    if type(value) is not list or len(value) != 3:
        raise _Undecodable
    return Location(_str(value[0]), _int(value[1]), _int(value[2]))


def _diagnostic(value: Any) -> Diagnostic:
    if type(value) is not list or len(value) != 5:
        raise _Undecodable
    severity, code, message, location, path = value
    if severity not in ("error", "warning"):
        raise _Undecodable
    return Diagnostic(
        Severity(severity), _str(code), _str(message), _location(location), _str(path)
    )


def _deployment(value: dict[str, Any], manifest: bytes) -> CompiledDeployment:
    provider = value.get("provider")
    pin = None
    if provider is not None:
        if type(provider) is not list or len(provider) != 4:
            raise _Undecodable
        engine = _opt_str(provider[2])
        if engine not in (None, *get_args(EngineType)):
            raise _Undecodable
        record = value.get("updateRecord")
        pin = ProviderPin(
            name=_str(provider[0]),
            reason=_str(provider[1]),
            engine=cast("EngineType | None", engine),
            engine_reason=_opt_str(provider[3]),
            immutable=None if record is None else UpdateRecord.model_validate(record),
        )
    is_default = value.get("imageIsDefault")
    if type(is_default) is not bool:
        raise _Undecodable
    where = value.get("nameLocation")
    return CompiledDeployment(
        namespace=_str(value.get("namespace")),
        name=_str(value.get("name")),
        lock_key=_str(value.get("lockKey")),
        source=_str(value.get("source")),
        provider=pin,
        image=_opt_str(value.get("image")),
        image_is_default=is_default,
        component_images=_str_tuple(value.get("componentImages")),
        name_location=None if where is None else _location(where),
        manifest=manifest,
        lock_digest=_str(value.get("lockDigest")),
    )


def decode(entry: Any) -> SourceOutcome | None:
    """An outcome from its entry, or None when the entry is damaged in any way."""
    try:
        if type(entry) is not Entry or type(entry.meta) is not str:
            raise _Undecodable
        value = json.loads(entry.meta)
        if type(value) is not dict:
            raise _Undecodable
        diagnostics = value.get("diagnostics")
        deployments = value.get("deployments")
        manifests = entry.manifests
        if type(diagnostics) is not list or type(deployments) is not list:
            raise _Undecodable
        if type(manifests) is not tuple or len(manifests) != len(deployments):
            raise _Undecodable
        compiled = []
        for deployment, manifest in zip(deployments, manifests, strict=True):
            if type(deployment) is not dict or type(manifest) is not bytes:
                raise _Undecodable
            # The length in the JSON and the shard's frame must agree, and the bytes are
            # UTF-8 (ASCII, the common case, is checked without decoding).
            if _length(deployment.get("manifestLength")) != len(manifest):
                raise _Undecodable
            if not manifest.isascii():
                manifest.decode("utf-8")
            compiled.append(_deployment(deployment, manifest))
        return SourceOutcome(tuple(compiled), tuple(_diagnostic(d) for d in diagnostics))
    except (_Undecodable, ValueError, RecursionError):
        return None


def lookup(entries: Mapping[str, Entry], key: str, digests: LockDigests) -> SourceOutcome | None:
    outcome = decode(entries.get(key)) if key in entries else None
    if outcome is None or not still_valid(outcome, digests):
        return None
    return outcome


# --- shards ------------------------------------------------------------------------------------

# The cache of one environment is a directory of shards, `<xx>.entries` holding the entries
# whose key starts with the hex digits xx: a header line, then per entry a frame line
# "<key> <meta length> <manifest length>...\n" (lengths in bytes), then the entry's JSON line
# and each of its manifests, each followed by "\n". An entry holds manifests, newlines and
# all, so it is framed by lengths rather than by lines, and the frame gives each manifest's,
# so a shard is split into entries without parsing any JSON. A compile rewrites only the
# shards whose entries changed, so storing a 10,000-entry cache after a one-model change
# writes two small files, not 50 MB.
SHARD_HEADER = json.dumps({"format": CACHE_FORMAT}).encode("ascii")
SHARD_PREFIX = re.compile(r"[0-9a-f]{2}")
_ENTRY_HEAD = re.compile(rb"([0-9a-f]{64})((?: [0-9]{1,12})+)\n")


def format_shard(entries: Mapping[str, Entry]) -> bytes:
    """A shard's bytes: its header, then each entry framed by its key and lengths, by key."""
    parts = [SHARD_HEADER, b"\n"]
    for key, entry in sorted(entries.items()):
        meta = entry.meta.encode("utf-8")
        lengths = " ".join(str(len(part)) for part in (meta, *entry.manifests))
        parts += [f"{key} {lengths}\n".encode("ascii"), meta, b"\n"]
        for manifest in entry.manifests:
            parts += [manifest, b"\n"]
    return b"".join(parts)


def parse_shard(data: bytes, prefix: str) -> dict[str, Entry]:
    """The entries of a shard whose keys start with `prefix`. A foreign header is an empty
    shard; a frame that does not hold (a damaged length, a file cut short) ends it, so a shard
    cut short loses its last entry, not the others. An entry whose JSON line is not UTF-8 is
    left out."""
    entries: dict[str, Entry] = {}
    end_of_header = data.find(b"\n")
    if end_of_header < 0 or data[:end_of_header] != SHARD_HEADER:
        return entries
    wanted = prefix.encode("ascii")
    position = end_of_header + 1
    while (head := _ENTRY_HEAD.match(data, position)) is not None:
        lengths = [int(length) for length in head.group(2).split()]
        start = head.end()
        bounds = []
        for length in lengths:
            end = start + length
            if data[end : end + 1] != b"\n":
                return entries
            bounds.append((start, end))
            start = end + 1
        position = start
        if head.group(1).startswith(wanted):
            try:
                meta = data[bounds[0][0] : bounds[0][1]].decode("utf-8")
            except UnicodeDecodeError:
                continue
            manifests = tuple(data[first:last] for first, last in bounds[1:])
            entries[head.group(1).decode("ascii")] = Entry(meta, manifests)
    return entries


def by_shard(entries: Mapping[str, Entry]) -> dict[str, dict[str, Entry]]:
    """`entries` grouped by shard prefix (a key that names no shard is left out)."""
    shards: dict[str, dict[str, Entry]] = {}
    for key, entry in entries.items():
        if SHARD_PREFIX.fullmatch(key[:2]):
            shards.setdefault(key[:2], {})[key] = entry
    return shards
