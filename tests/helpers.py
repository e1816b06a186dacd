"""Builders for ModelDeployment source text used across tests."""

from __future__ import annotations

import textwrap

import yaml


def md_yaml(name: str = "m", namespace: str | None = "team-a", **spec: object) -> str:
    """A ModelDeployment document; `spec` keys are merged over a minimal vllm spec."""
    base: dict[str, object] = {
        "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct"},
        "provider": {"name": "vllm"},
        "engine": {"type": "vllm"},
        "resources": {"gpu": {"count": 1}},
    }
    base.update(spec)
    metadata: dict[str, object] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    doc = {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": metadata,
        "spec": base,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def line_col(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based line and column of the n-th occurrence of `needle` in `text`."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def item_line_col(text: str, token: str) -> tuple[int, int]:
    """Position of a block-sequence item `- token` (the item's value, after the dash)."""
    line, column = line_col(text, f"- {token}")
    return line, column + 2
