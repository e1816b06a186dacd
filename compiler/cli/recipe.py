"""`runwayc recipe`: list, show, pull and apply vLLM recipes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from compiler.cli._common import (
    TABLE_FORMATS,
    F,
    find_repository_callback,
    repository,
    runway_errors,
    say,
    tool_version,
)
from compiler.core.errors import RepositoryNotFoundError

if TYPE_CHECKING:  # the client imports httpx: only `recipe` commands pay for it, at run time
    from compiler.core import recipes
    from compiler.io.recipe_client import Fetched

# The recipes module and the workspace (pydantic models, the pipeline) load when a recipe
# command runs: every other command imports this module to register the group.
LOCK_FILE = "runway.lock"  # compiler.io.workspace.LOCK_FILE, without importing the workspace


@click.group("recipe")
def recipe_group() -> None:
    """vLLM recipes: list, show, pull into recipes/ (pinned), apply to a ModelDeployment."""


def _nearest_repository(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    """`list` and `show` only read runway.yaml's recipes API and policy when there is one:
    the repository `--repo` names (it must be one), else the nearest, else none (defaults)."""
    del ctx, param
    if value is not None:
        return repository(value)
    from compiler.io.workspace import find_repository

    try:
        return find_repository(Path("."))
    except RepositoryNotFoundError:
        return Path(".")


def _given_repository(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path | None:
    del ctx, param
    return None if value is None else repository(value)


def _repo_option(callback: Callable[..., Path | None], default: str) -> Callable[[F], F]:
    return click.option(
        "--repo",
        "-C",
        "repo",
        type=click.Path(file_okay=False, path_type=Path),
        callback=callback,
        help=f"The source repository (runway.yaml, runway.lock, recipes/); default: {default}.",
    )


_NEAREST = "the current directory's or its nearest parent's with runway.yaml"
nearest_repo_option = _repo_option(_nearest_repository, f"{_NEAREST}, if any")
recipe_repo_option = _repo_option(find_repository_callback, _NEAREST)
apply_repo_option = _repo_option(
    _given_repository, "the output file's (its nearest parent with runway.yaml)"
)
recipes_url_option = click.option(
    "--recipes-url",
    help="Recipes API base URL (default: $VLLM_RECIPES_BASE_URL, runway.yaml recipes.baseUrl, "
    "then https://recipes.vllm.ai).",
)


def selection_options(func: F) -> F:
    for option in reversed(
        [
            click.option("--hardware", help="Hardware rendering (default: the recommended)."),
            click.option(
                "--strategy", help="Strategy, e.g. single_node_tp (default: recommended)."
            ),
            click.option("--variant", help="Variant (default: the recommended)."),
            click.option(
                "--feature",
                "features",
                multiple=True,
                help="Opt-in feature, `name` or `name=mode` (repeatable).",
            ),
        ]
    ):
        func = option(func)
    return func


def _selection(
    hardware: str | None, strategy: str | None, variant: str | None, features: tuple[str, ...]
) -> recipes.Selection:
    # None: not given (the recommendation is used and recorded); "": given blank (the
    # recommendation is used, and its annotation left out).
    from compiler.core import recipes

    return recipes.Selection(hardware, strategy, variant, features)


def _user_agent() -> str:
    return f"runwayc/{tool_version()}"


def _pinned(model_id: str, fetched: list[Fetched]) -> None:
    files = ", ".join(f"recipes{d.path}" for d in fetched)
    say(f"runwayc: {model_id}: pinned {files} in {LOCK_FILE}")


def _warn(warning: str) -> None:
    say(f"runwayc: warning: {warning}")


@recipe_group.command("list")
@nearest_repo_option
@recipes_url_option
@click.option("--filter", "text", help="Only models whose ID or title contains this text.")
@TABLE_FORMATS
@runway_errors
def recipe_list_command(
    repo: Path, recipes_url: str | None, text: str | None, output_format: str
) -> None:
    """The models the recipes API has recipes for."""
    from compiler.io.recipes import list_models

    models = list_models(repo, recipes_url, text, user_agent=_user_agent())
    if output_format == "json":
        from compiler.cli.tables import recipe_models_json

        click.echo(json.dumps(recipe_models_json(models), indent=2))
        return
    for model in models:
        click.echo(f"{model.hf_id}\t{model.title or ''}")


@recipe_group.command("show")
@click.argument("model_id")
@nearest_repo_option
@recipes_url_option
@selection_options
@runway_errors
def recipe_show_command(
    model_id: str,
    repo: Path,
    recipes_url: str | None,
    hardware: str | None,
    strategy: str | None,
    variant: str | None,
    features: tuple[str, ...],
) -> None:
    """What a recipe resolves to: the spec fields `apply` would write."""
    from compiler.io.recipes import show_recipe

    selection = _selection(hardware, strategy, variant, features)
    resolution = show_recipe(
        repo, recipes_url, model_id, selection, user_agent=_user_agent(), warn=_warn
    )
    shown = {
        "model": resolution.model_id,
        "image": resolution.image,
        "gpuCount": resolution.gpu_count,
        "args": resolution.args,
        "extraArgs": resolution.extra_args,
        "env": resolution.env,
        "annotations": resolution.annotations,
    }
    from compiler.core.emit import dump_document

    click.echo(dump_document(shown), nl=False)


@recipe_group.command("pull")
@click.argument("model_id")
@recipe_repo_option
@recipes_url_option
@click.option("--hardware", help="Also pin this hardware's rendering.")
@click.option("--strategy", help="Also pin this strategy's rendering.")
@runway_errors
def recipe_pull_command(
    model_id: str, repo: Path, recipes_url: str | None, hardware: str | None, strategy: str | None
) -> None:
    """Vendor a recipe into recipes/ and pin its sha256 in runway.lock."""
    from compiler.core import recipes
    from compiler.io.recipes import pull_recipe

    model_id = recipes.check_model_id(model_id)
    selection = _selection(hardware, strategy, None, ())
    fetched = pull_recipe(repo, recipes_url, model_id, selection, user_agent=_user_agent())
    _pinned(model_id, fetched)


def _existing_directory(path: Path) -> Path:
    """`path`, or its nearest parent that exists (`-o` may name a directory to be made)."""
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


@recipe_group.command("apply")
@click.argument("model_id")
@apply_repo_option
@recipes_url_option
@selection_options
@click.option("--name", required=True, help="The ModelDeployment's metadata.name.")
@click.option("--namespace", help="The ModelDeployment's metadata.namespace.")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Source file to create or update (relative to --repo when given, else to the current "
    "directory; the repository is the file's).",
)
@runway_errors
def recipe_apply_command(
    model_id: str,
    repo: Path | None,
    recipes_url: str | None,
    hardware: str | None,
    strategy: str | None,
    variant: str | None,
    features: tuple[str, ...],
    name: str,
    namespace: str | None,
    output: Path,
) -> None:
    """Write (or update in place) a ModelDeployment from a recipe, pinning the recipe."""
    from compiler.core import recipes
    from compiler.io.recipes import apply_to_source

    model_id = recipes.check_model_id(model_id)
    selection = _selection(hardware, strategy, variant, features)
    if repo is None:
        # The policies, runway.lock and recipes/ that apply are those of the repository the
        # file is written into, wherever the command is run from.
        target = Path(os.path.abspath(output))
        repo = repository(_existing_directory(target.parent))
        output = target
    state, fetched = apply_to_source(
        repo,
        recipes_url,
        model_id,
        selection,
        name=name,
        namespace=namespace,
        output=output,
        user_agent=_user_agent(),
        warn=_warn,
    )
    _pinned(model_id, fetched)
    say(f"runwayc: {output}: ModelDeployment {name} {state}")
