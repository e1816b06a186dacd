"""A real OCI registry for tests: Debian's docker-registry on a free loopback port, and a
small pusher that uploads blobs and manifests over the distribution API."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def write_docker_config(folder: Path, host: str, username: str, password: str) -> Path:
    """A DOCKER_CONFIG folder whose config.json holds `auths` for `host`."""
    import base64

    folder.mkdir(parents=True)
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    auth: tuple[str, str] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with httpx.Client(base_url=self.url, timeout=10, auth=self.auth) as client:
            start = client.post(f"/v2/{repo}/blobs/uploads/")
            assert start.status_code == 202, start.text
            location = start.headers["Location"]
            separator = "&" if "?" in location else "?"
            done = client.put(
                f"{location}{separator}digest={digest}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert done.status_code == 201, done.text
        return digest

    def push_manifest(self, repo: str, tag: str, manifest: dict, media_type: str) -> str:
        body = json.dumps(manifest, separators=(",", ":")).encode()
        with httpx.Client(base_url=self.url, timeout=10, auth=self.auth) as client:
            response = client.put(
                f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": media_type}
            )
            assert response.status_code == 201, response.text
            return str(response.headers["Docker-Content-Digest"])

    def push_image(self, repo: str, tag: str, salt: str = "") -> str:
        """A single-platform OCI image; returns the manifest digest the registry reports."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "salt": salt}).encode()
        layer = f"layer {repo} {tag} {salt}".encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": self.push_blob(repo, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": self.push_blob(repo, layer),
                    "size": len(layer),
                }
            ],
        }
        return self.push_manifest(repo, tag, manifest, OCI_MANIFEST)

    def push_index(self, repo: str, tag: str) -> tuple[str, list[str]]:
        """A two-platform OCI index; returns (index digest, platform manifest digests)."""
        platforms = []
        for arch in ("amd64", "arm64"):
            digest = self.push_image(repo, f"{tag}-{arch}", salt=arch)
            size = len(self._manifest_bytes(repo, digest))
            platforms.append((arch, digest, size))
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": d,
                    "size": s,
                    "platform": {"architecture": a, "os": "linux"},
                }
                for a, d, s in platforms
            ],
        }
        return self.push_manifest(repo, tag, index, OCI_INDEX), [d for _, d, _ in platforms]

    def _manifest_bytes(self, repo: str, digest: str) -> bytes:
        with httpx.Client(base_url=self.url, timeout=10, auth=self.auth) as client:
            response = client.get(
                f"/v2/{repo}/manifests/{digest}", headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
            )
            return response.content


@contextmanager
def run_registry(
    binary: str, workdir: Path, extra_config: str = "", auth: tuple[str, str] | None = None
) -> Iterator[Registry]:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {workdir / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{extra_config}"
    )
    process = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    registry = Registry(f"127.0.0.1:{port}", process, auth)
    try:
        deadline = time.monotonic() + 60  # bounds a hang; a loaded machine starts slowly
        while True:
            try:
                if httpx.get(f"{registry.url}/v2/", timeout=1).status_code in (200, 401):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("docker-registry did not start")
            time.sleep(0.05)
        yield registry
    finally:
        if process.poll() is None:
            registry.stop()
