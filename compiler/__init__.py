"""runwayc: a GitOps manifest compiler for LLM inference on Kubernetes.

The public API is small: `compile_project` and its inputs/outputs, the input models, and the
error hierarchy. Everything else is internal and may change.
"""

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
from compiler.core.model import ModelDeployment, Overlay, Policy, ProjectConfig, ProviderCatalog
from compiler.core.pipeline import (
    CompileInputs,
    CompileOptions,
    CompileResult,
    SourceFile,
    compile_project,
)

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
