"""The public surface is declared once, in compiler.__all__, and is exactly this."""

from __future__ import annotations

import compiler

PUBLIC = [
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


def test_public_api_is_exact():
    assert compiler.__all__ == PUBLIC


def test_every_public_name_resolves():
    for name in compiler.__all__:
        assert getattr(compiler, name) is not None


def test_every_error_is_a_runway_error():
    errors = [getattr(compiler, n) for n in PUBLIC if n.endswith("Error")]
    assert all(issubclass(e, compiler.RunwayError) for e in errors)
