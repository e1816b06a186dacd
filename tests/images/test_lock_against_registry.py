"""`runwayc lock` against a real registry (Debian's docker-registry on loopback)."""

from __future__ import annotations

import yaml

from tests.conftest import run_cli
from tests.helpers import md_yaml


def lock_images(repo) -> dict:
    return yaml.safe_load((repo / "runway.lock").read_text())["images"]


def user_image_repo(make_repo, image: str):
    return make_repo({"deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image})})


def test_pins_the_registry_digest_and_compiles_locked(make_repo, registry, tmp_path):
    digest = registry.push_image("acme/vllm", "v1")
    image = f"{registry.host}/acme/vllm:v1"
    repo = user_image_repo(make_repo, image)
    result = run_cli("lock", repo)
    assert result.exit_code == 0, result.stderr
    pin = lock_images(repo)[image]
    assert pin["digest"] == digest
    assert pin["resolved"] == f"{registry.host}/acme/vllm@{digest}"
    assert pin["source"] == "custom"
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--locked", "--out", out).exit_code == 0
    manifest = list(yaml.safe_load_all((out / "team-a/m/manifest.yaml").read_text()))
    (deployment,) = [o for o in manifest if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == pin["resolved"]


def test_multi_arch_image_pins_the_index_digest(make_repo, registry):
    index_digest, platform_digests = registry.push_index("acme/multi", "v2")
    image = f"{registry.host}/acme/multi:v2"
    repo = user_image_repo(make_repo, image)
    assert run_cli("lock", repo).exit_code == 0
    pinned = lock_images(repo)[image]["digest"]
    assert pinned == index_digest
    assert pinned not in platform_digests


def test_pin_is_reused_until_update(make_repo, registry):
    first = registry.push_image("acme/vllm", "v1", salt="one")
    image = f"{registry.host}/acme/vllm:v1"
    repo = user_image_repo(make_repo, image)
    assert run_cli("lock", repo).exit_code == 0
    second = registry.push_image("acme/vllm", "v1", salt="two")  # re-tag upstream
    assert second != first
    before = (repo / "runway.lock").read_bytes()
    result = run_cli("lock", repo)
    assert "0 resolved, 1 reused (ImageResolutionReused)" in result.stderr
    assert (repo / "runway.lock").read_bytes() == before
    assert run_cli("lock", repo, "--update", image).exit_code == 0
    assert lock_images(repo)[image]["digest"] == second


def test_registry_down_user_image_compiles_with_warning(make_repo, registry, tmp_path):
    image = f"{registry.host}/acme/vllm:v1"
    registry.stop()
    repo = user_image_repo(make_repo, image)
    result = run_cli("lock", repo)
    assert result.exit_code == 0, result.stderr
    assert "warning[IMAGE_UNRESOLVED]" in result.stderr
    pin = lock_images(repo)[image]
    assert "digest" not in pin
    # The host is named: with many registries, the reason alone does not say which is down.
    assert pin["unresolvedReason"] == (
        f'image "{image}": cannot reach registry {registry.host}: connection refused'
    )
    compiled = run_cli("compile", repo, "--locked", "--out", tmp_path / "o")
    assert compiled.exit_code == 0, compiled.stderr
    assert "warning[IMAGE_UNRESOLVED]" in compiled.stderr


def test_default_image_outage_records_nothing_and_fails_locked(make_repo, tmp_path):
    # The default image lives on Docker Hub, which tests may not reach: an outage by design.
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    result = run_cli("lock", repo)
    assert result.exit_code == 1
    assert "error[IMAGE_RESOLUTION_FAILED]" in result.stderr
    assert lock_images(repo) == {}
    compiled = run_cli("compile", repo, "--locked", "--out", tmp_path / "o")
    assert compiled.exit_code == 1
    assert "error[IMAGE_NOT_PINNED]" in compiled.stderr
    assert not (tmp_path / "o").exists()


def test_missing_tag_is_a_warning_naming_the_status(make_repo, registry):
    image = f"{registry.host}/acme/absent:v9"
    repo = user_image_repo(make_repo, image)
    result = run_cli("lock", repo)
    assert f'image "{image}": registry answered HTTP 404' in result.stderr


def test_images_table_lists_reference_source_digest_age_and_users(make_repo, registry):
    digest = registry.push_image("acme/vllm", "v1")
    image = f"{registry.host}/acme/vllm:v1"
    repo = user_image_repo(make_repo, image)
    assert run_cli("lock", repo).exit_code == 0
    table = run_cli("images", repo)
    assert table.exit_code == 0
    header, row = table.stdout.splitlines()
    assert header.split() == ["REFERENCE", "SOURCE", "DIGEST", "AGE", "USED", "BY"]
    cells = row.split()
    assert cells[:3] == [image, "custom", digest]
    assert cells[3].endswith("s") or cells[3].endswith("m")
    assert cells[4] == "deployments/a.yaml"


def test_digest_only_reference_needs_no_resolution(make_repo, registry, tmp_path):
    digest = registry.push_image("acme/vllm", "v1")
    image = f"{registry.host}/acme/vllm@{digest}"
    registry.stop()  # nothing may be asked of the registry
    repo = user_image_repo(make_repo, image)
    result = run_cli("lock", repo)
    assert result.exit_code == 0, result.stderr
    assert lock_images(repo)[image]["resolved"] == image
    assert run_cli("compile", repo, "--locked", "--out", tmp_path / "o").exit_code == 0


def test_compile_never_touches_the_network(make_repo, registry, tmp_path, monkeypatch):
    registry.push_image("acme/vllm", "v1")
    image = f"{registry.host}/acme/vllm:v1"
    repo = user_image_repo(make_repo, image)
    assert run_cli("lock", repo).exit_code == 0

    import compiler.io.registry

    def refuse(*args, **kwargs):
        raise AssertionError("compile reached for the network")

    monkeypatch.setattr(compiler.io.registry.RegistryClient, "_client", refuse)
    registry.stop()
    assert run_cli("compile", repo, "--locked", "--out", tmp_path / "o").exit_code == 0
    assert run_cli("check", repo, "--locked").exit_code == 0


def test_concurrent_locks_do_not_corrupt_the_lock_file(make_repo, registry):
    import subprocess
    import sys

    images = []
    for i in range(6):
        registry.push_image("acme/vllm", f"v{i}")
        images.append(f"{registry.host}/acme/vllm:v{i}")
    files = {
        f"deployments/m{i}.yaml": md_yaml(f"m{i}", engine={"type": "vllm", "image": image})
        for i, image in enumerate(images)
    }
    repo = make_repo(files)
    command = [sys.executable, "-m", "compiler.cli", "lock", str(repo)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(4)]  # fmt: skip
    for run in runs:
        run.communicate(timeout=60)
        assert run.returncode == 0
    lock = yaml.safe_load((repo / "runway.lock").read_text())
    assert sorted(lock["images"]) == sorted(images)
    assert sorted(lock["providers"]) == [f"team-a/m{i}" for i in range(6)]
