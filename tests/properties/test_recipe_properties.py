"""No input reaches a traceback through the recipe path: model IDs, recipe-supplied paths,
whole recipe documents and the annotations a compile-time reference carries. Each is
either accepted or refused with a RecipeError, and what is accepted keeps the invariants."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.core.errors import RecipeError, RecipeValidationError
from compiler.core.load import SourceDocument
from compiler.core.lockfile import LockFile, RecipePin
from compiler.core.model import ModelDeployment
from compiler.core.recipe_materialise import materialise
from compiler.core.recipes import (
    Recipe,
    Selection,
    check_model_id,
    document_url,
    parse_recipe,
    resolve,
)
from compiler.io.workspace import load_policy
from tests.conftest import FIXTURES

BASE = "https://recipes.example.com/api"
QWEN_JSON = (FIXTURES / "recipes-api" / "Qwen" / "Qwen2.5-0.5B-Instruct.json").read_bytes()
POLICY = load_policy(None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
tokens = st.lists(
    st.one_of(
        st.sampled_from(
            ["--host", "--port", "-tp", "--tensor-parallel-size", "--x=1", "2", "--", "-", "--a.b"]
        ),
        st.text(max_size=12),
    ),
    max_size=12,
)


@given(st.text(max_size=200))
def test_model_ids_are_accepted_or_refused(text):
    try:
        model_id = check_model_id(text)
    except RecipeValidationError:
        return
    org, name = model_id.split("/")
    assert org not in (".", "..")
    assert name not in (".", "..")
    assert "%" not in model_id
    assert "\\" not in model_id


@given(st.one_of(st.text(max_size=200), json_values))
def test_recipe_paths_never_leave_the_base(path):
    try:
        url = document_url(BASE, path)
    except RecipeValidationError:
        return
    assert url.startswith(BASE + "/")
    rest = url[len(BASE) + 1 :]
    assert all(segment not in ("", ".", "..") for segment in rest.split("/"))
    assert "%" not in rest
    assert "?" not in rest
    assert "#" not in rest
    assert "\\" not in rest


@given(json_values)
def test_any_json_is_a_recipe_or_an_upstream_error(data):
    with contextlib.suppress(RecipeError):
        parse_recipe(data, "https://x/y.json")


@given(
    tokens,
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    st.lists(st.text(max_size=10), max_size=3),
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_command_resolves_or_is_refused(argv, env, features):
    data: dict[str, Any] = json.loads(QWEN_JSON)
    data["recommended_command"]["argv"] = ["vllm", "serve", "Qwen/Qwen2.5-0.5B-Instruct", *argv]
    data["recommended_command"]["env"] = env
    try:
        resolution = resolve(
            Recipe.model_validate(data),
            Selection(features=tuple(features)),
            source=BASE,
            revision="r",
            flags=POLICY.flags,
        )
    except RecipeError:
        return
    assert resolution.gpu_count >= 1
    assert "host" not in resolution.args
    assert "port" not in resolution.args
    assert all(value.strip() for value in resolution.annotations.values())
    assert [e["name"] for e in resolution.env] == list({**env})


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "airunway.ai/recipe.hardware",
                "airunway.ai/recipe.strategy",
                "airunway.ai/recipe.variant",
                "airunway.ai/recipe.features",
            ]
        ),
        st.text(max_size=30),
        max_size=4,
    )
)
def test_any_reference_annotations_give_a_spec_or_a_diagnostic(annotations):
    md = ModelDeployment.model_validate(
        {
            "apiVersion": "airunway.ai/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {
                "name": "m",
                "annotations": {
                    "airunway.ai/recipe.id": "Qwen/Qwen2.5-0.5B-Instruct",
                    **annotations,
                },
            },
            "spec": {"model": {}},
        }
    )
    lock = LockFile.empty().model_copy(
        update={
            "recipes": {
                "Qwen/Qwen2.5-0.5B-Instruct": RecipePin(
                    path="recipes/Qwen/Qwen2.5-0.5B-Instruct.json", sha256="0" * 64
                )
            }
        }
    )
    doc = SourceDocument("d.yaml", 0, {}, {})
    files = {"recipes/Qwen/Qwen2.5-0.5B-Instruct.json": QWEN_JSON}
    merged, diagnostics = materialise(md, doc, lock, files, POLICY)
    assert (merged is None) == any(d.is_error for d in diagnostics)
    if merged is not None:
        assert merged.spec.model.id == "Qwen/Qwen2.5-0.5B-Instruct"
