"""What every provider declares, receives and returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from compiler.core.diagnostics import Diagnostic
from compiler.core.kube import KubeObject
from compiler.core.load import SourceDocument
from compiler.core.model import ModelDeployment, ProviderEntry
from compiler.core.policy import CheckContext, PolicySet


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """The image references one MD runs under a provider, before runway.lock pins them.

    `engine` is None when the provider chooses the image itself (KAITO presets). Component
    images (routers, sidecars) always come from the catalog, so they count as defaults for the
    outage gate.
    """

    engine: str | None
    engine_is_default: bool = False
    components: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Facts resolved before rendering: where the MD lives and which images it runs."""

    md: ModelDeployment
    doc: SourceDocument
    namespace: str
    # The engine image to render (pinned when runway.lock has a digest); None when the
    # provider's plan has no engine image.
    image: str | None
    policy: PolicySet
    # Component role -> image to render, for every role in the provider's image plan.
    component_images: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RenderResult:
    objects: list[KubeObject] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


Renderer = Callable[[RenderContext], RenderResult]
# A provider's own admission checks; run for every MD routed to it, even when other checks
# already failed, so one run reports every problem.
ProviderCheck = Callable[[ModelDeployment, CheckContext], list[Diagnostic]]
ImagePlanner = Callable[[ModelDeployment, ProviderEntry], ImagePlan]


def engine_image_plan(md: ModelDeployment, entry: ProviderEntry) -> ImagePlan:
    """The common plan: the spec's image, else the catalog default for the engine."""
    requested = md.engine_image()
    if requested is not None:
        return ImagePlan(requested)
    return ImagePlan(entry.engine_default_image(md.engine), engine_is_default=True)


@dataclass(frozen=True, slots=True)
class Provider:
    """One serving stack: its checks, its renderer and the images it runs."""

    check: ProviderCheck
    render: Renderer
    images: ImagePlanner = engine_image_plan
