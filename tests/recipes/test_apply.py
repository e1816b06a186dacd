"""`runwayc recipe` end to end against the loopback recipes server: list, show, pull, apply,
then compile the applied ModelDeployment offline with --locked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from compiler.core.recipe_apply import apply_recipe
from compiler.core.recipes import Resolution
from tests.conftest import run_cli
from tests.recipes.conftest import recipe_cli

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
SOURCE = """\
# Team A's small Qwen for tool calling. Owner: @alice
apiVersion: airunway.ai/v1alpha1
kind: ModelDeployment
metadata:
  name: qwen-tools
  namespace: team-a
  labels:
    team: a  # cost allocation
spec:
  model:
    id: placeholder
  provider:
    name: vllm
  env:
    - name: EXTRA
      value: "1"  # keep me
"""


def apply(repo: Path, server, *extra: str):
    return recipe_cli(
        "apply",
        repo,
        server,
        QWEN,
        "--name",
        "qwen-tools",
        "--namespace",
        "team-a",
        "-o",
        "deployments/team-a/qwen.yaml",
        *extra,
    )


def test_list_filters(quickstart, recipes_server):
    listed = recipe_cli("list", quickstart, recipes_server, "--filter", "phi")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout == "microsoft/Phi-4-mini-instruct\tPhi-4 mini\n"


def test_show_prints_what_apply_would_write(quickstart, recipes_server):
    shown = recipe_cli("show", quickstart, recipes_server, QWEN, "--hardware", "a100")
    assert shown.exit_code == 0, shown.stderr
    data = yaml.safe_load(shown.stdout)
    assert data["args"]["max-model-len"] == "16384"  # the a100 rendering's, not the h100 one's
    assert data["annotations"]["airunway.ai/recipe.hardware"] == "a100"
    assert recipes_server.requests == [f"/{QWEN}.json", f"/{QWEN}/hw/a100.json"]


def test_bad_model_id_exits_2_without_a_request(quickstart, recipes_server):
    result = recipe_cli("show", quickstart, recipes_server, "foo/../../etc/passwd")
    assert result.exit_code == 2
    assert "is not a model ID" in result.stderr
    assert recipes_server.requests == []


def test_pull_vendors_exact_bytes_and_pins_them(quickstart, recipes_server):
    result = recipe_cli("pull", quickstart, recipes_server, QWEN, "--hardware", "a100")
    assert result.exit_code == 0, result.stderr
    base = quickstart / "recipes" / f"{QWEN}.json"
    rendering = quickstart / "recipes" / QWEN / "hw" / "a100.json"
    lock = yaml.safe_load((quickstart / "runway.lock").read_text())
    pin = lock["recipes"][QWEN]
    assert pin["path"] == f"recipes/{QWEN}.json"
    assert pin["sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    assert pin["files"] == {
        f"recipes/{QWEN}/hw/a100.json": hashlib.sha256(rendering.read_bytes()).hexdigest()
    }
    assert pin["source"] == recipes_server.url


def test_apply_keeps_comments_is_idempotent_and_compiles_locked(quickstart, recipes_server):
    target = quickstart / "deployments/team-a/qwen.yaml"
    target.write_text(SOURCE)
    first = apply(quickstart, recipes_server, "--feature", "tool_calling")
    assert first.exit_code == 0, first.stderr
    text = target.read_text()
    for comment in ("# Team A's small Qwen", "# cost allocation", "# keep me"):
        assert comment in text
    doc = yaml.safe_load(text)
    assert doc["spec"]["env"] == [
        {"name": "EXTRA", "value": "1"},
        {"name": "VLLM_USE_V1", "value": "1"},
    ]
    assert doc["spec"]["engine"]["args"]["tool-call-parser"] == "hermes"
    assert doc["spec"]["resources"]["gpu"]["count"] == 1
    assert "recipe" not in doc["spec"]
    assert sorted(k for k in doc["metadata"]["annotations"]) == sorted(
        ["airunway.ai/generated-by"]
        + [
            f"airunway.ai/recipe.{k}"
            for k in (
                "source",
                "id",
                "strategy",
                "hardware",
                "variant",
                "precision",
                "revision",
                "features",
            )
        ]
    )

    again = apply(quickstart, recipes_server, "--feature", "tool_calling")
    assert again.exit_code == 0
    assert target.read_text() == text  # byte for byte
    assert "ModelDeployment qwen-tools unchanged" in again.stderr

    # A new ModelDeployment gets its provider pinned like any other; the image is pinned already.
    locked = run_cli("lock", quickstart, "--skip-images")
    assert locked.exit_code == 0, locked.stderr
    assert QWEN in yaml.safe_load((quickstart / "runway.lock").read_text())["recipes"]
    compiled = run_cli(
        "compile", quickstart, "--env", "dev", "--locked", "--out", quickstart / "out"
    )
    assert compiled.exit_code == 0, compiled.stderr
    manifest = (quickstart / "out/team-a/qwen-tools/manifest.yaml").read_text()
    assert "--tool-call-parser" in manifest


def test_reapply_with_blank_hardware_removes_that_annotation(quickstart, recipes_server):
    assert apply(quickstart, recipes_server, "--hardware", "a100").exit_code == 0
    target = quickstart / "deployments/team-a/qwen.yaml"
    assert (
        yaml.safe_load(target.read_text())["metadata"]["annotations"]["airunway.ai/recipe.hardware"]
        == "a100"
    )
    assert apply(quickstart, recipes_server, "--hardware", "").exit_code == 0
    annotations = yaml.safe_load(target.read_text())["metadata"]["annotations"]
    assert "airunway.ai/recipe.hardware" not in annotations
    assert all(str(v).strip() for v in annotations.values())


def test_apply_into_a_multi_document_file_touches_only_its_document():
    other = (
        "apiVersion: airunway.ai/v1alpha1\nkind: ModelDeployment\n"
        "metadata:\n  name: other  # untouched\nspec:\n  model:\n    id: x/y\n"
    )
    resolution = Resolution(
        "a/b", None, {"k": "v"}, [], [], 1, {"airunway.ai/generated-by": "vllm-recipe-resolver"}
    )
    text = apply_recipe(other, "new", "ns", resolution, "f.yaml")
    docs = list(yaml.safe_load_all(text))
    assert [d["metadata"]["name"] for d in docs] == ["other", "new"]
    assert "name: other  # untouched" in text
    assert apply_recipe(text, "new", "ns", resolution, "f.yaml") == text


def test_compile_locked_refuses_a_vendored_recipe_that_changed(quickstart, recipes_server):
    assert recipe_cli("pull", quickstart, recipes_server, QWEN, "--hardware", "a100").exit_code == 0
    assert (
        run_cli(
            "compile", quickstart, "--env", "dev", "--locked", "--out", quickstart / "o"
        ).exit_code
        == 0
    )

    rendering = quickstart / "recipes" / QWEN / "hw" / "a100.json"
    rendering.write_text(rendering.read_text().replace("16384", "65536"))
    edited = run_cli("compile", quickstart, "--env", "dev", "--locked", "--out", quickstart / "o")
    assert edited.exit_code == 1
    assert "error[RECIPE_PIN_MISMATCH]" in edited.stderr
    assert f"recipes/{QWEN}/hw/a100.json does not match its pin" in edited.stderr
    assert f"run `runwayc recipe pull {QWEN}`" in edited.stderr
    assert edited.stderr.startswith("runway.lock:")
    # runway.lock came from its memo; the position is read from the YAML all the same.
    uncached = run_cli(
        "compile", quickstart, "--env", "dev", "--locked", "--no-cache", "--out", quickstart / "o"
    )
    assert edited.stderr.splitlines()[0] == uncached.stderr.splitlines()[0]
    lock_lines = (quickstart / "runway.lock").read_text().splitlines()
    pin_line = lock_lines.index("recipes:") + lock_lines[lock_lines.index("recipes:") :].index(
        f"  {QWEN}:"
    )
    assert edited.stderr.startswith(f"runway.lock:{pin_line + 1}:")

    (quickstart / "recipes" / f"{QWEN}.json").unlink()
    missing = run_cli("compile", quickstart, "--env", "dev", "--locked", "--out", quickstart / "o")
    assert f"recipes/{QWEN}.json is missing" in missing.stderr
    # Without --locked the pins are not enforced (the lock is being worked on).
    assert run_cli("compile", quickstart, "--env", "dev", "--out", quickstart / "o").exit_code == 0


def test_a_strategy_rendering_is_fetched_through_alternatives(quickstart, recipes_server):
    """A strategy rendering that is only a command (argv, env, image) keeps the rest of the
    recipe; TP 4 x PP 2 gives 8 GPUs."""
    argv = ["vllm", "serve", QWEN, "--tensor-parallel-size", "4", "--pipeline-parallel-size", "2"]
    recipes_server.json(
        f"/{QWEN}/strategies/multi_node_tp.json",
        {
            "hardware": "h100",
            "strategy": "multi_node_tp",
            "variant": "default",
            "argv": argv,
            "env": {"NCCL_DEBUG": "WARN"},
            "docker_image": "vllm/vllm-openai:v0.11.0",
        },
    )
    shown = recipe_cli("show", quickstart, recipes_server, QWEN, "--strategy", "multi_node_tp")
    assert shown.exit_code == 0, shown.stderr
    data = yaml.safe_load(shown.stdout)
    assert data["gpuCount"] == 8
    assert data["env"] == [{"name": "NCCL_DEBUG", "value": "WARN"}]
    assert data["annotations"]["airunway.ai/recipe.strategy"] == "multi_node_tp"
    assert recipes_server.requests == [f"/{QWEN}.json", f"/{QWEN}/strategies/multi_node_tp.json"]
