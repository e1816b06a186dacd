"""A registry that cannot be reached is named: with images from several registries (and
mirrors), "connection failed" alone did not say which one to look at (issue 26)."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest
import yaml

from compiler.io.registry import (
    RegistryClient,
    RegistryLimits,
    ResolutionError,
    connect_failure,
)
from tests.conftest import run_cli
from tests.helpers import md_yaml
from tests.images.hostile import hostile_registry
from tests.images.registry import free_port

LIMITS = RegistryLimits(timeout_seconds=2.0, max_attempts=1)


def test_a_closed_port_names_the_registry_and_refused(make_repo):
    host = f"127.0.0.1:{free_port()}"  # nothing listens: the kernel refuses the connection
    image = f"{host}/acme/vllm:v1"
    repo = make_repo({"deployments/a.yaml": md_yaml(engine={"type": "vllm", "image": image})})
    result = run_cli("lock", repo)
    assert result.exit_code == 0, result.stderr
    reason = f'image "{image}": cannot reach registry {host}: connection refused'
    assert f"warning[IMAGE_UNRESOLVED]: ImageResolved=False: {reason}; " in result.stderr
    pins = yaml.safe_load((repo / "runway.lock").read_text())["images"]
    assert pins[image]["unresolvedReason"] == reason


def test_a_token_service_that_cannot_be_reached_is_named_as_such():
    realm = f"127.0.0.1:{free_port()}"

    def challenge(handler):
        handler.send_response(401)
        handler.send_header("WWW-Authenticate", f'Bearer realm="http://{realm}/token"')
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with hostile_registry(challenge) as (host, _):
        image = f"{host}/acme/vllm:v1"
        with pytest.raises(ResolutionError) as caught:
            RegistryClient(limits=LIMITS).resolve(image)
    assert caught.value.message == (
        f'image "{image}": cannot reach token service {realm}: connection refused'
    )


def failing_transport(error: Exception) -> httpx.MockTransport:
    """Every request fails as httpx fails when the OS or TLS refuses: a ConnectError over
    the OS error (these cannot be produced on loopback without leaving the machine: a
    DNS lookup, or TLS, which runwayc uses only for registries off loopback)."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(str(error), request=request) from error

    return httpx.MockTransport(handler)


def untrusted_certificate() -> ssl.SSLCertVerificationError:
    """As Python's ssl module raises it for a self-signed certificate."""
    error = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    )
    error.verify_message = "self-signed certificate"
    return error


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (socket.gaierror(-2, "Name or service not known"),
         "host name not found (Name or service not known)"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (untrusted_certificate(), "TLS certificate not trusted (self-signed certificate)"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
         "TLS handshake failed ([SSL: WRONG_VERSION_NUMBER] wrong version number)"),
        (OSError(101, "Network is unreachable"), "network is unreachable"),
    ],
    ids=["dns", "refused", "tls-untrusted", "tls-handshake", "unreachable"],
)  # fmt: skip
def test_each_kind_of_connection_failure_names_the_host_and_why(error, why):
    client = RegistryClient(limits=LIMITS, transport=failing_transport(error))
    with pytest.raises(ResolutionError) as caught:
        client.resolve("localhost:5999/acme/vllm:v1")
    assert caught.value.message == (
        f'image "localhost:5999/acme/vllm:v1": cannot reach registry localhost:5999: {why}'
    )


def test_a_connect_timeout_names_the_host():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    client = RegistryClient(limits=LIMITS, transport=httpx.MockTransport(handler))
    with pytest.raises(ResolutionError) as caught:
        client.resolve("[::1]:5999/acme/vllm:v1")
    assert caught.value.message == (
        'image "[::1]:5999/acme/vllm:v1": cannot reach registry [::1]:5999: no connection within 2s'
    )


def test_a_real_tls_failure_reads_as_one():
    # TLS spoken to a plain-HTTP server on loopback: the real ssl error, through real httpx.
    with (
        hostile_registry(lambda handler: None) as (host, _),
        pytest.raises(httpx.ConnectError) as caught,
    ):
        httpx.get(f"https://{host}/v2/", timeout=5)
    assert connect_failure(caught.value).startswith(
        "TLS handshake failed ([SSL: WRONG_VERSION_NUMBER] wrong version number"
    )
