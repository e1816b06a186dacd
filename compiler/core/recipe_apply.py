"""`runwayc recipe apply`: write a resolved recipe into a ModelDeployment source, in place.

A round-trip edit (ruamel.yaml): the user's comments, key order and unrelated fields stay; the
fields a recipe owns are set (`spec.model.id`, `spec.engine.{type,image,args,extraArgs}`,
`spec.resources.gpu.count`, the recipe's entries of `spec.env`) and the provenance annotations
replaced as a set, so a value left blank on re-apply removes its annotation. The same inputs
give the same bytes, so re-applying is a no-op. No `spec.recipe` field is ever written: AI
Runway's CRD has none.

Pure: text in, text out.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from compiler.core.errors import RecipeError
from compiler.core.kube import API_VERSION, KIND
from compiler.core.load import nesting_refusal
from compiler.core.recipes import ANNOTATION_PREFIX, GENERATED_BY, Resolution


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold a long arg
    yaml.explicit_start = False
    return yaml


def apply_recipe(
    text: str | None, name: str, namespace: str | None, resolution: Resolution, file: str
) -> str:
    """`text` (a source file, None for a new one) with the ModelDeployment `name` created or
    updated from `resolution`."""
    yaml = _yaml()
    # ruamel's round-trip composer recurses in Python: runwayc's bound is checked first.
    too_deep = nesting_refusal(text, file) if text else None
    if too_deep is not None:
        raise RecipeError(f"{file} is not YAML runwayc can edit", [too_deep])
    try:
        documents = list(yaml.load_all(text)) if text else []
    except YAMLError as exc:
        raise RecipeError(f"{file} is not YAML runwayc can edit: {exc}") from None
    target = next((d for d in documents if _is_target(d, name, namespace)), None)
    if target is None:
        target = CommentedMap([("apiVersion", API_VERSION), ("kind", KIND)])
        if not documents:
            recipe_id = resolution.annotations.get(ANNOTATION_PREFIX + "id")
            target.yaml_set_start_comment(
                f"Applied from the vLLM recipe {recipe_id} by `runwayc recipe apply`; edit "
                "freely, re-applying keeps your comments."
            )
        documents.append(target)
    _update(target, name, namespace, resolution)
    out = io.StringIO()
    if len(documents) == 1:
        yaml.dump(documents[0], out)
    else:
        yaml.explicit_start = True
        yaml.dump_all(documents, out)
    return out.getvalue()


def _is_target(document: Any, name: str, namespace: str | None) -> bool:
    if not isinstance(document, dict) or document.get("kind") != KIND:
        return False
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, dict) or metadata.get("name") != name:
        return False
    return namespace is None or metadata.get("namespace") in (None, namespace)


def _child(parent: CommentedMap, key: str) -> CommentedMap:
    value = parent.get(key)
    if isinstance(value, CommentedMap):
        return value
    fresh = CommentedMap()
    parent[key] = fresh
    return fresh


def _update(document: CommentedMap, name: str, namespace: str | None, res: Resolution) -> None:
    metadata = _child(document, "metadata")
    metadata["name"] = name
    if namespace:
        metadata["namespace"] = namespace
    annotations = _child(metadata, "annotations")
    for key in [k for k in annotations if _is_provenance(str(k))]:
        if key not in res.annotations:
            del annotations[key]
    for key, value in res.annotations.items():
        annotations[key] = value

    spec = _child(document, "spec")
    _child(spec, "model")["id"] = res.model_id
    engine = _child(spec, "engine")
    engine["type"] = "vllm"
    if res.image:
        engine["image"] = res.image
        if "image" in spec and spec["image"] != res.image:
            del spec["image"]  # one image field: the recipe's, where policy prefers it
    _set_or_drop(engine, "args", CommentedMap(res.args) if res.args else None)
    _set_or_drop(engine, "extraArgs", CommentedSeq(res.extra_args) if res.extra_args else None)
    gpu = _child(_child(spec, "resources"), "gpu")
    gpu["count"] = res.gpu_count
    if res.env:
        _merge_env(spec, res.env)


def _is_provenance(key: str) -> bool:
    return key == GENERATED_BY or key.startswith(ANNOTATION_PREFIX)


def _set_or_drop(parent: CommentedMap, key: str, value: Any) -> None:
    if value is None:
        parent.pop(key, None)
    elif parent.get(key) != value:
        parent[key] = value


def _merge_env(spec: CommentedMap, env: list[dict[str, str]]) -> None:
    """The recipe's variables set by name; the user's other variables kept where they are."""
    current = spec.get("env")
    if not isinstance(current, list):
        current = CommentedSeq()
        spec["env"] = current
    for variable in env:
        existing = next(
            (e for e in current if isinstance(e, dict) and e.get("name") == variable["name"]),
            None,
        )
        if existing is None:
            current.append(CommentedMap([("name", variable["name"]), ("value", variable["value"])]))
        else:
            existing.pop("valueFrom", None)
            existing["value"] = variable["value"]
