"""Deep-merging `spec.provider.overrides` into a rendered object, safely.

Merge semantics are JSON merge patch (RFC 7386), which is what users of `kubectl patch
--type merge` already know: mappings merge key by key, `null` deletes a key, anything else
replaces. Two things are refused with a diagnostic rather than rendered into an object the
API server would reject: replacing a mapping or list with a value of another type, and
deleting or retyping the skeleton a workload needs (`spec.template.spec.containers`, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from compiler.core.load import PathKey

# Paths a rendered Deployment keeps as mappings (or, for containers, a non-empty list).
SKELETON: tuple[PathKey, ...] = (
    ("spec",),
    ("spec", "template"),
    ("spec", "template", "spec"),
    ("spec", "template", "spec", "containers"),
)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "scalar"


def merge_overrides(
    base: dict[str, Any],
    overrides: Mapping[str, Any],
    skeleton: tuple[PathKey, ...] = SKELETON,
) -> tuple[dict[str, Any], list[tuple[PathKey, str]]]:
    """(merged object, [(override path, reason)]); refused parts keep the base value.

    `skeleton` lists the paths the object must keep: mappings, except that a path ending in
    `containers` must stay a non-empty list.
    """
    problems: list[tuple[PathKey, str]] = []
    merged = _merge(base, overrides, (), problems)
    for path in skeleton:
        node: Any = merged
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        wanted_list = path[-1] == "containers"
        if (wanted_list and not (isinstance(node, list) and node)) or (
            not wanted_list and not isinstance(node, dict)
        ):
            problems.append((path, "overrides must not remove or retype this part of the workload"))
            return base, problems
    return merged, problems


def _merge(
    base: dict[str, Any],
    patch: Mapping[str, Any],
    path: PathKey,
    problems: list[tuple[PathKey, str]],
) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        here = (*path, key)
        current = merged.get(key)
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(current, dict):
            merged[key] = _merge(current, value, here, problems)
        elif current is not None and _kind(current) != "scalar" and _kind(value) != _kind(current):
            problems.append((here, f"cannot replace a {_kind(current)} with a {_kind(value)}"))
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def pin_selector(deployment: dict[str, Any], selector: Mapping[str, str]) -> None:
    """Overrides may add pod labels but never move the selector off the Deployment's pods."""
    spec = deployment["spec"]
    spec["selector"] = {"matchLabels": dict(selector)}
    template = spec["template"]
    if not isinstance(template.get("metadata"), dict):
        template["metadata"] = {}
    if not isinstance(template["metadata"].get("labels"), dict):
        template["metadata"]["labels"] = {}
    template["metadata"]["labels"].update(selector)
