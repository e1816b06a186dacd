"""The rules `runwayc lock` follows around the pin planning of `pins` and `pipeline` (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from compiler.core.diagnostics import has_errors
from compiler.core.pins import ImageNeed
from compiler.core.pipeline import CompileResult


def config_broken(result: CompileResult) -> bool:
    """True when runway.lock or the configuration could not be read: never overwrite then."""
    return not result.deployments and has_errors(result.diagnostics)


def unknown_updates(update: Iterable[str], needs: Mapping[str, ImageNeed]) -> list[str]:
    """The `--update` references no ModelDeployment uses, sorted (an error: a typo must not
    pass as a no-op)."""
    return sorted(set(update) - set(needs))
