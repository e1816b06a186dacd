"""Rendered objects to deterministic bytes and the hydrated tree layout.

Kinds are ordered by one rank table (lightkube's RANK_ORDER idea: what others depend on comes
first), keys in the conventional order (apiVersion, kind, metadata, spec, then the rest
sorted), and YAML is written by libyaml's emitter when present: ruamel's pure-Python emitter
is an order of magnitude slower and emission is the hot path of a fleet compile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

KubeObject = dict[str, Any]

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

try:
    _Dumper: type[yaml.SafeDumper] = yaml.CSafeDumper  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Dumper = yaml.SafeDumper


def object_sort_key(obj: Mapping[str, Any]) -> tuple[int, str, str, str]:
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    return (
        _RANK.get(kind, len(RANK_ORDER)),
        kind,
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def _ordered(value: Any, top: tuple[str, ...] = ()) -> Any:
    """A copy with mapping keys in a fixed order: `top` keys first, then the rest sorted."""
    if isinstance(value, Mapping):
        keys = [k for k in top if k in value]
        keys += sorted(k for k in value if k not in top)
        out = {}
        for key in keys:
            child_top = _META_KEYS if key == "metadata" and top == _TOP_KEYS else ()
            out[key] = _ordered(value[key], child_top)
        return out
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def dump_objects(objects: Iterable[KubeObject]) -> str:
    """A multi-document YAML stream of `objects`, in rank order, byte-stable."""
    ordered = [_ordered(obj, _TOP_KEYS) for obj in sorted(objects, key=object_sort_key)]
    return yaml.dump_all(
        ordered,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        explicit_start=True,
        width=2**31 - 1,
    )


def dump_document(data: Any) -> str:
    """One YAML document with keys kept in the given order."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=2**31 - 1,
    )


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
    return f"{namespace}/{name}/manifest.yaml"


def render_tree(manifests: Mapping[tuple[str, str], Iterable[KubeObject]]) -> dict[str, bytes]:
    """The environment's files, relative to `rendered/<env>/`: one manifest per MD."""
    files: dict[str, bytes] = {}
    for (namespace, name), objects in sorted(manifests.items()):
        files[manifest_path(namespace, name)] = dump_objects(objects).encode("utf-8")
    files["kustomization.yaml"] = kustomization(manifest_path(ns, n) for ns, n in manifests).encode(
        "utf-8"
    )
    files[".gitattributes"] = GITATTRIBUTES.encode("utf-8")
    return files
