"""Resolution (pure): a recipe rendering to ModelDeployment fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compiler.core.errors import RecipeValidationError
from compiler.core.recipes import Recipe, Selection, next_rendering, resolve
from compiler.io.workspace import load_policy
from tests.conftest import FIXTURES

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
FLAGS = load_policy(None).flags


def fixture(path: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "recipes-api" / path).read_text())


def recipe(**command: Any) -> Recipe:
    data = fixture(f"{QWEN}.json")
    data["recommended_command"].update(command)
    return Recipe.model_validate(data)


def run(r: Recipe, selection: Selection | None = None):
    return resolve(
        r,
        selection or Selection(),
        source="https://recipes.vllm.ai",
        revision="abc",
        flags=FLAGS,
    )


def test_the_fixture_recipe_resolves_to_args_env_gpu_image_and_provenance():
    resolution = run(recipe(), Selection(features=("tool_calling",)))
    assert resolution.model_id == QWEN
    assert resolution.image == "vllm/vllm-openai:v0.11.0"
    assert resolution.args == {
        "tensor-parallel-size": "1",
        "max-model-len": "32768",
        "enable-auto-tool-choice": "",
        "tool-call-parser": "hermes",
    }
    assert resolution.extra_args == []
    assert resolution.env == [{"name": "VLLM_USE_V1", "value": "1"}]
    assert resolution.gpu_count == 1
    assert resolution.annotations == {
        "airunway.ai/generated-by": "vllm-recipe-resolver",
        "airunway.ai/recipe.source": "https://recipes.vllm.ai",
        "airunway.ai/recipe.id": QWEN,
        "airunway.ai/recipe.strategy": "single_node_tp",
        "airunway.ai/recipe.hardware": "h100",
        "airunway.ai/recipe.variant": "default",
        "airunway.ai/recipe.precision": "bf16",
        "airunway.ai/recipe.revision": "abc",
        "airunway.ai/recipe.features": '["tool_calling"]',
    }
    assert resolution.warnings == []


def test_unclean_and_repeated_keys_go_to_extra_args_in_order():
    argv = [
        "vllm",
        "serve",
        QWEN,
        "--tensor-parallel-size",
        "2",
        "-pp",
        "2",
        "--max-model-len",
        "4096",
        "--max-model-len",
        "8192",
        "--dtype=auto",
        "--weird.key",
        "x",
        "positional",
        "--max-model-len",
        "4096",
    ]
    resolution = run(recipe(argv=argv))
    assert resolution.args == {
        "tensor-parallel-size": "2",
        "max-model-len": "4096",
        "dtype": "auto",
    }
    assert resolution.extra_args == [
        "-pp",
        "2",
        "--max-model-len",
        "8192",
        "--weird.key",
        "x",
        "positional",
    ]
    assert resolution.gpu_count == 4  # TP 2 x PP 2


def test_reserved_networking_flags_are_dropped_with_a_warning():
    argv = [
        "vllm",
        "serve",
        QWEN,
        "--host",
        "1.2.3.4",
        "--port=9000",
        "--tensor-parallel-size",
        "1",
    ]
    resolution = run(recipe(argv=argv))
    assert "host" not in resolution.args
    assert all("9000" not in t and "1.2.3.4" not in t for t in resolution.extra_args)
    assert [w.split(":")[0] for w in resolution.warnings] == [
        "recipe flag --host dropped",
        "recipe flag --port dropped",
    ]


def test_no_parallelism_falls_back_to_the_hardware_profile_and_says_so():
    resolution = run(recipe(argv=["vllm", "serve", QWEN, "--max-model-len", "1024"]))
    assert resolution.gpu_count == 8
    assert resolution.warnings == [
        "the recipe sets no tensor or pipeline parallelism; GPU count 8 taken from the H100 profile"
    ]


def test_the_command_string_is_used_when_argv_is_absent():
    resolution = run(
        recipe(argv=[], command=f"vllm serve {QWEN} --tensor-parallel-size 2 --enforce-eager")
    )
    assert resolution.args == {"tensor-parallel-size": "2", "enforce-eager": ""}
    assert resolution.gpu_count == 2


def test_a_variant_brings_its_model_image_and_args():
    data = fixture(f"{QWEN}.json")
    data["variants"]["fp8"] = {
        "model_id": "Qwen/Qwen2.5-0.5B-Instruct-FP8",
        "precision": "fp8",
        "docker_image": "vllm/vllm-openai:v0.11.1",
        "extra_args": ["--quantization", "fp8"],
    }
    resolution = run(Recipe.model_validate(data), Selection(variant="fp8"))
    assert resolution.model_id == "Qwen/Qwen2.5-0.5B-Instruct-FP8"
    assert resolution.image == "vllm/vllm-openai:v0.11.1"
    assert resolution.args["quantization"] == "fp8"
    assert resolution.annotations["airunway.ai/recipe.precision"] == "fp8"
    assert resolution.annotations["airunway.ai/recipe.variant"] == "fp8"


def test_feature_modes():
    data = fixture(f"{QWEN}.json")
    data["features"]["reasoning"] = {
        "modes": {
            "on": ["--reasoning-parser", "qwen3"],
            "strict": {"args": ["--reasoning-parser", "deepseek_r1"]},
        }
    }
    r = Recipe.model_validate(data)
    assert run(r, Selection(features=("reasoning=on",))).args["reasoning-parser"] == "qwen3"
    assert (
        run(r, Selection(features=("reasoning=strict",))).args["reasoning-parser"] == "deepseek_r1"
    )
    with pytest.raises(
        RecipeValidationError, match="needs a mode: --feature reasoning=<mode> \\(on, strict\\)"
    ):
        run(r, Selection(features=("reasoning",)))


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (Selection(features=("nope",)), 'has no feature "nope" \\(available: tool_calling\\)'),
        (Selection(variant="int4"), 'has no variant "int4" \\(available: default\\)'),
    ],
)
def test_unknown_choices_name_what_exists(selection, message):
    with pytest.raises(RecipeValidationError, match=message):
        run(recipe(), selection)


def test_blank_choices_omit_their_annotation_and_never_write_it_empty():
    resolution = run(recipe(), Selection(hardware="", strategy=""))
    assert "airunway.ai/recipe.hardware" not in resolution.annotations
    assert "airunway.ai/recipe.strategy" not in resolution.annotations
    assert all(v.strip() for v in resolution.annotations.values())
    assert "airunway.ai/recipe.features" not in resolution.annotations  # none chosen


def test_next_rendering_walks_hardware_then_strategy():
    base = recipe()
    assert next_rendering(base, Selection()) is None
    assert next_rendering(base, Selection(hardware="a100")) == f"/{QWEN}/hw/a100.json"
    assert (
        next_rendering(base, Selection(strategy="multi_node_tp"))
        == f"/{QWEN}/strategies/multi_node_tp.json"
    )
    with pytest.raises(
        RecipeValidationError, match='has no hardware "h200" \\(available: a100, h100\\)'
    ):
        next_rendering(base, Selection(hardware="h200"))


@pytest.mark.parametrize("value", ["\u00b2", "0", "-1", "two", "1.5"])
def test_a_parallel_size_that_is_not_a_positive_number_is_refused(value):
    """`-tp ²` raised ValueError (str.isdigit holds for "²", int() refuses it), and `-tp 0`
    sized the model at zero GPUs; vLLM refuses both."""
    from compiler.core.errors import RecipeUpstreamError

    with pytest.raises(RecipeUpstreamError, match="not a positive number of GPUs"):
        run(recipe(argv=["vllm", "serve", QWEN, "-tp", value]))
