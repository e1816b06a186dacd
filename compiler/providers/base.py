"""What every renderer receives and returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from compiler.diagnostics import Diagnostic
from compiler.load import SourceDocument
from compiler.model import ModelDeployment
from compiler.policy import CheckContext, PolicySet

KubeObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Facts resolved before rendering: where the MD lives and which image it runs."""

    md: ModelDeployment
    doc: SourceDocument
    namespace: str
    image: str
    policy: PolicySet


@dataclass(frozen=True, slots=True)
class RenderResult:
    objects: list[KubeObject] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


Renderer = Callable[[RenderContext], RenderResult]
# A provider's own admission checks; run for every MD routed to it, even when other checks
# already failed, so one run reports every problem.
ProviderCheck = Callable[[ModelDeployment, CheckContext], list[Diagnostic]]
