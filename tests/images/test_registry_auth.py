"""Basic auth (htpasswd) against the real registry: right credentials resolve, wrong ones are
refused, and no secret appears in any output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import yaml

from tests.conftest import needs_binary, run_cli
from tests.helpers import md_yaml
from tests.images.registry import Registry, run_registry, write_docker_config

USER, PASSWORD = "ci-bot", "s3cret-pa55word"


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[Registry]:
    binary = needs_binary("docker-registry")
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    config = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {htpasswd}\n"
    with run_registry(binary, tmp_path / "registry", config, auth=(USER, PASSWORD)) as running:
        yield running


def docker_config(folder: Path, host: str, password: str) -> Path:
    return write_docker_config(folder, host, USER, password)


def test_right_credentials_resolve_and_wrong_ones_are_refused(
    basic_registry, make_repo, tmp_path, monkeypatch
):
    digest = basic_registry.push_image("acme/private", "v1")
    image = f"{basic_registry.host}/acme/private:v1"
    repo = make_repo({"deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image})})

    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "good", basic_registry.host,
                                                          PASSWORD)))  # fmt: skip
    result = run_cli("lock", repo)
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load((repo / "runway.lock").read_text())["images"][image]["digest"] == digest
    assert PASSWORD not in result.stderr + result.stdout

    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "bad", basic_registry.host,
                                                          "wrong-password")))  # fmt: skip
    refused = run_cli("lock", repo, "--update", image)
    assert f'image "{image}": registry answered HTTP 401' in refused.stderr
    assert "wrong-password" not in refused.stderr + refused.stdout
    lock_text = (repo / "runway.lock").read_text()
    assert PASSWORD not in lock_text
    assert "wrong-password" not in lock_text


def test_no_credentials_is_a_clear_refusal(basic_registry, make_repo, tmp_path, monkeypatch):
    basic_registry.push_image("acme/private", "v1")
    image = f"{basic_registry.host}/acme/private:v1"
    repo = make_repo({"deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image})})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))
    result = run_cli("lock", repo)
    assert f'image "{image}": registry requires credentials (HTTP 401)' in result.stderr
