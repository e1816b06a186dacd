"""Compile-time recipes: a ModelDeployment that references a recipe by its annotations is
materialised by `compile` from the pinned store, offline; explicit spec values win; conflicts
are errors; policy runs on the result."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.helpers import line_col
from tests.recipes.conftest import recipe_cli

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def reference(extra_spec: str = "", annotations: str = "") -> str:
    return f"""\
apiVersion: airunway.ai/v1alpha1
kind: ModelDeployment
metadata:
  name: qwen-ref
  namespace: team-a
  annotations:
    airunway.ai/recipe.id: {QWEN}
    airunway.ai/recipe.hardware: a100
    airunway.ai/recipe.features: '["tool_calling"]'
{annotations}spec:
  model: {{}}
  provider:
    name: vllm
{extra_spec}"""


@pytest.fixture
def pulled(quickstart, recipes_server) -> Path:
    result = recipe_cli("pull", quickstart, recipes_server, QWEN, "--hardware", "a100")
    assert result.exit_code == 0, result.stderr
    recipes_server.requests.clear()
    return quickstart


def compile_ref(repo: Path, text: str):
    (repo / "deployments/team-a/ref.yaml").write_text(text)
    assert run_cli("lock", repo, "--skip-images").exit_code in (0, 1)
    return run_cli("compile", repo, "--env", "dev", "--locked", "--out", repo / "out")


def manifest(repo: Path) -> list[dict]:
    return list(yaml.safe_load_all((repo / "out/team-a/qwen-ref/manifest.yaml").read_text()))


def container_args(repo: Path) -> list[str]:
    deployment = next(o for o in manifest(repo) if o["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_a_reference_compiles_offline_from_the_pinned_store(pulled, recipes_server):
    result = compile_ref(pulled, reference())
    assert result.exit_code == 0, result.stderr
    args = container_args(pulled)
    assert args[args.index("--max-model-len") + 1] == "16384"  # the a100 rendering
    assert args[args.index("--tool-call-parser") + 1] == "hermes"
    md = next(o for o in manifest(pulled) if o["kind"] == "ModelDeployment")
    assert md["spec"]["model"]["id"] == QWEN
    assert md["metadata"]["annotations"]["airunway.ai/recipe.revision"]
    assert recipes_server.requests == []  # nothing fetched


def test_explicit_spec_values_win(pulled):
    spec = """\
  engine:
    args:
      max-model-len: "2048"
  env:
    - name: VLLM_USE_V1
      value: "0"
"""
    result = compile_ref(pulled, reference(spec))
    assert result.exit_code == 0, result.stderr
    args = container_args(pulled)
    assert args.count("--max-model-len") == 1
    assert args[args.index("--max-model-len") + 1] == "2048"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "  resources:\n    gpu:\n      count: 4\n",
            "spec.resources.gpu.count 4 conflicts with the recipe's tensor x pipeline "
            "parallelism, which needs 1 GPU(s)",
        ),
        ("  engine:\n    type: sglang\n", 'spec.engine.type "sglang" cannot run a vLLM recipe'),
    ],
)
def test_genuine_conflicts_are_errors(pulled, spec, message):
    result = compile_ref(pulled, reference(spec))
    assert result.exit_code == 1
    assert "error[RECIPE_CONFLICT]" in result.stderr
    assert message in result.stderr


def test_a_different_model_id_is_a_conflict(pulled):
    text = reference().replace("model: {}", "model:\n    id: microsoft/Phi-4-mini-instruct")
    result = compile_ref(pulled, text)
    assert (
        f'spec.model.id "microsoft/Phi-4-mini-instruct" is not the recipe\'s model "{QWEN}"'
        in result.stderr
    )


def test_an_unpinned_recipe_names_the_annotation(quickstart):
    text = reference()
    result = compile_ref(quickstart, text)
    assert result.exit_code == 1
    line, column = line_col(text, "airunway.ai/recipe.id")
    assert f"deployments/team-a/ref.yaml:{line}:{column}: error[RECIPE_NOT_PINNED]" in result.stderr
    assert f"run `runwayc recipe pull {QWEN}`" in result.stderr


def test_a_rendering_that_was_not_pulled_is_refused(quickstart, recipes_server):
    assert recipe_cli("pull", quickstart, recipes_server, QWEN).exit_code == 0
    result = compile_ref(quickstart, reference())  # names hardware a100, only the base was pulled
    assert "error[RECIPE_UNRESOLVED]" in result.stderr
    assert f"recipes/{QWEN}/hw/a100.json is not in the recipe store" in result.stderr


def test_an_applied_spec_is_not_materialised_again(pulled):
    marker = "    airunway.ai/generated-by: vllm-recipe-resolver\n"
    text = reference("  resources:\n    gpu:\n      count: 1\n", annotations=marker)
    result = compile_ref(pulled, text.replace("model: {}", f"model:\n    id: {QWEN}"))
    assert result.exit_code == 0, result.stderr
    assert "--tool-call-parser" not in container_args(pulled)  # taken as written


def test_policy_runs_on_the_materialised_spec(pulled):
    spec = '  engine:\n    extraArgs: ["--tool-call-parser", "pythonic"]\n'
    result = compile_ref(pulled, reference(spec))
    # The user's extraArgs flag wins over the recipe's arg of the same identity: no duplicate.
    assert result.exit_code == 0, result.stderr
    args = container_args(pulled)
    assert args.count("--tool-call-parser") == 1
    assert args[args.index("--tool-call-parser") + 1] == "pythonic"
