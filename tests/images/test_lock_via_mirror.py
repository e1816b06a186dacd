"""`lock --via-mirror`: digests from the environment's imageMirrors, pins that name the
upstream reference (issue 26: offline and air-gapped teams pin through a mirror). Two real
registries: the upstream (stopped, as an air gap leaves it) and the mirror."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from compiler.core.errors import ImageError
from compiler.core.images import DEFAULT_IMAGE
from compiler.core.model import ImageMirror
from compiler.core.pins import answers_as_requested, references_to_ask
from tests.conftest import needs_binary, run_cli
from tests.helpers import md_yaml
from tests.images.registry import OCI_INDEX, OCI_MANIFEST, Registry, run_registry


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Registry]:
    with run_registry(needs_binary("docker-registry"), tmp_path / "mirror") as running:
        yield running


def copy_image(source: Registry, repo: str, tag: str, target: Registry, target_repo: str) -> str:
    """What filling a mirror does (`crane copy`, `skopeo copy`): the same blobs and the same
    manifest bytes under another name; returns the digest the target reports."""
    accept = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
    with httpx.Client(base_url=source.url, timeout=10) as client:
        manifest = client.get(f"/v2/{repo}/manifests/{tag}", headers=accept)
        assert manifest.status_code == 200, manifest.text
        document = manifest.json()
        for blob in [document["config"], *document["layers"]]:
            data = client.get(f"/v2/{repo}/blobs/{blob['digest']}").content
            assert target.push_blob(target_repo, data) == blob["digest"]
    with httpx.Client(base_url=target.url, timeout=10) as client:
        pushed = client.put(
            f"/v2/{target_repo}/manifests/{tag}",
            content=manifest.content,
            headers={"Content-Type": document["mediaType"]},
        )
        assert pushed.status_code == 201, pushed.text
        return str(pushed.headers["Docker-Content-Digest"])


def overlay(*mirrors: tuple[str, str]) -> str:
    entries = [{"from": source, "to": target} for source, target in mirrors]
    return yaml.safe_dump(
        {"apiVersion": "runwayc.dev/v1alpha1", "kind": "Overlay", "imageMirrors": entries}
    )


def lock_images(repo: Path) -> dict:
    return yaml.safe_load((repo / "runway.lock").read_text())["images"]


def test_pins_the_upstream_reference_with_the_mirror_digest(make_repo, registry, mirror, tmp_path):
    upstream_digest = registry.push_image("acme/vllm", "v1")
    assert copy_image(registry, "acme/vllm", "v1", mirror, "hub/acme/vllm") == upstream_digest
    registry.stop()  # the air gap: the upstream cannot be reached from here
    image = f"{registry.host}/acme/vllm:v1"
    repo = make_repo(
        {
            "deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image}),
            "overlays/dev.yaml": overlay((f"{registry.host}/acme", f"{mirror.host}/hub/acme")),
        }
    )
    direct = run_cli("lock", repo)
    assert f"cannot reach registry {registry.host}: connection refused" in direct.stderr
    assert "digest" not in lock_images(repo)[image]

    result = run_cli("lock", repo, "--via-mirror")
    assert result.exit_code == 0, result.stderr
    assert "runwayc: images: 1 resolved, 0 reused" in result.stderr
    pin = lock_images(repo)[image]
    assert pin["requested"] == image
    assert pin["repository"] == f"{registry.host}/acme/vllm"
    assert pin["digest"] == upstream_digest
    assert pin["resolved"] == f"{registry.host}/acme/vllm@{upstream_digest}"
    assert "unresolvedReason" not in pin

    # The environment pulls it from the mirror, by that digest.
    out = tmp_path / "out"
    compiled = run_cli("compile", repo, "--locked", "--out", out)
    assert compiled.exit_code == 0, compiled.stderr
    manifest = list(yaml.safe_load_all((out / "team-a/m/manifest.yaml").read_text()))
    (deployment,) = [o for o in manifest if o["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{mirror.host}/hub/acme/vllm@{upstream_digest}"


def test_the_default_image_is_pinned_with_no_request_off_the_machine(make_repo, mirror):
    # The Docker Hub default, resolved entirely through a loopback mirror: the test guard
    # (tests/conftest.py) fails any request to a registry that is not on this machine.
    digest = mirror.push_image("hub/vllm/vllm-openai", DEFAULT_IMAGE.rsplit(":", 1)[1])
    repo = make_repo(
        {
            "deployments/a.yaml": md_yaml(),
            "overlays/dev.yaml": overlay(("docker.io/vllm", f"{mirror.host}/hub/vllm")),
        }
    )
    result = run_cli("lock", repo, "--via-mirror")
    assert result.exit_code == 0, result.stderr
    pin = lock_images(repo)[DEFAULT_IMAGE]
    assert pin["digest"] == digest
    assert pin["resolved"] == f"docker.io/vllm/vllm-openai@{digest}"
    assert pin["source"] == "nightly"


def test_a_mirror_without_the_image_fails_and_never_asks_upstream(make_repo, registry, mirror):
    registry.push_image("acme/vllm", "v1")  # upstream has it, and is up: it must not be used
    image = f"{registry.host}/acme/vllm:v1"
    repo = make_repo(
        {
            "deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image}),
            "overlays/dev.yaml": overlay((f"{registry.host}/acme", f"{mirror.host}/hub/acme")),
        }
    )
    result = run_cli("lock", repo, "--via-mirror")
    reason = (
        f'image "{image}" through the mirror "{mirror.host}/hub/acme/vllm:v1": '
        "registry answered HTTP 404"
    )
    assert f"warning[IMAGE_UNRESOLVED]: ImageResolved=False: {reason}; " in result.stderr
    pin = lock_images(repo)[image]
    assert "digest" not in pin
    assert pin["unresolvedReason"] == reason


def test_the_default_image_missing_from_the_mirror_is_the_outage_gate(make_repo, mirror):
    repo = make_repo(
        {
            "deployments/a.yaml": md_yaml(),
            "overlays/dev.yaml": overlay(("docker.io/vllm", f"{mirror.host}/hub/vllm")),
        }
    )
    result = run_cli("lock", repo, "--via-mirror")
    assert result.exit_code == 1
    assert (
        "error[IMAGE_RESOLUTION_FAILED]: ImageResolutionFailed: default image could not be "
        f'resolved, so no pin is recorded and `compile --locked` will fail: image "{DEFAULT_IMAGE}"'
        f' through the mirror "{mirror.host}/hub/vllm/vllm-openai:cu130-nightly": registry '
        "answered HTTP 404"
    ) in result.stderr
    assert lock_images(repo) == {}


def test_via_mirror_is_refused_where_the_overlay_has_no_mirrors(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml()})  # the built-in dev overlay: none
    result = run_cli("lock", repo, "--via-mirror")
    assert result.exit_code == 2
    assert "Invalid value for --via-mirror: environment dev's overlay" in result.stderr
    assert "overlays/dev.yaml) has no imageMirrors to resolve through" in result.stderr
    assert not (repo / "runway.lock").exists()


def test_via_mirror_with_skip_images_is_refused(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    result = run_cli("lock", repo, "--via-mirror", "--skip-images")
    assert result.exit_code == 2
    assert "--via-mirror resolves images, and --skip-images resolves none" in result.stderr


def test_each_reference_is_asked_of_its_longest_mirror_or_its_own_registry():
    mirrors = [
        ImageMirror.model_validate({"from": "docker.io", "to": "m.example/hub"}),
        ImageMirror.model_validate({"from": "docker.io/vllm", "to": "m.example/vllm"}),
    ]
    wanted = ["vllm/vllm-openai:v0.11.0", "ubuntu:24.04", "quay.io/acme/x:v1"]
    assert references_to_ask(wanted, mirrors) == {
        "vllm/vllm-openai:v0.11.0": "m.example/vllm/vllm-openai:v0.11.0",
        "ubuntu:24.04": "m.example/hub/library/ubuntu:24.04",
        "quay.io/acme/x:v1": "quay.io/acme/x:v1",  # no mirror covers it
    }
    assert references_to_ask(wanted, None) == {reference: reference for reference in wanted}


def test_answers_come_back_under_the_reference_as_requested():
    asked = {"a/x:v1": "m.example/a/x:v1", "b/y:v1": "m.example/b/y:v1", "q.io/z:v1": "q.io/z:v1"}
    digest = "sha256:" + "1" * 64
    failure = ImageError('image "m.example/b/y:v1": registry answered HTTP 404')
    direct = ImageError('image "q.io/z:v1": registry answered HTTP 500')
    answers: dict[str, str | Exception] = {
        "m.example/a/x:v1": digest,
        "m.example/b/y:v1": failure,
        "q.io/z:v1": direct,
    }
    found = answers_as_requested(asked, answers)
    assert found["a/x:v1"] == digest
    assert str(found["b/y:v1"]) == (
        'image "b/y:v1" through the mirror "m.example/b/y:v1": registry answered HTTP 404'
    )
    assert found["q.io/z:v1"] is direct
