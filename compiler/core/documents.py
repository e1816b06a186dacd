"""Loaded YAML documents to validated models, with pydantic's errors translated once.

This is the single boundary where `pydantic.ValidationError` becomes diagnostics: each error
gets the spec path in the CRD's spelling and the `file:line:col` of the offending node. Input
values are never echoed (an env value may be a secret); only their type is named.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from compiler.core.diagnostics import Diagnostic, error
from compiler.core.load import PathKey, SourceDocument, format_path

M = TypeVar("M", bound=BaseModel)


def _has_child(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return False


def _data_path(data: Any, loc: tuple[str | int, ...], error_type: str) -> PathKey:
    """Follow pydantic's `loc` through the data, dropping union-member tags it inserts."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if _has_child(node, part):
            path.append(part)
            node = node[part]
        elif last and error_type in ("missing", "extra_forbidden") and isinstance(part, str):
            path.append(part)
    return tuple(path)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _describe(err: dict[str, Any], path: PathKey) -> tuple[str, str]:
    kind = err["type"]
    field = str(path[-1]) if path else ""
    if kind == "extra_forbidden":
        return "UNKNOWN_FIELD", f'unknown field "{field}"'
    if kind == "missing":
        return "MISSING_FIELD", f'required field "{field}" is missing'
    message = str(err["msg"])
    if kind in ("model_type", "dict_type"):
        # pydantic's words name the Python class ("instance of ProviderPin"), not the file.
        got = _type_name(err.get("input"))
        return (
            "INVALID_VALUE",
            f"expected a mapping, got {'an' if got[0] in 'aeiou' else 'a'} {got}",
        )
    if kind == "literal_error":
        return "INVALID_VALUE", message
    return "INVALID_VALUE", f"{message} (got {_type_name(err.get('input'))})"


def validation_diagnostics(doc: SourceDocument, exc: ValidationError) -> list[Diagnostic]:
    grouped: dict[PathKey, list[tuple[str, str]]] = defaultdict(list)
    for err in exc.errors(include_url=False):
        path = _data_path(doc.data, tuple(err["loc"]), err["type"])
        described = _describe(dict(err), path)
        if described not in grouped[path]:
            grouped[path].append(described)
    diagnostics = []
    for path, reasons in grouped.items():
        code = reasons[0][0]
        message = "; or ".join(text for _, text in reasons)
        diagnostics.append(error(code, message, doc.location(path), format_path(path)))
    return diagnostics


def parse_document(doc: SourceDocument, model: type[M]) -> tuple[M | None, list[Diagnostic]]:
    """Validate one document against `model`: the model, or None and the reasons."""
    if not isinstance(doc.data, dict):
        return None, [
            error(
                "NOT_A_MAPPING",
                f"expected a mapping with apiVersion and kind, got a {_type_name(doc.data)}",
                doc.location(),
            )
        ]
    try:
        return model.model_validate(doc.data, by_alias=True), []
    except ValidationError as exc:
        return None, validation_diagnostics(doc, exc)
