"""`lock` keeps the pins of every ModelDeployment still in the repository, broken or not, and
prunes (and names) only those of deleted ones. Against a real registry, so a moved tag would
show as a moved pin."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import run_cli
from tests.helpers import md_yaml


def lock_data(repo) -> dict:
    return yaml.safe_load((repo / "runway.lock").read_text())


# Ways a spec stops parsing while its file stays: a YAML typo, a field typo, a wrong type.
BREAKAGES = {
    "yaml-syntax": lambda text: text.replace("spec:", "spec:\n  bogus: [", 1),
    "unknown-field": lambda text: text.replace("resources:", "resorces:", 1),
    "wrong-type": lambda text: text.replace("spec:", "spec:\n  scaling: 3", 1),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_an_unparsable_spec_keeps_its_provider_and_image_pins(make_repo, registry, breakage):
    first = registry.push_image("acme/vllm", "v1", salt="one")
    image = f"{registry.host}/acme/vllm:v1"

    def auto(gpus: int) -> str:
        engine = {"type": "vllm", "image": image}
        return md_yaml("m", provider={}, engine=engine, resources={"gpu": {"count": gpus}})

    text = auto(4)  # kuberay, by selection
    other = md_yaml("other", engine={"type": "vllm", "image": image})
    repo = make_repo({"deployments/a.yaml": text, "deployments/b.yaml": other})
    assert run_cli("lock", repo).exit_code == 0
    before = lock_data(repo)
    assert before["providers"]["team-a/m"]["name"] == "kuberay"
    assert before["images"][image]["digest"] == first

    # One edit: a typo, and a GPU count that would select another provider (dynamo).
    edited = auto(1)
    (repo / "deployments/a.yaml").write_text(breakage(edited))
    broken = run_cli("lock", repo)
    assert broken.exit_code == 1
    errors = [line for line in broken.stderr.splitlines() if ": error[" in line]
    assert errors, broken.stderr
    assert all(line.startswith("deployments/a.yaml:") for line in errors), broken.stderr
    assert "pruned" not in broken.stderr
    assert lock_data(repo)["providers"] == before["providers"]
    assert lock_data(repo)["images"][image] == before["images"][image]

    # Upstream moves the tag; the typo is fixed. Neither moves a pin without --update/--forget.
    assert registry.push_image("acme/vllm", "v1", salt="two") != first
    (repo / "deployments/a.yaml").write_text(edited)
    fixed = run_cli("lock", repo)
    assert lock_data(repo)["providers"]["team-a/m"]["name"] == "kuberay", fixed.stderr
    assert lock_data(repo)["images"][image]["digest"] == first


def test_lock_prunes_only_deleted_models_and_says_which(make_repo, registry):
    registry.push_image("acme/vllm", "v1")
    registry.push_image("acme/gone", "v1")
    kept, gone = f"{registry.host}/acme/vllm:v1", f"{registry.host}/acme/gone:v1"
    files = {
        "deployments/a.yaml": md_yaml("one", engine={"type": "vllm", "image": kept}),
        "deployments/b.yaml": md_yaml("two", engine={"type": "vllm", "image": gone}),
        "deployments/c.yaml": md_yaml("three", engine={"type": "vllm", "image": kept}),
    }
    repo = make_repo(files)
    assert run_cli("lock", repo).exit_code == 0
    (repo / "deployments/b.yaml").unlink()
    (repo / "deployments/c.yaml").write_text(md_yaml("three", engine={"type": "vllm"}) + "  x: [")
    result = run_cli("lock", repo)
    assert result.exit_code == 1
    # c.yaml cannot be read far enough to name its models: nothing unaccounted is pruned yet.
    assert "pruned" not in result.stderr
    assert set(lock_data(repo)["providers"]) == {"team-a/one", "team-a/two", "team-a/three"}
    (repo / "deployments/c.yaml").write_text(files["deployments/c.yaml"])
    result = run_cli("lock", repo)
    assert result.exit_code == 0, result.stderr
    pruned = [line for line in result.stderr.splitlines() if "pruned" in line]
    assert pruned == [
        "runwayc: runway.lock: pruned the provider pin of team-a/two: no such ModelDeployment "
        "in the repository any more",
        f"runwayc: runway.lock: pruned the image pin of {gone}: no ModelDeployment uses it any "
        "more",
    ]
    assert set(lock_data(repo)["providers"]) == {"team-a/one", "team-a/three"}
    assert set(lock_data(repo)["images"]) == {kept}


def test_lock_does_not_warn_about_the_images_it_just_pinned(make_repo, registry, tmp_path):
    registry.push_image("acme/vllm", "v1")
    image = f"{registry.host}/acme/vllm:v1"
    repo = make_repo({"deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image})})
    result = run_cli("lock", repo)
    assert result.exit_code == 0, result.stderr
    assert "IMAGE_NOT_PINNED" not in result.stderr
    assert "warning[" not in result.stderr
    assert lock_data(repo)["images"][image]["digest"].startswith("sha256:")
    compiled = run_cli("compile", repo, "--locked", "--out", tmp_path / "o")
    assert compiled.exit_code == 0, compiled.stderr
    assert "warning[" not in compiled.stderr


def test_a_failed_update_keeps_the_pin(make_repo, registry):
    first = registry.push_image("acme/vllm", "v1")
    image = f"{registry.host}/acme/vllm:v1"
    repo = make_repo({"deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image})})
    assert run_cli("lock", repo).exit_code == 0
    registry.stop()
    result = run_cli("lock", repo, "--update", image)
    assert result.exit_code == 1
    assert (
        f"error[IMAGE_RESOLUTION_FAILED]: ImageResolutionFailed: --update could not resolve the "
        f"image, so its pin stays at {first}: "
    ) in result.stderr
    assert lock_data(repo)["images"][image]["digest"] == first
