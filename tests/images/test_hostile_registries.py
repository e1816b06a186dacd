"""Registries that misbehave: every case ends in a clear error, bounded in time and memory,
and nothing is pinned."""

from __future__ import annotations

import re
import time

import pytest

from compiler.io.registry import RegistryClient, RegistryLimits, ResolutionError
from tests.images.hostile import hostile_registry

LIMITS = RegistryLimits(timeout_seconds=2.0, max_body_bytes=64 << 10, max_attempts=3,
                        max_retry_after_seconds=0.2)  # fmt: skip
DIGEST = "sha256:" + "0" * 64


def endless_body(handler):
    handler.send_response(200)
    handler.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    if handler.command == "HEAD":
        return
    chunk = b"x" * 65536
    for _ in range(10_000):  # 640 MiB if nobody stops reading
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def huge_headers(handler):
    handler.send_response(200)
    for i in range(2000):
        handler.send_header(f"X-Junk-{i}", "y" * 1000)
    handler.end_headers()


def wrong_digest(handler):
    body = b'{"schemaVersion":2}'
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    if handler.command == "GET":
        handler.send_header("Docker-Content-Digest", DIGEST)
    handler.end_headers()
    if handler.command == "GET":
        handler.wfile.write(body)


def redirect_elsewhere(handler):
    handler.send_response(307)
    handler.send_header("Location", "http://127.0.0.2:9/v2/x/manifests/t")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def too_many_requests(handler):
    handler.send_response(429)
    handler.send_header("Retry-After", "3600")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def silent(handler):
    time.sleep(5)


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        (endless_body, "manifest body exceeds 65536 bytes"),
        (huge_headers, "registry {host} connection failed (RemoteProtocolError)"),
        (wrong_digest, f"registry digest {DIGEST} does not match the manifest's sha256"),
        (redirect_elsewhere, "registry redirected to another origin; refused"),
        (too_many_requests, "registry answered HTTP 429"),
        (silent, "registry {host} timed out after 2s"),
    ],
    ids=["endless-body", "huge-headers", "wrong-digest", "cross-origin-redirect", "429-storm",
         "silent"],
)  # fmt: skip
def test_hostile_registry_ends_in_a_clear_error(behaviour, message):
    sleeps: list[float] = []
    client = RegistryClient(limits=LIMITS, sleep=sleeps.append)
    with hostile_registry(behaviour) as (host, log):
        started = time.monotonic()
        expected = re.escape(message.format(host=host))
        with pytest.raises(ResolutionError, match=expected) as caught:
            client.resolve(f"{host}/acme/vllm:v1")
        # The message says which limit ended it (the body cap, the 2 s timeout, the
        # attempts); this only bounds a hang, so a loaded machine cannot fail it.
        assert time.monotonic() - started < 60
    assert f'image "{host}/acme/vllm:v1"' in caught.value.message
    if behaviour is too_many_requests:
        assert len(log) == LIMITS.max_attempts  # bounded retries
        assert sleeps == [0.2, 0.2]  # Retry-After honoured, capped


def test_hostile_registry_writes_no_pin_for_a_user_image(make_repo, tmp_path):
    import yaml

    from tests.conftest import run_cli
    from tests.helpers import md_yaml

    with hostile_registry(wrong_digest) as (host, _):
        image = f"{host}/acme/vllm:v1"
        repo = make_repo({"deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image})})
        result = run_cli("lock", repo)
    pin = yaml.safe_load((repo / "runway.lock").read_text())["images"][image]
    assert "digest" not in pin
    assert "does not match" in pin["unresolvedReason"]
    assert "warning[IMAGE_UNRESOLVED]" in result.stderr


def test_endless_token_response_is_cut_at_the_cap():
    def challenge_then_flood(handler):
        if handler.path.startswith("/token"):
            endless_body(handler)
            return
        host = handler.headers["Host"]
        handler.send_response(401)
        handler.send_header(
            "WWW-Authenticate", f'Bearer realm="http://{host}/token",service="s",scope="x"'
        )
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    client = RegistryClient(limits=LIMITS)
    with (
        hostile_registry(challenge_then_flood) as (host, _),
        pytest.raises(ResolutionError, match="token response exceeds 65536 bytes"),
    ):
        client.resolve(f"{host}/acme/vllm:v1")


def test_token_realm_off_machine_over_http_is_refused():
    def challenge(handler):
        handler.send_response(401)
        handler.send_header(
            "WWW-Authenticate", 'Bearer realm="http://auth.example.com/token",service="s"'
        )
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    client = RegistryClient(limits=LIMITS)
    with (
        hostile_registry(challenge) as (host, log),
        pytest.raises(ResolutionError, match="token service must use https"),
    ):
        client.resolve(f"{host}/acme/vllm:v1")
    assert len(log) == 1  # nothing was sent to the realm
