"""Docker's Bearer-token flow against the real registry configured with `auth.token`."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import needs_binary, run_cli
from tests.helpers import md_yaml
from tests.images.registry import run_registry, write_docker_config
from tests.images.token_issuer import token_issuer

USER, PASSWORD = "puller", "t0ken-pa55"


def docker_config(folder: Path, host: str, password: str) -> Path:
    return write_docker_config(folder, host, USER, password)


def test_bearer_token_flow_with_right_and_wrong_credentials(make_repo, tmp_path, monkeypatch):
    binary = needs_binary("docker-registry")
    storage = tmp_path / "registry"
    # Push through an open registry, then serve the same storage behind token auth.
    with run_registry(binary, storage) as open_registry:
        digest = open_registry.push_image("acme/gated", "v1")
    with (
        token_issuer(tmp_path / "issuer", USER, PASSWORD) as issuer,
        run_registry(binary, storage, issuer.registry_config()) as registry,
    ):
        image = f"{registry.host}/acme/gated:v1"
        repo = make_repo({"deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image})})

        monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "good", registry.host,
                                                              PASSWORD)))  # fmt: skip
        result = run_cli("lock", repo)
        assert result.exit_code == 0, result.stderr
        pin = yaml.safe_load((repo / "runway.lock").read_text())["images"][image]
        assert pin["digest"] == digest
        assert issuer.issued == ["repository:acme/gated:pull"]
        assert PASSWORD not in result.stderr + result.stdout

        monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "bad", registry.host,
                                                              "nope")))  # fmt: skip
        refused = run_cli("lock", repo, "--update", image)
        assert f'image "{image}": token service answered HTTP 401' in refused.stderr
        assert "nope" not in refused.stderr + refused.stdout
