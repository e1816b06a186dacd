"""Providers: the catalog, selection, and one renderer per serving stack.

A renderer is a pure function from a checked ModelDeployment (plus the facts the pipeline
resolved for it) to plain Kubernetes objects. Each provider registers its checks, renderer and
image plan in `PROVIDERS`; a provider in the catalog with no entry here is reported, not
silently skipped.
"""

from __future__ import annotations

from compiler.core.providers.base import (
    ImagePlan,
    Provider,
    ProviderCheck,
    RenderContext,
    Renderer,
    RenderResult,
    engine_image_plan,
)
from compiler.core.providers.dynamo import check_dynamo, dynamo_images, render_dynamo
from compiler.core.providers.kaito import check_kaito, kaito_images, render_kaito
from compiler.core.providers.kuberay import check_kuberay, render_kuberay
from compiler.core.providers.llmd import check_llmd, render_llmd
from compiler.core.providers.vllm import check_vllm, render_vllm

PROVIDERS: dict[str, Provider] = {
    "vllm": Provider(check_vllm, render_vllm),
    "kaito": Provider(check_kaito, render_kaito, kaito_images),
    "dynamo": Provider(check_dynamo, render_dynamo, dynamo_images),
    "kuberay": Provider(check_kuberay, render_kuberay),
    "llmd": Provider(check_llmd, render_llmd),
}

__all__ = [
    "PROVIDERS",
    "ImagePlan",
    "Provider",
    "ProviderCheck",
    "RenderContext",
    "RenderResult",
    "Renderer",
    "engine_image_plan",
]
