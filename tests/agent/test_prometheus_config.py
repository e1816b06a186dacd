"""The analyzer's Prometheus settings: environment before ConfigMap, TLS (CA, server name,
client certificate, skip-verify, 1.2 at least) and the bearer token, against a TLS-enabled
loopback server that answers like Prometheus' query API and records what it was sent."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import os
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from compiler.core.errors import PrometheusError
from compiler.io.agent.prometheus import (
    PrometheusClient,
    PrometheusConfig,
    load_config,
    ssl_context,
)
from tests.conftest import run_cli

SERVER_NAME = "prometheus.monitoring.svc"
TOKEN = "s3cr3t-token-value"
VECTOR = {
    "status": "success",
    "data": {
        "resultType": "vector",
        "result": [{"metric": {"pod": "p-5d8f9c7b6-00000"}, "value": [1, "0.5"]}],
    },
}


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    dns: list[str] | None = None,
) -> x509.Certificate:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0].subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns]), critical=False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@dataclass
class Pki:
    ca: Path
    server: Path
    client: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA; a server certificate for SERVER_NAME only (not for 127.0.0.1, so the client
    must send the server name); a client certificate for mutual TLS."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _certificate("runwayc test CA", ca_key, None)
    server_key, client_key = _key(), _key()
    server = _certificate(SERVER_NAME, server_key, (ca, ca_key), dns=[SERVER_NAME])
    client = _certificate("runwayc-agent", client_key, (ca, ca_key))
    _write(directory / "ca.crt", ca)
    _write(directory / "server.crt", server, server_key)
    _write(directory / "client.crt", client, client_key)
    return Pki(directory / "ca.crt", directory / "server.crt", directory / "client.crt")


@dataclass
class TlsPrometheus:
    url: str
    headers: list[dict[str, str]] = field(default_factory=list)
    peer_certificates: list[Any] = field(default_factory=list)
    versions: list[str | None] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def tls_server(pki: Pki, request: pytest.FixtureRequest) -> Iterator[TlsPrometheus]:
    require_client_cert = getattr(request, "param", False)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server, pki.server.with_suffix(".key"))
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = httpd.server_address[1]
    recorded = TlsPrometheus(f"https://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            recorded.headers.append(dict(self.headers))
            recorded.peer_certificates.append(self.connection.getpeercert())
            recorded.versions.append(self.connection.version())
            body = json.dumps(VECTOR).encode()
            self.send_response(recorded.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd.RequestHandlerClass = Handler
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield recorded
    httpd.shutdown()
    httpd.server_close()


def query(config: PrometheusConfig) -> list[tuple[dict[str, str], float]]:
    client = PrometheusClient(config)
    try:
        return client.query("up")
    finally:
        client.close()


# --- precedence ----------------------------------------------------------------------------------


def configmap(directory: Path, **values: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        (directory / key).write_text(value)
    return directory


def test_environment_comes_before_the_configmap(tmp_path):
    mounted = configmap(
        tmp_path / "cm",
        PROMETHEUS_BASE_URL="https://from-configmap:9090",
        PROMETHEUS_BEARER_TOKEN="cm-token",
    )
    env = {"PROMETHEUS_BASE_URL": "https://from-env:9090", "PROMETHEUS_SERVER_NAME": "p.svc"}
    config = load_config(env, mounted)
    assert (config.base_url, config.server_name, config.source) == (
        "https://from-env:9090",
        "p.svc",
        "environment",
    )
    # The environment's settings are taken whole: no token leaks in from the ConfigMap.
    assert config.bearer_token is None


def test_the_configmap_is_read_when_the_environment_sets_no_url(tmp_path):
    mounted = configmap(
        tmp_path / "cm",
        PROMETHEUS_BASE_URL="https://prometheus.monitoring.svc:9090/\n",
        PROMETHEUS_TLS_INSECURE_SKIP_VERIFY="true",
    )
    config = load_config({"PROMETHEUS_BEARER_TOKEN": "ignored"}, mounted)
    assert config.base_url == "https://prometheus.monitoring.svc:9090"
    assert config.insecure_skip_verify is True
    assert config.source == f"ConfigMap at {mounted}"


def test_neither_gives_an_error_naming_both(tmp_path):
    with pytest.raises(PrometheusError) as caught:
        load_config({}, tmp_path / "absent")
    assert str(caught.value) == (
        "no Prometheus configured for the saturation analyzer: set PROMETHEUS_BASE_URL in the "
        f"environment, or in the ConfigMap mounted at {tmp_path / 'absent'}"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PROMETHEUS_BASE_URL": "ftp://x"}, "must be an http(s) URL with a host"),
        ({"PROMETHEUS_BASE_URL": "https://u:p@x"}, "must not carry credentials"),
        (
            {"PROMETHEUS_BASE_URL": "https://x", "PROMETHEUS_CLIENT_CERT_PATH": "/c"},
            "PROMETHEUS_CLIENT_CERT_PATH and PROMETHEUS_CLIENT_KEY_PATH go together",
        ),
        (
            {"PROMETHEUS_BASE_URL": "https://x", "PROMETHEUS_TLS_INSECURE_SKIP_VERIFY": "maybe"},
            "PROMETHEUS_TLS_INSECURE_SKIP_VERIFY must be true or false, got 'maybe'",
        ),
    ],
)
def test_bad_settings_are_refused_with_their_name(env, message, tmp_path):
    with pytest.raises(PrometheusError, match=r"^environment: ") as caught:
        load_config(env, tmp_path)
    assert message in str(caught.value)


def test_the_agent_refuses_to_start_without_prometheus(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("PROMETHEUS_"):
            monkeypatch.delenv(key)
    result = run_cli(
        "agent",
        "-A",
        "--saturation",
        "--prometheus-config",
        tmp_path / "none",
        "--metrics-port",
        "0",
    )
    assert result.exit_code == 1
    assert "no Prometheus configured for the saturation analyzer" in result.stderr
    assert "Traceback" not in result.stderr


# --- TLS and the token --------------------------------------------------------------------------


def test_tls_with_ca_and_server_name(tls_server, pki):
    config = PrometheusConfig(tls_server.url, ca_cert_path=str(pki.ca), server_name=SERVER_NAME)
    assert query(config) == [({"pod": "p-5d8f9c7b6-00000"}, 0.5)]
    assert tls_server.versions[-1] in ("TLSv1.2", "TLSv1.3")


def test_the_certificate_must_match_the_server_name(tls_server, pki):
    # 127.0.0.1 is not in the certificate: without PROMETHEUS_SERVER_NAME, verification fails.
    with pytest.raises(PrometheusError, match="cannot be queried"):
        query(PrometheusConfig(tls_server.url, ca_cert_path=str(pki.ca)))
    with pytest.raises(PrometheusError, match="cannot be queried"):
        query(PrometheusConfig(tls_server.url, ca_cert_path=str(pki.ca), server_name="other.svc"))
    # Without the CA, the system trust store does not know the server.
    with pytest.raises(PrometheusError, match="cannot be queried"):
        query(PrometheusConfig(tls_server.url, server_name=SERVER_NAME))
    assert tls_server.headers == []  # nothing was sent to an unverified server


def test_insecure_skip_verify_accepts_any_certificate(tls_server):
    assert query(PrometheusConfig(tls_server.url, insecure_skip_verify=True))


@pytest.mark.parametrize("tls_server", [True], indirect=True)
def test_client_certificate_for_mutual_tls(tls_server, pki):
    base = PrometheusConfig(tls_server.url, ca_cert_path=str(pki.ca), server_name=SERVER_NAME)
    with pytest.raises(PrometheusError, match="cannot be queried"):
        query(base)
    mutual = PrometheusConfig(
        tls_server.url,
        ca_cert_path=str(pki.ca),
        server_name=SERVER_NAME,
        client_cert_path=str(pki.client),
        client_key_path=str(pki.client.with_suffix(".key")),
    )
    assert query(mutual)
    subject = dict(x[0] for x in tls_server.peer_certificates[-1]["subject"])
    assert subject["commonName"] == "runwayc-agent"


def test_tls_1_2_is_the_minimum():
    context = ssl_context(PrometheusConfig("https://x", insecure_skip_verify=True))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    verified = ssl_context(PrometheusConfig("https://x"))
    assert verified.minimum_version == ssl.TLSVersion.TLSv1_2
    assert verified.verify_mode == ssl.CERT_REQUIRED
    assert verified.check_hostname


def test_bearer_token_is_sent_and_never_shown(tls_server, pki, caplog):
    caplog.set_level(logging.DEBUG)
    config = PrometheusConfig(
        tls_server.url, ca_cert_path=str(pki.ca), server_name=SERVER_NAME, bearer_token=TOKEN
    )
    query(config)
    assert tls_server.headers[-1]["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(config)
    tls_server.status = 500
    with pytest.raises(PrometheusError) as caught:
        query(config)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in caplog.text


def test_a_missing_tls_file_is_a_clear_error(tmp_path):
    config = PrometheusConfig("https://x", ca_cert_path=str(tmp_path / "absent.crt"))
    with pytest.raises(PrometheusError, match="the TLS files cannot be loaded"):
        ssl_context(config)


def test_loopback_address_is_not_in_the_server_certificate(pki):
    cert = x509.load_pem_x509_certificate(pki.server.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") not in names.get_values_for_type(x509.IPAddress)
