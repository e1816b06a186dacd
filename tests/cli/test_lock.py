"""`runwayc lock` records providers; provider.name is immutable once recorded."""

from __future__ import annotations

import yaml

from tests.conftest import run_cli
from tests.helpers import line_col, md_yaml

IMMUTABLE = "provider.name is immutable (changing it requires delete and recreate)"
# What AI Runway's webhook compares on update, as `lock` records it for md_yaml's spec.
RECORD = {
    "modelId": "Qwen/Qwen2.5-0.5B-Instruct",
    "modelSource": "huggingface",
    "engineType": "vllm",
    "servingMode": "aggregated",
    "managedVolumes": [],
}


def lock_providers(repo) -> dict:
    return yaml.safe_load((repo / "runway.lock").read_text())["providers"]


def test_lock_records_explicit_provider_and_reason(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml("m", "team-a")})
    result = run_cli("lock", repo, "--skip-images")
    assert result.exit_code == 0, result.stderr
    assert lock_providers(repo) == {
        "team-a/m": {
            "name": "vllm",
            "reason": "explicit: spec.provider.name",
            "engine": "vllm",
            "engineReason": "explicit engine selection",
            "immutable": RECORD,
        }
    }
    before = (repo / "runway.lock").read_bytes()
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    assert (repo / "runway.lock").read_bytes() == before  # a re-lock changes no byte


def test_changing_provider_of_a_locked_md_is_rejected(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_yaml("m", "team-a")})
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    changed = md_yaml("m", "team-a", provider={"name": "kuberay"})
    (repo / "deployments" / "a.yaml").write_text(changed)
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    assert result.exit_code == 1
    line, col = line_col(changed, "name: kuberay")
    assert (
        f"deployments/a.yaml:{line}:{col}: error[PROVIDER_IMMUTABLE]: "
        f'spec.provider.name: Invalid value: "kuberay": {IMMUTABLE}'
    ) in result.stderr
    # lock does not launder the change either: the pin stays.
    assert run_cli("lock", repo, "--skip-images").exit_code == 1
    assert lock_providers(repo)["team-a/m"]["name"] == "vllm"


def test_provider_typo_on_a_locked_md_names_the_unknown_provider(make_repo, tmp_path):
    # Issue 26: `provider: vLLM` on a locked model said PROVIDER_IMMUTABLE, sending the user
    # to delete and recreate the model over a spelling.
    repo = make_repo({"deployments/a.yaml": md_yaml("m", "team-a")})
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    typo = md_yaml("m", "team-a", provider={"name": "vLLM"})
    (repo / "deployments" / "a.yaml").write_text(typo)
    for command in (("compile", repo, "--out", tmp_path / "out"), ("lock", repo, "--skip-images")):
        result = run_cli(*command)
        assert result.exit_code == 1
        line, col = line_col(typo, "name: vLLM")
        assert (
            f"deployments/a.yaml:{line}:{col}: error[UNKNOWN_PROVIDER]: "
            'spec.provider.name: Invalid value: "vLLM": InferenceProviderConfig "vLLM" not '
            'found (the catalog has: dynamo, kaito, kuberay, llmd, vllm); did you mean "vllm"?'
        ) in result.stderr
        assert "PROVIDER_IMMUTABLE" not in result.stderr
    assert lock_providers(repo)["team-a/m"]["name"] == "vllm"


def test_forget_is_the_delete_and_recreate_path(make_repo, tmp_path):
    auto = md_yaml("m", "team-a", provider={}, resources={"gpu": {"count": 4}})
    repo = make_repo({"deployments/a.yaml": auto})
    assert run_cli("lock", repo, "--skip-images").exit_code == 0  # kuberay is chosen
    assert lock_providers(repo)["team-a/m"]["name"] == "kuberay"
    explicit = md_yaml("m", "team-a", resources={"gpu": {"count": 4}})
    (repo / "deployments" / "a.yaml").write_text(explicit)
    assert run_cli("compile", repo, "--out", tmp_path / "o").exit_code == 1
    result = run_cli("lock", repo, "--skip-images", "--forget", "team-a/m")
    assert result.exit_code == 0, result.stderr
    assert lock_providers(repo)["team-a/m"] == {
        "name": "vllm",
        "reason": "explicit: spec.provider.name",
        "engine": "vllm",
        "engineReason": "explicit engine selection",
        "immutable": RECORD,
    }
    assert run_cli("compile", repo, "--out", tmp_path / "o").exit_code == 0


def test_auto_selection_is_recorded_and_then_sticks(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml(provider={}, resources={"gpu": {"count": 4}})})
    run_cli("lock", repo, "--skip-images")
    pin = lock_providers(repo)["team-a/m"]
    assert pin["name"] == "kuberay"
    assert pin["reason"] == (
        "matched capabilities: engine=vllm, gpu=4, mode=aggregated; priority 80"
    )


def test_compile_locked_fails_without_a_recorded_provider(make_repo, tmp_path):
    text = md_yaml("m", "team-a")
    repo = make_repo({"deployments/a.yaml": text})
    result = run_cli("compile", repo, "--locked", "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert (
        "error[PROVIDER_NOT_LOCKED]: metadata.name: no provider is recorded in runway.lock "
        "for team-a/m; run `runwayc lock`"
    ) in result.stderr


def test_compile_locked_fails_on_an_unpinned_image(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_yaml("m", "team-a")})
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    result = run_cli("compile", repo, "--locked", "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert (
        'error[IMAGE_NOT_PINNED]: spec: image "vllm/vllm-openai:cu130-nightly" has no digest '
        "pin in runway.lock; run `runwayc lock`\n"
    ) in result.stderr


def test_quickstart_compiles_locked_with_pinned_digests(quickstart, tmp_path):
    out = tmp_path / "out"
    result = run_cli("compile", quickstart, "--env", "dev", "--locked", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "0 error(s), 1 warning(s)" in result.stderr  # llama's trustRemoteCode warning
    assert "IMAGE_NOT_PINNED" not in result.stderr
    for manifest in out.rglob("manifest.yaml"):
        for obj in yaml.safe_load_all(manifest.read_text()):
            if obj["kind"] == "Deployment":
                image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
                assert "@sha256:" in image


def test_removed_md_pin_is_pruned(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml("one"), "deployments/b.yaml": md_yaml("two")})
    run_cli("lock", repo, "--skip-images")
    (repo / "deployments" / "b.yaml").unlink()
    run_cli("lock", repo, "--skip-images")
    assert set(lock_providers(repo)) == {"team-a/one"}
