"""The OCI distribution client: image tags to manifest digests. The only network edge of
`lock` for images.

Shaped like lightkube's client: requests are built as plain values, sent in one place
(`_send`), and answers parsed purely. Bounded everywhere an untrusted registry could make us
wait or allocate: connect/read timeouts, a cap on bodies (streamed, never buffered past the
cap), a small retry budget on 429/5xx that honours Retry-After up to a ceiling, and no
redirect to another origin. Credentials come from `~/.docker/config.json` `auths` and never
reach a message or a log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from compiler.core.errors import ImageError
from compiler.core.hosts import is_loopback
from compiler.core.images import DOCKER_HUB, ImageReference
from compiler.io.deadline import deadline, expired, keep_deadlines, remaining

# Order matters only for readability: a registry picks the best type it has. The index and
# manifest-list types come first so a multi-arch image pins its index digest.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_CONFIG_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")


@dataclass(frozen=True, slots=True)
class RegistryLimits:
    """The bounds on talking to registries; these defaults are runwayc's only ones."""

    timeout_seconds: float = 10.0  # each connect, read or write
    # Everything one image reference costs (its requests, a token, retries and their waits),
    # and everything one `lock` asks of registries: a registry answering a byte just inside
    # each timeout still ends.
    deadline_seconds: float = 30.0
    lock_deadline_seconds: float = 300.0
    max_body_bytes: int = 4 << 20
    max_attempts: int = 3
    max_retry_after_seconds: float = 10.0
    max_workers: int = 8


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def load_docker_credentials(path: Path) -> dict[str, Credentials]:
    """`auths` of a Docker config file, keyed by registry host; unreadable means none."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    auths = config.get("auths") if isinstance(config, dict) else None
    found: dict[str, Credentials] = {}
    for key, entry in (auths or {}).items() if isinstance(auths, dict) else []:
        if not isinstance(entry, dict):
            continue
        host = (
            DOCKER_HUB
            if key in DOCKER_CONFIG_HUB_KEYS
            else urlsplit(key if "//" in key else f"//{key}").netloc
        )
        username, password = entry.get("username"), entry.get("password")
        if isinstance(entry.get("auth"), str):
            try:
                username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
        if isinstance(username, str) and isinstance(password, str):
            found[host] = Credentials(username, password)
    return found


def docker_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where Docker keeps credentials: $DOCKER_CONFIG/config.json, else ~/.docker."""
    base = environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def default_client() -> RegistryClient:
    """A client with the credentials `docker login` left (none when there are none)."""
    return RegistryClient(credentials=load_docker_credentials(docker_config_path()))


def registry_base(reference: ImageReference) -> str:
    """`https://host` for the registry API; plain HTTP only for loopback registries."""
    host = DOCKER_HUB_API if reference.registry == DOCKER_HUB else reference.registry
    return f"{'http' if is_loopback(host) else 'https'}://{host}"


def registry_host(text: str) -> str:
    """The host (and port) the registry API of image reference `text` is asked on."""
    from compiler.core.images import parse_reference

    return urlsplit(registry_base(parse_reference(text))).netloc


def connect_failure(exc: httpx.ConnectError) -> str:
    """Why a connection could not be made, from the OS or TLS error under httpx's: DNS,
    refused, TLS, or the OS's own words. Untrusted text (a TLS alert) is truncated."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, socket.gaierror):
        return f"host name not found ({cause.strerror or 'DNS lookup failed'})"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, ssl.SSLCertVerificationError):
        why = getattr(cause, "verify_message", None) or cause.strerror or str(cause)
        return f"TLS certificate not trusted ({why[:200]})"
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake failed ({(cause.strerror or str(cause))[:200]})"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror[:200].lower()
    return str(exc)[:200] or type(exc).__name__


_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_PARAM.findall(rest))


class ResolutionError(ImageError):
    """A reference could not be resolved; the message names it and the registry's answer."""


@dataclass
class RegistryClient:
    credentials: Mapping[str, Credentials] = field(default_factory=dict, repr=False)
    limits: RegistryLimits = field(default_factory=RegistryLimits)
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    requests_sent: int = 0

    def _client(self) -> httpx.Client:
        timeout = httpx.Timeout(self.limits.timeout_seconds)
        return keep_deadlines(
            httpx.Client(timeout=timeout, transport=self.transport, follow_redirects=False)
        )

    def resolve_many(
        self, references: Iterable[str], progress: Callable[[], None] | None = None
    ) -> dict[str, str | ResolutionError]:
        """Digest (or the error) for each distinct reference, resolved concurrently, once each.

        `progress` is called once per reference as it is answered, on the calling thread,
        so a display needs no lock of its own."""
        distinct = sorted(set(references))
        end = time.monotonic() + self.limits.lock_deadline_seconds

        def one(reference: str) -> str | ResolutionError:
            with deadline(end - time.monotonic()):
                return self._resolve_safely(client, reference)

        with self._client() as client, ThreadPoolExecutor(self.limits.max_workers) as pool:
            futures = {pool.submit(one, reference): reference for reference in distinct}
            answers = {}
            for future in as_completed(futures):
                answers[futures[future]] = future.result()
                if progress is not None:
                    progress()
        return {reference: answers[reference] for reference in distinct}

    def resolve(self, reference: str) -> str:
        with self._client() as client:
            result = self._resolve_safely(client, reference)
        if isinstance(result, ResolutionError):
            raise result
        return result

    def _resolve_safely(self, client: httpx.Client, text: str) -> str | ResolutionError:
        with deadline(self.limits.deadline_seconds):
            try:
                return self._resolve_text(client, text)
            except ResolutionError as exc:
                return exc
            except ImageError as exc:
                return ResolutionError(exc.message)
            except httpx.TimeoutException as exc:
                where = self._where(exc, text)
                # Each read is given what is left of the deadline: one that ran out is the
                # deadline's doing, not a single slow read's.
                if expired():
                    return ResolutionError(
                        f'image "{text}": {where} did not answer within the deadline '
                        f"({self.limits.deadline_seconds:g}s an image, "
                        f"{self.limits.lock_deadline_seconds:g}s a lock)"
                    )
                limit = self.limits.timeout_seconds
                if isinstance(exc, httpx.ConnectTimeout):
                    return ResolutionError(
                        f'image "{text}": cannot reach {where}: no connection within {limit:g}s'
                    )
                return ResolutionError(f'image "{text}": {where} timed out after {limit:g}s')
            except httpx.ConnectError as exc:
                return ResolutionError(
                    f'image "{text}": cannot reach {self._where(exc, text)}: {connect_failure(exc)}'
                )
            except httpx.HTTPError as exc:
                return ResolutionError(
                    f'image "{text}": {self._where(exc, text)} connection failed '
                    f"({type(exc).__name__})"
                )

    @staticmethod
    def _where(exc: httpx.HTTPError, text: str) -> str:
        """`registry HOST` (or `token service HOST`): the host the failed request was sent to,
        which is what a user checks their network, proxy or mirror against."""
        try:
            url = exc.request.url
        except RuntimeError:  # raised before any request (the lock's deadline had passed)
            return f"registry {registry_host(text)}"
        host = f"[{url.host}]" if ":" in url.host else url.host
        netloc = f"{host}:{url.port}" if url.port is not None else host
        is_registry = netloc == registry_host(text)
        return f"{'registry' if is_registry else 'token service'} {netloc}"

    def _resolve_text(self, client: httpx.Client, text: str) -> str:
        from compiler.core.images import parse_reference

        reference = parse_reference(text)
        if reference.digest:
            return reference.digest
        if expired():  # `lock`'s deadline passed before this reference's turn
            raise httpx.TimeoutException("the deadline passed")
        return self._resolve(client, reference, text)

    def _resolve(self, client: httpx.Client, reference: ImageReference, text: str) -> str:
        base = registry_base(reference)
        url = f"{base}/v2/{reference.repository}/manifests/{reference.tag}"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        creds = self.credentials.get(reference.registry)
        response = self._send(client, "HEAD", url, headers, text)
        if response.status_code == 401:
            headers["Authorization"] = self._authorize(client, response, reference, creds, text)
            response = self._send(client, "HEAD", url, headers, text)
        if response.status_code == 200 and _valid_digest(
            response.headers.get("Docker-Content-Digest")
        ):
            return str(response.headers["Docker-Content-Digest"])
        if response.status_code not in (200, 405):
            raise self._status_error(text, response)
        # No usable digest header on HEAD: GET the manifest and hash what we were sent.
        return self._get_and_hash(client, url, headers, text)

    def _get_and_hash(
        self, client: httpx.Client, url: str, headers: dict[str, str], text: str
    ) -> str:
        with client.stream("GET", url, headers=headers) as response:
            self.requests_sent += 1
            if response.status_code != 200:
                raise self._status_error(text, response)
            digest = hashlib.sha256()
            for chunk in self._bounded_chunks(response, text, "manifest body"):
                digest.update(chunk)
            computed = "sha256:" + digest.hexdigest()
            claimed = response.headers.get("Docker-Content-Digest")
            if claimed is not None and claimed != computed:
                raise ResolutionError(
                    f'image "{text}": registry digest {claimed[:80]} does not match the '
                    f"manifest's sha256 {computed}"
                )
            return computed

    def _send(
        self, client: httpx.Client, method: str, url: str, headers: dict[str, str], text: str
    ) -> httpx.Response:
        for attempt in range(1, self.limits.max_attempts + 1):
            response = client.request(method, url, headers=headers)
            self.requests_sent += 1
            if response.is_redirect:
                target = urlsplit(str(response.headers.get("Location", "")))
                origin = urlsplit(url)
                if target.netloc and (target.scheme, target.netloc) != (
                    origin.scheme,
                    origin.netloc,
                ):
                    raise ResolutionError(
                        f'image "{text}": registry redirected to another origin; refused'
                    )
                url = str(response.url.join(response.headers.get("Location", "")))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if attempt == self.limits.max_attempts:
                    raise self._status_error(text, response)
                # A wait past the deadline would only end in its timeout.
                self.sleep(max(0.0, min(self._retry_after(response, attempt), remaining())))
                continue
            return response
        raise ResolutionError(f'image "{text}": too many redirects')

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After", "")
        try:
            wanted = float(header)
        except ValueError:
            wanted = 0.5 * 2 ** (attempt - 1)
        return max(0.0, min(wanted, self.limits.max_retry_after_seconds))

    def _authorize(
        self,
        client: httpx.Client,
        response: httpx.Response,
        reference: ImageReference,
        creds: Credentials | None,
        text: str,
    ) -> str:
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if creds is None:
                raise ResolutionError(f'image "{text}": registry requires credentials (HTTP 401)')
            return creds.basic()
        if scheme != "bearer" or "realm" not in params:
            raise ResolutionError(f'image "{text}": unsupported registry authentication')
        query = {"service": params.get("service", "")}
        query["scope"] = params.get("scope") or f"repository:{reference.repository}:pull"
        headers = {"Authorization": creds.basic()} if creds else {}
        realm = urlsplit(params["realm"])
        if realm.scheme != "https" and not is_loopback(realm.netloc):
            # Credentials travel to the realm: never in clear text off this machine.
            raise ResolutionError(f'image "{text}": token service must use https')
        with client.stream("GET", params["realm"], params=query, headers=headers) as answer:
            self.requests_sent += 1
            if answer.status_code != 200:
                raise self._status_error(text, answer, what="token service")
            raw = self._read_bounded(answer, text, "token response")
        try:
            body = json.loads(raw)
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ResolutionError(f'image "{text}": token service returned no token')
        return f"Bearer {token}"

    def _bounded_chunks(self, response: httpx.Response, text: str, what: str) -> Iterator[bytes]:
        """The body's chunks; an error the moment it passes the cap (never buffered past it)."""
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                raise ResolutionError(
                    f'image "{text}": {what} exceeds {self.limits.max_body_bytes} bytes'
                )
            yield chunk

    def _read_bounded(self, response: httpx.Response, text: str, what: str) -> bytes:
        return b"".join(self._bounded_chunks(response, text, what))

    @staticmethod
    def _status_error(
        text: str, response: httpx.Response, what: str = "registry"
    ) -> ResolutionError:
        return ResolutionError(f'image "{text}": {what} answered HTTP {response.status_code}')


def _valid_digest(value: str | None) -> bool:
    return value is not None and re.fullmatch(r"sha256:[0-9a-f]{64}", value) is not None
