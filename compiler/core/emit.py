"""Rendered objects to deterministic bytes and the hydrated tree layout.

Kinds are ordered by one rank table (lightkube's RANK_ORDER idea: what others depend on comes
first), keys in the conventional order (apiVersion, kind, metadata, spec, then the rest
sorted), and YAML is written by libyaml's emitter when present: ruamel's pure-Python emitter
is an order of magnitude slower and emission is the hot path of a fleet compile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from compiler.core.gitops import hydrate, units
from compiler.core.kube import KubeObject

# The one table that orders kinds in a manifest; anything unlisted goes last, by kind name.
RANK_ORDER: tuple[str, ...] = (
    "CustomResourceDefinition",
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
)
_RANK = {kind: index for index, kind in enumerate(RANK_ORDER)}
_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")
_META_KEYS = ("name", "namespace", "labels", "annotations")

_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[misc,valid-type]
    """libyaml's emitter, with plain-scalar resolution memoised.

    The emitter asks, for every scalar, whether its plain form would read back as a string;
    the answer depends on the text alone, and a fleet's manifests repeat the same few
    thousand strings hundreds of thousands of times.
    """

    _scalar_tags: ClassVar[dict[tuple[str, bool, bool], str]] = {}

    def resolve(self, kind: type, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit[0], implicit[1])
        tag = self._scalar_tags.get(key)
        if tag is None:
            tag = self._scalar_tags[key] = super().resolve(kind, value, implicit)
        return tag


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_FALLBACK = yaml.representer.SafeRepresenter()


def object_sort_key(obj: Mapping[str, Any]) -> tuple[int, str, str, str]:
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    return (
        _RANK.get(kind, len(RANK_ORDER)),
        kind,
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def _node(value: Any, top: tuple[str, ...] = ()) -> Node:
    """The YAML node of `value`, mapping keys in a fixed order: `top` first, then sorted.

    Built directly rather than through PyYAML's representer: the representer's generic
    dispatch and alias bookkeeping were most of a fleet compile's time, and manifests hold
    only JSON types. Every node is a fresh object, so the emitter never writes an alias.
    """
    kind = type(value)
    if kind is str:
        return ScalarNode(_STR, value)
    if kind is dict:
        keys = [k for k in top if k in value] if top else []
        keys += sorted(k for k in value if k not in top)
        pairs = []
        for key in keys:
            child_top = _META_KEYS if key == "metadata" and top is _TOP_KEYS else ()
            pairs.append((ScalarNode(_STR, key), _node(value[key], child_top)))
        return MappingNode(_MAP, pairs, flow_style=False)
    if kind is list:
        return SequenceNode(_SEQ, [_node(item) for item in value], flow_style=False)
    if kind is bool:
        return ScalarNode(_BOOL, "true" if value else "false")
    if kind is int:
        return ScalarNode(_INT, str(value))
    if value is None:
        return ScalarNode(_NULL, "null")
    if kind is float:
        return _FALLBACK.represent_float(value)
    raise TypeError(f"cannot emit a {kind.__name__} in a manifest")


_EMIT_OPTIONS: dict[str, Any] = {
    "Dumper": _Dumper,
    "allow_unicode": True,
    "width": 2**31 - 1,
}


def dump_objects(objects: Iterable[KubeObject]) -> str:
    """A multi-document YAML stream of `objects`, in rank order, byte-stable."""
    ordered = sorted(objects, key=object_sort_key)
    parts: list[str] = []
    try:
        for obj in ordered:
            if type(obj) is not dict or not obj:  # libyaml writes `--- {}` and the like
                raise _NotInline
            parts.append("---\n")
            _block_mapping(obj, 0, _TOP_KEYS, parts)
    except _NotInline:
        return _libyaml_stream(ordered)
    return "".join(parts)


def _libyaml_stream(ordered: list[KubeObject]) -> str:
    nodes = [_node(obj, _TOP_KEYS) for obj in ordered]
    return str(yaml.serialize_all(nodes, explicit_start=True, **_EMIT_OPTIONS))


# --- the layout writer ------------------------------------------------------------------------
#
# libyaml's emitter, even memoised, was most of a fleet compile's time: it is driven node by
# node from Python. A manifest's block layout is simple (two-space mappings, sequences
# indentless under a key, `{}`/`[]` when empty), so it is written here directly, and every
# decision about a scalar's form (plain, quoted, escaped) is still libyaml's: each distinct
# scalar is emitted once by libyaml and its text reused. A scalar whose text spans lines (its
# indentation would depend on where it sits) or a key too long to be a simple key makes the
# whole stream go through libyaml as before. tests/properties/test_emit_equivalence.py pins
# the two paths to the same bytes.


class _NotInline(Exception):
    """A scalar whose emitted form is not one line: let libyaml lay out the whole stream."""


# libyaml writes a key longer than this (in bytes) as an explicit `? key` entry.
_SIMPLE_KEY_LIMIT = 128
_value_forms: dict[tuple[type, Any], str | None] = {}
_key_forms: dict[str, str | None] = {}


def _one_line(text: str) -> bool:
    # splitlines knows every YAML line break (\n, \r, \x85, \u2028, \u2029) and a few more.
    return len(text.splitlines()) == 1


# Strings whose form libyaml decides without looking at what surrounds them: ASCII, no space
# or quote, a first character that is no indicator ("-" only before something else, and no
# "---"), no ": " or " #" (there is no space), not ending in ":" (libyaml counts the end as a
# space after it). Written plain when the plain text reads back as a string, else in single
# quotes (`'8000'`, `'yes'`: the resolver decides, as in libyaml's own choice). Most of a
# fleet's distinct scalars (names, hashes, digests, numbers in args) are such strings, and
# asking libyaml for each was a third of emitting 1,000 models.
# tests/properties/test_emit_equivalence.py holds this to libyaml's output.
_SIMPLE_TEXT = re.compile(r"[A-Za-z0-9-][A-Za-z0-9._/@:+=~-]*")
_RESOLVER = yaml.resolver.Resolver()


def _plain_tag(text: str) -> str:
    """The tag the dumper's resolver gives `text` written plain (what libyaml asks too)."""
    return str(_RESOLVER.resolve(ScalarNode, text, (True, False)))  # type: ignore[no-untyped-call]


def _simple_form(value: Any) -> str | None:
    """`value`'s text when it is sure without libyaml, else None (ask libyaml)."""
    kind = type(value)
    if kind is int:
        text = str(value)
        return text if _plain_tag(text) == _INT else None
    if kind is not str:
        return None
    text = str(value)
    if not _SIMPLE_TEXT.fullmatch(text) or text[-1] == ":":
        return None
    if text[0] == "-" and (len(text) == 1 or text.startswith("---")):
        return None
    return text if _plain_tag(text) == _STR else f"'{text}'"


def _value_form(value: Any) -> str:
    """libyaml's text for a scalar as a block value, e.g. `'1'` for the string "1"."""
    # 0.0 == -0.0 (same hash) and nan != nan: floats are keyed by their repr.
    lookup = (float, repr(value)) if type(value) is float else (type(value), value)
    form = _value_forms.get(lookup, "")
    if form == "":
        form = _simple_form(value)
        if form is None:
            text = str(yaml.serialize(_node([value]), **_EMIT_OPTIONS))
            inline = text[2:-1]  # "- <form>\n"
            form = inline if _one_line(inline) else None
        _value_forms[lookup] = form
    if form is None:
        raise _NotInline
    return form


def _key_form(key: Any) -> str:
    if type(key) is not str:
        raise _NotInline
    form = _key_forms.get(key, "")
    if form == "":
        form = None
        if len(key.encode("utf-8", "surrogatepass")) < _SIMPLE_KEY_LIMIT:
            text = str(yaml.serialize(_node({key: None}), **_EMIT_OPTIONS))
            if text.endswith(": null\n") and _one_line(text[:-7]) and text[0] != "?":
                form = text[:-7]
        _key_forms[key] = form
    if form is None:
        raise _NotInline
    return form


def _block_mapping(
    value: dict[str, Any], indent: int, top: tuple[str, ...], out: list[str]
) -> None:
    """Entries of a non-empty mapping; the first starts where the caller left the line."""
    pad = " " * indent
    keys = sorted(value)
    if top:
        keys = [k for k in top if k in value] + [k for k in keys if k not in top]
    lead = ""  # the first entry continues the caller's line ("- " or "---\n")
    for key in keys:
        form = _key_forms.get(key) or _key_form(key)
        child = value[key]
        kind = type(child)
        if kind is str:
            out.append(f"{lead}{form}: {_value_forms.get((str, child)) or _value_form(child)}\n")
        elif kind is dict and child:
            out.append(f"{lead}{form}:\n{pad}  ")
            child_top = _META_KEYS if key == "metadata" and top is _TOP_KEYS else ()
            _block_mapping(child, indent + 2, child_top, out)
        elif kind is list and child:
            out.append(f"{lead}{form}:\n{pad}")
            _block_sequence(child, indent, out)
        else:
            out.append(f"{lead}{form}: {_inline(child)}\n")
        lead = pad


def _block_sequence(items: list[Any], indent: int, out: list[str]) -> None:
    """Items of a non-empty sequence; the first `- ` goes where the caller left the line."""
    pad = " " * indent
    lead = ""
    for item in items:
        kind = type(item)
        if kind is str:
            out.append(f"{lead}- {_value_forms.get((str, item)) or _value_form(item)}\n")
        elif kind is dict and item:
            out.append(lead + "- ")
            _block_mapping(item, indent + 2, (), out)
        elif kind is list and item:
            out.append(lead + "- ")
            _block_sequence(item, indent + 2, out)
        else:
            out.append(f"{lead}- {_inline(item)}\n")
        lead = pad


def _inline(value: Any) -> str:
    """A scalar, or an empty collection (libyaml writes those in flow style)."""
    kind = type(value)
    if kind is dict:
        return "{}"
    if kind is list:
        return "[]"
    return _value_form(value)


def dump_document(data: Any) -> str:
    """One YAML document with keys kept in the given order."""
    return str(yaml.dump(data, sort_keys=False, default_flow_style=False, **_EMIT_OPTIONS))


GITATTRIBUTES = "* linguist-generated=true\n"


def kustomization(resources: Iterable[str]) -> str:
    return dump_document(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(resources),
        }
    )


def manifest_path(namespace: str, name: str) -> str:
    return f"{namespace}/{name}/{hydrate.MANIFEST}"


@dataclass(frozen=True, slots=True)
class App:
    """One ModelDeployment's directory in the rendered tree."""

    namespace: str
    name: str
    source: str
    manifest: bytes


def hydrated_tree(
    env: str, apps: Iterable[App], shards: Mapping[str, int] | None = None
) -> dict[str, bytes]:
    """The environment's files, relative to `rendered/<env>/`: one directory per MD, in the
    Source Hydrator's layout, and per namespace a sync unit (`units`): its Namespace object
    and a kustomization over it and the namespace's manifests. A namespace given `shards`
    (more than one) keeps only its Namespace in its own unit and lists its models in
    `<namespace>.shard-<k>/` units, each model's directory a kustomization of its own. There
    is no env-wide kustomization: a build over a whole fleet is what sync units exist to
    avoid."""
    files: dict[str, bytes] = {}
    by_namespace: dict[str, list[str]] = {}
    for app in sorted(apps, key=lambda a: (a.namespace, a.name)):
        directory = f"{app.namespace}/{app.name}/"
        for name, content in hydrate.app_files(
            env, app.namespace, app.name, app.source, app.manifest
        ).items():
            files[directory + name] = content
        by_namespace.setdefault(app.namespace, []).append(app.name)
    model_kustomization = kustomization([hydrate.MANIFEST]).encode("utf-8")
    shards = shards or {}
    for namespace, names in by_namespace.items():
        count = shards.get(namespace, 1)
        manifests = [] if count > 1 else [f"{name}/{hydrate.MANIFEST}" for name in names]
        resources = units.unit_resources(namespace, manifests)
        if units.NAMESPACE_FILE in resources:
            namespace_yaml = dump_objects([units.namespace_object(namespace)])
            files[f"{namespace}/{units.NAMESPACE_FILE}"] = namespace_yaml.encode("utf-8")
        files[f"{namespace}/{units.KUSTOMIZATION}"] = kustomization(resources).encode("utf-8")
        if count == 1:
            continue
        # Every shard is written, the empty ones too: the set of units (and so Flux's list of
        # Kustomizations) changes only with the count, never with a model's arrival.
        members: dict[str, list[str]] = {units.shard_unit(namespace, k): [] for k in range(count)}
        for name in names:
            members[units.unit_of(namespace, name, shards)].append(f"../{namespace}/{name}")
            files[f"{namespace}/{name}/{units.KUSTOMIZATION}"] = model_kustomization
        for unit, listed in members.items():
            files[f"{unit}/{units.KUSTOMIZATION}"] = kustomization(listed).encode("utf-8")
    files[".gitattributes"] = GITATTRIBUTES.encode("utf-8")
    return files
