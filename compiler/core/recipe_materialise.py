"""Compile-time recipes: a ModelDeployment that names a recipe by its annotations, but was not
written by `recipe apply`, is materialised from the pinned store before policy runs.

The trigger is `airunway.ai/recipe.id` without `airunway.ai/generated-by:
vllm-recipe-resolver` (apply writes that marker with the materialised fields). The selection
is read back from the same annotations (`recipe.hardware`, `.strategy`, `.variant`,
`.features`); the documents come only from `recipes/` as pinned in runway.lock, never from the
network. Explicit spec values win over recipe values: args and extraArgs by flag identity, env
by name, the image when the spec names one. Genuine conflicts are errors: a different
`spec.model.id`, an engine other than vLLM, or a GPU count that disagrees with the recipe's
tensor x pipeline parallelism when the spec did not set that parallelism itself.

Pure: the workspace hands the store's bytes in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from compiler.core.diagnostics import Diagnostic, error, warning
from compiler.core.errors import LoadError, RecipeError
from compiler.core.load import SourceDocument, format_path, load_json
from compiler.core.lockfile import LockFile
from compiler.core.model import ModelDeployment
from compiler.core.policy import PolicySet
from compiler.core.recipes import (
    ANNOTATION_PREFIX,
    FEATURES_ANNOTATION,
    GENERATED_BY,
    GENERATOR,
    RECIPES_DIR,
    Resolution,
    Selection,
    flag_runs,
    parse_recipe,
    resolve,
    walk_renderings,
)
from compiler.core.vllm_args import FlagRules

ID_ANNOTATION = ANNOTATION_PREFIX + "id"
_ANNOTATION_PATH = ("metadata", "annotations")
_PARALLELISM = frozenset({"tensor-parallel-size", "pipeline-parallel-size"})


def needs_materialising(md: ModelDeployment) -> bool:
    annotations = md.metadata.annotations or {}
    return bool(annotations.get(ID_ANNOTATION)) and annotations.get(GENERATED_BY) != GENERATOR


def materialise(
    md: ModelDeployment,
    doc: SourceDocument,
    lock: LockFile,
    files: Mapping[str, bytes],
    policy: PolicySet,
) -> tuple[ModelDeployment | None, list[Diagnostic]]:
    """`md` with its recipe's fields filled in, or None and the reason."""
    annotations = md.metadata.annotations or {}
    recipe_id = annotations[ID_ANNOTATION]
    where = doc.location((*_ANNOTATION_PATH, ID_ANNOTATION))
    path = format_path((*_ANNOTATION_PATH, ID_ANNOTATION))

    def fail(code: str, message: str) -> tuple[None, list[Diagnostic]]:
        return None, [error(code, message, where, path)]

    pin = lock.recipes.get(recipe_id)
    if pin is None:
        return fail(
            "RECIPE_NOT_PINNED",
            f'recipe "{recipe_id}" is not pinned in runway.lock; run `runwayc recipe pull '
            f"{recipe_id}` (with the --hardware/--strategy this ModelDeployment names)",
        )
    try:
        selection = _selection(annotations)
        recipe = parse_recipe(_json(files, pin.path, recipe_id), pin.path)

        def load(path: str) -> tuple[Any, str]:
            stored = RECIPES_DIR + path
            return _json(files, stored, recipe_id), stored

        recipe = walk_renderings(recipe, selection, load)
        resolution = resolve(
            recipe,
            selection,
            source=pin.source or "",
            revision=pin.sha256,
            flags=policy.flags,
        )
    except LoadError as exc:
        # A stored document past the nesting bound is refused at its own line and column.
        return None, list(exc.diagnostics)
    except RecipeError as exc:
        return fail("RECIPE_UNRESOLVED", f'recipe "{recipe_id}": {exc.message}')
    data = md.model_dump(mode="json", by_alias=True, exclude_none=True)
    conflict = _merge(data["spec"], resolution, policy.flags)
    if conflict is not None:
        return fail("RECIPE_CONFLICT", f'recipe "{recipe_id}": {conflict}')
    data["metadata"]["annotations"] = {**resolution.annotations, **annotations}
    try:
        merged = ModelDeployment.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        return fail(
            "RECIPE_UNRESOLVED", f'recipe "{recipe_id}" gives an invalid spec: {first["msg"]}'
        )
    notes = [
        warning("RECIPE_WARNING", f'recipe "{recipe_id}": {text}', where, path)
        for text in resolution.warnings
    ]
    return merged, notes


def _selection(annotations: Mapping[str, str]) -> Selection:
    features_text = annotations.get(FEATURES_ANNOTATION)
    features: tuple[str, ...] = ()
    if features_text:
        try:
            parsed = load_json(features_text, FEATURES_ANNOTATION)
        except (json.JSONDecodeError, LoadError):
            parsed = None
        if not isinstance(parsed, list) or not all(isinstance(f, str) for f in parsed):
            raise RecipeError(f"{FEATURES_ANNOTATION} is not a JSON array of feature names")
        features = tuple(parsed)
    return Selection(
        hardware=annotations.get(ANNOTATION_PREFIX + "hardware"),
        strategy=annotations.get(ANNOTATION_PREFIX + "strategy"),
        variant=annotations.get(ANNOTATION_PREFIX + "variant"),
        features=features,
    )


def _json(files: Mapping[str, bytes], path: str, recipe_id: str) -> Any:
    content = files.get(path)
    if content is None:
        raise RecipeError(
            f"{path} is not in the recipe store; run `runwayc recipe pull {recipe_id}` with the "
            "hardware and strategy this ModelDeployment names"
        )
    try:
        return load_json(content, path)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecipeError(f"{path} is not JSON: {exc}") from None


def _merge(spec: dict[str, Any], res: Resolution, flags: FlagRules) -> str | None:
    """Fill `spec` (the JSON form) from `res` where the spec is silent; the conflict, if any."""
    model = spec.setdefault("model", {})
    if model.get("id") and model["id"] != res.model_id:
        return f'spec.model.id "{model["id"]}" is not the recipe\'s model "{res.model_id}"'
    model["id"] = res.model_id
    engine = spec.setdefault("engine", {})
    if engine.get("type", "vllm") != "vllm":
        return f'spec.engine.type "{engine["type"]}" cannot run a vLLM recipe'
    engine["type"] = "vllm"
    if res.image and not engine.get("image") and not spec.get("image"):
        engine["image"] = res.image

    user_args: dict[str, str] = dict(engine.get("args") or {})
    user_extra: list[str] = list(engine.get("extraArgs") or [])
    taken = {flags.identity(key) for key in user_args}
    taken |= {flags.identity(run.name) for run in flag_runs(user_extra, flags) if run.name}
    args = {k: v for k, v in res.args.items() if flags.identity(k) not in taken}
    args.update(user_args)
    extra = list(user_extra)
    extra += _without_flags(res.extra_args, taken, flags)
    if args:
        engine["args"] = dict(sorted(args.items()))
    if extra:
        engine["extraArgs"] = extra

    env = list(spec.get("env") or [])
    names = {entry.get("name") for entry in env}
    env += [entry for entry in res.env if entry["name"] not in names]
    if env:
        spec["env"] = env

    gpu = spec.setdefault("resources", {}).setdefault("gpu", {})
    if "count" in gpu and gpu["count"] != res.gpu_count and not (taken & _PARALLELISM):
        return (
            f"spec.resources.gpu.count {gpu['count']} conflicts with the recipe's tensor x "
            f"pipeline parallelism, which needs {res.gpu_count} GPU(s); set the parallelism in "
            "spec.engine.args too, or drop the count"
        )
    gpu.setdefault("count", res.gpu_count)
    return None


def _without_flags(tokens: list[str], identities: set[str], flags: FlagRules) -> list[str]:
    """`tokens` minus the flags (and their values) whose identity is in `identities`."""
    return [
        token
        for run in flag_runs(tokens, flags)
        if run.name is None or flags.identity(run.name) not in identities
        for token in run.tokens
    ]
