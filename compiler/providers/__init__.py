"""Providers: the catalog, selection, and one renderer per serving stack.

A renderer is a pure function from a checked ModelDeployment (plus the facts the pipeline
resolved for it) to plain Kubernetes objects. Renderers register themselves in `RENDERERS`;
a provider in the catalog with no renderer yet is reported, not silently skipped.
"""

from __future__ import annotations

from compiler.providers.base import ProviderCheck, RenderContext, Renderer, RenderResult
from compiler.providers.vllm import check_vllm, render_vllm

RENDERERS: dict[str, Renderer] = {"vllm": render_vllm}
PROVIDER_CHECKS: dict[str, ProviderCheck] = {"vllm": check_vllm}

__all__ = [
    "PROVIDER_CHECKS",
    "RENDERERS",
    "ProviderCheck",
    "RenderContext",
    "RenderResult",
    "Renderer",
]
