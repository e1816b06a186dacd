"""Every shape the recipes API serves applies, or is refused saying what the recipe is and why
runwayc cannot render it (issue 25). Each model of the fixture API (tests/fixtures/recipes-api,
real shapes, illustrative values) goes through `recipe apply`; so do the renderings a
selection reaches (another vendor's hardware, a multi-node or disaggregated strategy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from compiler.core.errors import RecipeUnsupportedError
from compiler.core.recipes import HardwareProfile, hardware_vendor, parse_recipe
from tests.conftest import run_cli
from tests.recipes.conftest import RECIPES_API, RecipesServer, recipe_cli

OUTPUT = "deployments/team-a/recipe.yaml"

# What each model of the fixture API does under `recipe apply` with no selection: the image
# it runs, or the words of its refusal.
APPLIES = {
    "Qwen/Qwen2.5-0.5B-Instruct": "vllm/vllm-openai:v0.11.0",
    "microsoft/Phi-4-mini-instruct": "vllm/vllm-openai:latest",
    # model.docker_image {nvidia, amd}; the recommendation is on H100 (brand NVIDIA).
    "meta-llama/Llama-3.1-8B-Instruct": "vllm/vllm-openai:v0.11.0",
    # model.docker_image {amd}; the recommendation is on MI300X (brand AMD).
    "amd/Llama-3.3-70B-Instruct-FP8-KV": "rocm/vllm:rocm6.4.1_vllm_0.10.1",
}
REFUSED = {
    "Qwen/Qwen-Image": (
        "recipe Qwen/Qwen-Image is a vLLM-Omni recipe (it serves with `vllm serve "
        "Qwen/Qwen-Image --omni`; tasks: t2i, i2i); runwayc cannot render it yet: --omni hands "
        "the whole command line to vLLM-Omni's own parser and deploy config, which runwayc "
        "does not check, so it is reserved for Direct vLLM"
    ),
    "stabilityai/stable-audio-open-1.0": (
        "recipe stabilityai/stable-audio-open-1.0 is a vLLM-Omni recipe (it serves with "
        "`vllm-omni serve stabilityai/stable-audio-open-1.0 --omni`; tasks: t2a); runwayc "
        "cannot render it yet"
    ),
    "deepseek-ai/DeepSeek-R1-0528": (
        "recipe deepseek-ai/DeepSeek-R1-0528's rendering (hardware h100, strategy "
        "multi_node_tp) is multi_node: one vLLM server spread over 2 nodes, a head command and "
        "a worker command per node (head_argv, worker_argv); runwayc renders one vLLM server "
        "per replica (single_node) and cannot render it"
    ),
    "moonshotai/Kimi-K2-Instruct": (
        "recipe moonshotai/Kimi-K2-Instruct has no recommended_command: the recipes API "
        "published no command for it"
    ),
    "nvidia/Llama-3.3-70B-Instruct-FP4": (
        "recipe nvidia/Llama-3.3-70B-Instruct-FP4's model.docker_image for nvidia is per CUDA "
        "version (cu129, cu130); runwayc cannot tell which CUDA the nodes' driver runs"
    ),
}


def fixture_models() -> list[str]:
    return [m["hf_id"] for m in json.loads((RECIPES_API / "models.json").read_text())]


def apply(repo: Path, server: RecipesServer, model: str, *selection: str):
    return recipe_cli(
        "apply", repo, server, model, "--name", "from-recipe", "-o", OUTPUT, *selection
    )


def applied_spec(repo: Path) -> dict:
    return yaml.safe_load((repo / OUTPUT).read_text())["spec"]


def assert_refused(repo: Path, result, words: str) -> None:
    """Refused (exit 2) with `words`, and nothing written or pinned."""
    assert result.exit_code == 2, result.stderr
    assert words in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr
    assert not (repo / OUTPUT).exists()
    assert not (repo / "recipes").exists()


def test_every_model_of_the_fixture_api_is_accounted_for():
    assert sorted(fixture_models()) == sorted([*APPLIES, *REFUSED])
    assert (len(APPLIES), len(REFUSED)) == (4, 5)


@pytest.mark.parametrize("model", fixture_models())
def test_each_model_applies_or_is_refused_with_its_true_reason(quickstart, recipes_server, model):
    result = apply(quickstart, recipes_server, model)
    if model in REFUSED:
        assert_refused(quickstart, result, REFUSED[model])
        assert "Field required" not in result.stderr
        return
    assert result.exit_code == 0, result.stderr
    spec = applied_spec(quickstart)
    assert spec["model"]["id"] == model
    assert spec["engine"]["image"] == APPLIES[model]
    assert spec["engine"]["args"]  # the recipe's command line, not an empty one


def test_the_image_is_the_amd_one_on_amd_hardware(quickstart, recipes_server):
    result = apply(
        quickstart, recipes_server, "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "mi300x"
    )
    assert result.exit_code == 0, result.stderr
    spec = applied_spec(quickstart)
    assert spec["engine"]["image"] == "vllm/vllm-openai-rocm:v0.11.0"
    assert {"name": "VLLM_ROCM_USE_AITER", "value": "1"} in spec["env"]


def test_a_single_variant_image_is_nvidias_and_not_run_on_amd_hardware():
    """A plain `docker_image` is NVIDIA's (the recipes site's rule); on AMD hardware the
    rendering's own image (the API's AMD choice) is used."""
    from compiler.core.recipes import Recipe, Selection, parse_rendering, resolve
    from compiler.io.workspace import load_policy

    model = "meta-llama/Llama-3.1-8B-Instruct"
    data = json.loads((RECIPES_API / f"{model}.json").read_text())
    del data["model"]["docker_image"]
    data["variants"]["default"]["docker_image"] = "vllm/vllm-openai:v0.11.0"
    base = Recipe.model_validate(data)
    amd = json.loads((RECIPES_API / model / "hw" / "mi300x.json").read_text())
    images = {
        hardware: resolve(
            recipe, Selection(), source="s", revision="r", flags=load_policy(None).flags
        ).image
        for hardware, recipe in (("h100", base), ("mi300x", parse_rendering(amd, base, "u")))
    }
    assert images == {
        "h100": "vllm/vllm-openai:v0.11.0",
        "mi300x": "vllm/vllm-openai-rocm:v0.11.0",
    }


def test_a_vendor_map_recipe_keeps_apply_guarantees(quickstart, recipes_server):
    """Re-applying is a byte-for-byte no-op, comments stay, and the documents are pinned."""
    model = "meta-llama/Llama-3.1-8B-Instruct"
    first = apply(quickstart, recipes_server, model, "--hardware", "mi300x")
    assert first.exit_code == 0, first.stderr
    path = quickstart / OUTPUT
    path.write_text("# owned by team a\n" + path.read_text())
    before = path.read_bytes()
    again = apply(quickstart, recipes_server, model, "--hardware", "mi300x")
    assert again.exit_code == 0, again.stderr
    assert "ModelDeployment from-recipe unchanged" in again.stderr
    assert path.read_bytes() == before
    lock = yaml.safe_load((quickstart / "runway.lock").read_text())
    assert model in str(lock)
    assert (quickstart / "recipes" / model / "hw" / "mi300x.json").is_file()


def test_a_vendor_the_image_map_leaves_out_is_refused(quickstart, recipes_server):
    """The API renders its unpinned default (`vllm/vllm-tpu:latest`) there; runwayc refuses."""
    result = apply(
        quickstart, recipes_server, "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "trillium"
    )
    assert_refused(
        quickstart,
        result,
        "recipe meta-llama/Llama-3.1-8B-Instruct has no image for tpu hardware (trillium): its "
        "model.docker_image is per vendor and lists amd, nvidia",
    )


def test_an_amd_only_image_map_refuses_nvidia_hardware(quickstart, recipes_server):
    result = apply(
        quickstart, recipes_server, "amd/Llama-3.3-70B-Instruct-FP8-KV", "--hardware", "h200"
    )
    assert_refused(
        quickstart,
        result,
        "recipe amd/Llama-3.3-70B-Instruct-FP8-KV has no image for nvidia hardware (h200): its "
        "model.docker_image is per vendor and lists amd",
    )


def test_a_multi_node_model_applies_on_hardware_where_it_fits_one_node(quickstart, recipes_server):
    result = apply(quickstart, recipes_server, "deepseek-ai/DeepSeek-R1-0528", "--hardware", "b200")
    assert result.exit_code == 0, result.stderr
    spec = applied_spec(quickstart)
    assert spec["resources"]["gpu"]["count"] == 8
    assert spec["engine"]["args"]["tensor-parallel-size"] == "8"


@pytest.mark.parametrize(
    ("model", "strategy", "words"),
    [
        (
            "Qwen/Qwen2.5-0.5B-Instruct",
            "multi_node_tp",
            "recipe Qwen/Qwen2.5-0.5B-Instruct's rendering (hardware h100, strategy "
            "multi_node_tp) is multi_node: one vLLM server spread over 2 nodes",
        ),
        (
            "deepseek-ai/DeepSeek-R1-0528",
            "pd_cluster",
            "rendering (hardware h100, strategy pd_cluster) is pd_cluster: separate prefill and "
            "decode vLLM servers behind a router (prefill, decode, router); runwayc renders one "
            "vLLM server per replica (single_node)",
        ),
        (
            "meta-llama/Llama-3.1-8B-Instruct",
            "kv_store_centralized_mooncake",
            "strategy kv_store_centralized_mooncake) is kv_store_lb: vLLM instances behind a "
            "router sharing a Mooncake KV store",
        ),
    ],
)
def test_strategies_that_are_not_one_server_are_refused(
    quickstart, recipes_server, model, strategy, words
):
    result = apply(quickstart, recipes_server, model, "--strategy", strategy)
    assert_refused(quickstart, result, words)
    assert "not a recipe" not in result.stderr


def test_pull_of_an_omni_recipe_is_refused_with_what_it_is(quickstart, recipes_server):
    result = recipe_cli("pull", quickstart, recipes_server, "Qwen/Qwen-Image")
    assert_refused(quickstart, result, "is a vLLM-Omni recipe")


@pytest.mark.parametrize("through", ["argv", "feature"])
def test_an_omni_token_in_a_command_is_refused_not_dropped(through):
    """FlagRules.reserves drops a reserved flag with a warning; `--omni` would change which
    server runs, so the rendering is refused instead, whether the command or a feature
    brings it."""
    from compiler.core.recipes import Recipe, Selection, resolve
    from compiler.io.workspace import load_policy

    data = json.loads((RECIPES_API / "Qwen" / "Qwen2.5-0.5B-Instruct.json").read_text())
    if through == "argv":
        data["recommended_command"]["argv"] += ["--omni"]
    else:
        data["features"]["omni_mode"] = {"args": ["--omni"]}
    selection = Selection(features=("omni_mode",) if through == "feature" else ())
    with pytest.raises(RecipeUnsupportedError, match=r"serves with --omni \(vLLM-Omni\)"):
        resolve(
            Recipe.model_validate(data),
            selection,
            source="s",
            revision="r",
            flags=load_policy(None).flags,
        )


def test_a_document_with_an_omni_block_is_named_an_omni_recipe_even_with_a_command():
    data = json.loads((RECIPES_API / "Qwen" / "Qwen2.5-0.5B-Instruct.json").read_text())
    data["omni"] = {"tasks": ["t2i"]}
    with pytest.raises(RecipeUnsupportedError, match="is a vLLM-Omni recipe"):
        parse_recipe(data, "https://x/y.json")


@pytest.mark.parametrize(
    ("profile", "vendor"),
    [
        ({"brand": "NVIDIA", "generation": "hopper"}, "nvidia"),
        ({"brand": "AMD", "generation": "cdna3"}, "amd"),
        ({"brand": "Google", "generation": "tpu"}, "tpu"),
        ({"brand": "Intel", "generation": "cpu"}, "intel"),
        ({"brand": "Huawei", "generation": "ascend"}, "ascend"),
        ({"display_name": "H100"}, None),
    ],
)
def test_the_vendor_comes_from_the_hardware_profile(profile, vendor):
    assert hardware_vendor(HardwareProfile.model_validate(profile)) == vendor


AMD = "amd/Llama-3.3-70B-Instruct-FP8-KV"


def amd_reference(hardware: str) -> str:
    return f"""\
apiVersion: airunway.ai/v1alpha1
kind: ModelDeployment
metadata:
  name: amd-ref
  namespace: team-a
  annotations:
    airunway.ai/recipe.id: {AMD}
    airunway.ai/recipe.hardware: {hardware}
spec:
  model: {{}}
  provider:
    name: vllm
"""


def compile_amd_reference(repo: Path, server: RecipesServer, hardware: str):
    pulled = recipe_cli("pull", repo, server, AMD, "--hardware", hardware)
    assert pulled.exit_code == 0, pulled.stderr  # pull vendors; it does not resolve
    (repo / "deployments/team-a/amd.yaml").write_text(amd_reference(hardware))
    # Not --locked: the AMD image has no digest in the quickstart's lock, and no registry
    # is reachable from the tests; what matters here is the materialised spec.
    return run_cli("compile", repo, "--env", "dev", "--out", repo / "out")


def test_compile_materialises_a_vendor_map_for_the_referenced_hardware(quickstart, recipes_server):
    result = compile_amd_reference(quickstart, recipes_server, "mi300x")
    assert result.exit_code == 0, result.stderr
    objects = yaml.safe_load_all((quickstart / "out/team-a/amd-ref/manifest.yaml").read_text())
    md = next(o for o in objects if o["kind"] == "ModelDeployment")
    assert md["spec"]["engine"]["image"] == "rocm/vllm:rocm6.4.1_vllm_0.10.1", result.stderr


def test_compile_refuses_a_reference_whose_vendor_has_no_image(quickstart, recipes_server):
    result = compile_amd_reference(quickstart, recipes_server, "h200")
    assert result.exit_code == 1
    assert (
        "deployments/team-a/amd.yaml:7:5: error[RECIPE_UNRESOLVED]: "
        f"metadata.annotations['airunway.ai/recipe.id']: recipe \"{AMD}\": recipe {AMD} has "
        "no image for nvidia hardware (h200)"
    ) in result.stderr
