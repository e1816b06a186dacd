"""A small token issuer for the registry's `auth.token` scheme (Docker's token flow).

It signs RS256 JWTs with a self-signed certificate that the registry trusts through
`rootcertbundle`, and hands them out on `GET /token?service=…&scope=…` to clients that
present the right basic credentials.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISSUER = "runwayc-test-issuer"
SERVICE = "runwayc-test-registry"


@dataclass
class TokenIssuer:
    url: str
    cert_path: Path
    issued: list[str]

    def registry_config(self) -> str:
        return (
            "auth:\n  token:\n"
            f"    realm: {self.url}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
            f"    rootcertbundle: {self.cert_path}\n"
        )


@contextmanager
def token_issuer(workdir: Path, username: str, password: str) -> Iterator[TokenIssuer]:
    workdir.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path = workdir / "issuer.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    issued: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            scope = query.get("scope", [""])[0]
            _, repository, actions = scope.split(":") if scope.count(":") == 2 else ("", "", "")
            issued_at = dt.datetime.now(dt.UTC)
            claims = {
                "iss": ISSUER,
                "sub": username,
                "aud": query.get("service", [""])[0],
                "iat": issued_at,
                "nbf": issued_at - dt.timedelta(seconds=30),
                "exp": issued_at + dt.timedelta(minutes=5),
                "jti": uuid.uuid4().hex,
                "access": [
                    {"type": "repository", "name": repository, "actions": actions.split(",")}
                ],
            }
            token = jwt.encode(claims, key, algorithm="RS256", headers={"x5c": [x5c]})
            issued.append(scope)
            body = json.dumps({"token": token}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TokenIssuer(f"http://127.0.0.1:{server.server_address[1]}", cert_path, issued)
    finally:
        server.shutdown()
        server.server_close()
