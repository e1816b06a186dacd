"""`recipe` at the edge: which recipes API to ask, fetching, pinning, and the source file.

The client imports httpx, so it is imported when a command first needs it: only `recipe`
commands pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.core import recipes
from compiler.core.errors import ConfigError
from compiler.core.lockfile import serialize_lock
from compiler.core.pipeline import CompileOptions, Settings, read_project, resolve_settings
from compiler.core.project import choose_base_url, filter_models
from compiler.io.workspace import (
    LOCK_FILE,
    Workspace,
    default_environment,
    repository_lock,
    write_if_changed,
    write_text_atomic,
)

if TYPE_CHECKING:
    from compiler.io.recipe_client import Fetched, RecipeClient


def base_url(
    workspace: Workspace, flag: str | None, environ: Mapping[str, str] = os.environ
) -> str:
    """`--recipes-url`, else $VLLM_RECIPES_BASE_URL, else runway.yaml's, else the default."""
    from_env = environ.get(recipes.BASE_URL_ENV)
    project = None
    if not (flag or from_env):  # runway.yaml is read only when it decides
        project, _ = read_project(workspace.project())
    return choose_base_url(flag, from_env, project)


def open_client(workspace: Workspace, flag: str | None, user_agent: str) -> RecipeClient:
    from compiler.io.recipe_client import RecipeClient

    return RecipeClient(base_url(workspace, flag), user_agent=user_agent)


def list_models(
    repo: Path, recipes_url: str | None, text: str | None, *, user_agent: str
) -> list[recipes.ModelEntry]:
    """The models the recipes API has recipes for whose ID or title contains `text`, by ID."""
    with open_client(Workspace(repo), recipes_url, user_agent) as client:
        models = client.models()
    return filter_models(models, text)


def _settings(workspace: Workspace) -> Settings:
    """The repository's settings in its default environment (policy, aliases, runway.lock)."""
    env = default_environment(workspace)
    settings, diagnostics = resolve_settings(workspace.inputs(env), CompileOptions(env=env))
    if settings is None:
        raise ConfigError("the repository's configuration does not load", diagnostics)
    return settings


def _resolve(
    workspace: Workspace,
    client: RecipeClient,
    model_id: str,
    selection: recipes.Selection,
    warn: Callable[[str], None],
) -> tuple[recipes.Resolution, list[Fetched]]:
    recipe, fetched = client.rendering(model_id, selection)
    settings = _settings(workspace)
    resolution = recipes.resolve(
        recipe,
        selection,
        source=client.base_url,
        revision=recipes.content_sha256(fetched[0].content),
        flags=settings.policy.flags,
    )
    for warning in resolution.warnings:
        warn(warning)
    return resolution, fetched


def _pin(workspace: Workspace, model_id: str, fetched: list[Fetched], source: str) -> None:
    """Vendor the fetched documents under recipes/ and pin them in runway.lock."""
    from compiler.io.recipe_store import vendor

    with repository_lock(workspace.root):
        settings = _settings(workspace)
        lock = vendor(workspace.root, model_id, fetched, settings.lock, source)
        write_if_changed(workspace.root / LOCK_FILE, serialize_lock(lock))


def show_recipe(
    repo: Path,
    recipes_url: str | None,
    model_id: str,
    selection: recipes.Selection,
    *,
    user_agent: str,
    warn: Callable[[str], None],
) -> recipes.Resolution:
    """What a recipe resolves to in `repo` (its policy's reserved networking and aliases)."""
    workspace = Workspace(repo)
    with open_client(workspace, recipes_url, user_agent) as client:
        resolution, _ = _resolve(workspace, client, model_id, selection, warn)
    return resolution


def pull_recipe(
    repo: Path,
    recipes_url: str | None,
    model_id: str,
    selection: recipes.Selection,
    *,
    user_agent: str,
) -> list[Fetched]:
    """Vendor a recipe (and the renderings `selection` needs) and pin it; what was fetched.
    `model_id` has passed `recipes.check_model_id`."""
    workspace = Workspace(repo)
    with open_client(workspace, recipes_url, user_agent) as client:
        _, fetched = client.rendering(model_id, selection)
        _pin(workspace, model_id, fetched, client.base_url)
    return fetched


def apply_to_source(
    repo: Path,
    recipes_url: str | None,
    model_id: str,
    selection: recipes.Selection,
    *,
    name: str,
    namespace: str | None,
    output: Path,
    user_agent: str,
    warn: Callable[[str], None],
) -> tuple[str, list[Fetched]]:
    """Write (or update in place) the ModelDeployment `name` in `output` (relative to `repo`
    unless absolute) from a recipe, pinning the recipe: "written", "updated" or "unchanged",
    and what was fetched and pinned. `model_id` has passed `recipes.check_model_id`."""
    from compiler.core.recipe_apply import apply_recipe

    workspace = Workspace(repo)
    path = output if output.is_absolute() else repo / output
    with open_client(workspace, recipes_url, user_agent) as client:
        resolution, fetched = _resolve(workspace, client, model_id, selection, warn)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        text = apply_recipe(current, name, namespace, resolution, str(output))
        _pin(workspace, model_id, fetched, client.base_url)
    if text != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    state = "unchanged" if text == current else ("updated" if current else "written")
    return state, fetched
