"""Choices commands make from runway.yaml and their flags, before or around a compile (pure).

The edge reads runway.yaml (and the process environment); these decide what follows from it:
which environments a command covers, the default one, and the recipes API to ask.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from compiler.core import recipes
from compiler.core.model import ProjectConfig

FALLBACK_ENVIRONMENT = "dev"
# runway.yaml's environments are DNS labels (its schema says so); a name from a flag is held
# to the same rule before it names anything (rendered/<env>, overlays/<env>.yaml).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def environment_problem(env: str) -> str | None:
    """Why `env` cannot be an environment's name (None when it can)."""
    if _DNS_LABEL.fullmatch(env):
        return None
    return (
        f'environment "{env[:80]}" is not a DNS label (lower-case letters, digits and "-", '
        "at most 63): it names directories such as rendered/<env>"
    )


def environments_of(project: ProjectConfig | None, env: str | None) -> list[str]:
    """The environments a command covers: `--env`, else every one runway.yaml lists (`dev`
    without a readable runway.yaml)."""
    if env is not None:
        return [env]
    if project is None:
        return [FALLBACK_ENVIRONMENT]
    return sorted(project.environments)


def unknown_environments(wanted: Iterable[str], project: ProjectConfig) -> list[str]:
    """The environments of `wanted` runway.yaml does not list, sorted."""
    return sorted(set(wanted) - set(project.environments))


def unknown_environment_message(unknown: Iterable[str], known: Iterable[str]) -> str:
    """The one wording of an environment runway.yaml does not list (flags and diagnostics)."""
    names = [f'"{env}"' for env in unknown]
    listed = ", ".join(sorted(known)) or "none"
    subject = (
        f"environment {names[0]} is" if len(names) == 1 else f"environments {', '.join(names)} are"
    )
    return f"{subject} not listed in runway.yaml (known: {listed})"


def default_environment_of(project: ProjectConfig | None) -> str:
    """runway.yaml's default environment, else `dev`."""
    if project is not None and project.default_environment:
        return project.default_environment
    return FALLBACK_ENVIRONMENT


def choose_base_url(flag: str | None, from_env: str | None, project: ProjectConfig | None) -> str:
    """The recipes API: `--recipes-url`, else $VLLM_RECIPES_BASE_URL, else runway.yaml's
    recipes.baseUrl, else the public API."""
    if flag:
        return flag
    if from_env:
        return from_env
    if project is not None and project.recipes is not None and project.recipes.base_url:
        return project.recipes.base_url
    return recipes.DEFAULT_BASE_URL


def filter_models(
    models: Iterable[recipes.ModelEntry], text: str | None
) -> list[recipes.ModelEntry]:
    """The models whose ID or title contains `text` (case-insensitive), by ID."""
    needle = (text or "").lower()
    return [
        model
        for model in sorted(models, key=lambda m: m.hf_id.lower())
        if needle in model.hf_id.lower() or needle in (model.title or "").lower()
    ]
