"""runwayc: a GitOps manifest compiler for LLM inference on Kubernetes.

The public API is small: `compile_project` and its inputs/outputs, the input models, and the
error hierarchy. Everything else is internal and may change.

Names are imported on first use (PEP 562): every `runwayc` command imports this package
before its own modules, and importing the pipeline and its pydantic models eagerly here
made `runwayc version` pay for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compiler.core.diagnostics import Diagnostic, Location, Severity
    from compiler.core.errors import (
        AgentError,
        ConfigError,
        ImageError,
        LoadError,
        PublishError,
        RecipeError,
        RunwayError,
    )
    from compiler.core.lockfile import LockFile
    from compiler.core.model import (
        ModelDeployment,
        Overlay,
        Policy,
        ProjectConfig,
        ProviderCatalog,
    )
    from compiler.core.pipeline import (
        CompileInputs,
        CompileOptions,
        CompileResult,
        SourceFile,
        compile_project,
    )

_HOMES = {
    "compiler.core.diagnostics": ("Diagnostic", "Location", "Severity"),
    "compiler.core.errors": (
        "AgentError",
        "ConfigError",
        "ImageError",
        "LoadError",
        "PublishError",
        "RecipeError",
        "RunwayError",
    ),
    "compiler.core.lockfile": ("LockFile",),
    "compiler.core.model": (
        "ModelDeployment",
        "Overlay",
        "Policy",
        "ProjectConfig",
        "ProviderCatalog",
    ),
    "compiler.core.pipeline": (
        "CompileInputs",
        "CompileOptions",
        "CompileResult",
        "SourceFile",
        "compile_project",
    ),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'compiler' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


__all__ = [
    "AgentError",
    "CompileInputs",
    "CompileOptions",
    "CompileResult",
    "ConfigError",
    "Diagnostic",
    "ImageError",
    "LoadError",
    "Location",
    "LockFile",
    "ModelDeployment",
    "Overlay",
    "Policy",
    "ProjectConfig",
    "ProviderCatalog",
    "PublishError",
    "RecipeError",
    "RunwayError",
    "Severity",
    "SourceFile",
    "compile_project",
]
