"""runwayc: a GitOps manifest compiler for LLM inference on Kubernetes.

The public API is small: `compile_project` and its inputs/outputs, the input models, and the
error hierarchy. Everything else is internal and may change.
"""

from compiler.diagnostics import Diagnostic, Location, Severity
from compiler.errors import (
    AgentError,
    ConfigError,
    ImageError,
    LoadError,
    PolicyError,
    ProviderError,
    PublishError,
    RecipeError,
    RunwayError,
    SchemaError,
)
from compiler.lockfile import LockFile
from compiler.model import ModelDeployment, Overlay, Policy, ProjectConfig, ProviderCatalog
from compiler.render import (
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
    "PolicyError",
    "ProjectConfig",
    "ProviderCatalog",
    "ProviderError",
    "PublishError",
    "RecipeError",
    "RunwayError",
    "SchemaError",
    "Severity",
    "SourceFile",
    "compile_project",
]
