"""An emulator of the Kubernetes API, served over HTTP on loopback.

No kube-apiserver can be installed on this machine, so the agent is tested against this
emulator through the real `kubernetes` Python client. It is an emulator, not a cluster: it
implements only what the agent uses, with the API server's semantics for those verbs:

- list (`GET .../deployments`) with a collection resourceVersion;
- watch (`?watch=true&resourceVersion=N&timeoutSeconds=T`): every change after N as JSON lines,
  BOOKMARK events when asked for, and an ERROR event with a 410 Status when N is older than the
  retained history (after `compact()`), as etcd compaction makes the real server answer;
- get, create and replace (Leases, for leader election);
- merge-patch of the `status` subresource, which ignores everything but `status`, never bumps
  `metadata.generation`, and answers 409 Conflict when the patch carries a
  `metadata.resourceVersion` that is no longer current.

Tests change the world directly (`apply`, `delete`, `compact`) the way a GitOps tool or a
controller would, and read the request log to count what the agent did.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.helpers import QuietServer

CREATED_AT = "2026-11-23T00:00:00Z"

# (group, version, plural) -> kind; "" is the core group.
RESOURCES: dict[tuple[str, str, str], str] = {
    ("airunway.ai", "v1alpha1", "modeldeployments"): "ModelDeployment",
    ("apps", "v1", "deployments"): "Deployment",
    ("", "v1", "services"): "Service",
    ("apps", "v1", "replicasets"): "ReplicaSet",
    ("", "v1", "pods"): "Pod",
    ("coordination.k8s.io", "v1", "leases"): "Lease",
    # Provider kinds, served only when the test installs their "CRD" (like a real cluster).
    ("kaito.sh", "v1beta1", "workspaces"): "Workspace",
    ("nvidia.com", "v1alpha1", "dynamographdeployments"): "DynamoGraphDeployment",
    ("ray.io", "v1", "rayservices"): "RayService",
    # The inference gateway's kinds (GAIE and Gateway API), likewise optional.
    ("inference.networking.k8s.io", "v1", "inferencepools"): "InferencePool",
    ("gateway.networking.k8s.io", "v1", "httproutes"): "HTTPRoute",
    ("gateway.networking.k8s.io", "v1", "gateways"): "Gateway",
}
PROVIDER_KINDS = frozenset(
    {"Workspace", "DynamoGraphDeployment", "RayService", "InferencePool", "HTTPRoute", "Gateway"}
)
PLURALS = {kind: key for key, kind in RESOURCES.items()}


@dataclass(frozen=True)
class Request:
    method: str
    kind: str
    verb: str  # list, watch, get, create, replace, patch-status
    namespace: str | None
    name: str | None
    user_agent: str


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


# (resourceVersion, event type, object) of one watch event, as `_events_after` finds them.
WatchEvents = list[tuple[int, str, dict[str, Any]]]


class KubeEmulator:
    """The object store, its event history and the request log."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []
        self.compacted = 0  # watches from a resourceVersion below this get 410 Gone
        self.generation_of_watches = 0  # bumped to close every open watch
        self.version = 100
        self.requests: list[Request] = []
        self.changed = threading.Condition()
        self.installed: set[str] = set()  # provider kinds whose CRD is "installed"
        self.closing = False

    # --- the world, changed by tests ----------------------------------------------------------

    def _event(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        self.history.append((self.version, kind, type_, copy.deepcopy(obj)))
        self.changed.notify_all()

    def _bump(self, obj: dict[str, Any]) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or update an object as `kubectl apply` would (spec changes bump generation;
        the status of an existing object is kept)."""
        obj = copy.deepcopy(obj)
        kind = obj["kind"]
        metadata = obj.setdefault("metadata", {})
        key = (kind, metadata.get("namespace", ""), metadata["name"])
        with self.changed:
            old = self.objects.get(key)
            if old is None:
                metadata.setdefault("uid", str(uuid.uuid4()))
                metadata.setdefault("creationTimestamp", CREATED_AT)
                metadata["generation"] = 1
                type_ = "ADDED"
            else:
                metadata["uid"] = old["metadata"]["uid"]
                metadata["creationTimestamp"] = old["metadata"]["creationTimestamp"]
                generation = old["metadata"].get("generation", 1)
                changed = obj.get("spec") != old.get("spec")
                metadata["generation"] = generation + 1 if changed else generation
                if "status" not in obj and "status" in old:
                    obj["status"] = old["status"]
                type_ = "MODIFIED"
            self._bump(obj)
            self.objects[key] = obj
            self._event(kind, type_, obj)
            return copy.deepcopy(obj)

    def set_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """What a controller does: the Deployment controller reporting progress, say."""
        with self.changed:
            obj = self.objects[(kind, namespace, name)]
            obj["status"] = copy.deepcopy(status)
            self._bump(obj)
            self._event(kind, "MODIFIED", obj)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        with self.changed:
            obj = self.objects.pop((kind, namespace, name))
            self._bump(obj)
            self._event(kind, "DELETED", obj)

    def compact(self) -> None:
        """Forget the event history up to now and close every open watch, as an API server
        restart after etcd compaction does: resuming from any version seen so far gets 410."""
        with self.changed:
            self.history.clear()
            self.compacted = self.version + 1
            self.generation_of_watches += 1
            self.changed.notify_all()

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self.changed:
            return copy.deepcopy(self.objects[(kind, namespace, name)])

    def count(self, verb: str, kind: str | None = None) -> int:
        return sum(
            1 for r in list(self.requests) if r.verb == verb and (kind is None or r.kind == kind)
        )

    def verbs(self) -> Counter[tuple[str, str]]:
        return Counter((r.verb, r.kind) for r in list(self.requests))

    # --- the API ----------------------------------------------------------------------------

    def list(self, kind: str, namespace: str | None) -> dict[str, Any]:
        with self.changed:
            items = [
                copy.deepcopy(obj)
                for (k, ns, _), obj in sorted(self.objects.items())
                if k == kind and (namespace is None or ns == namespace)
            ]
            group, version, _ = PLURALS[kind]
            return {
                "kind": f"{kind}List",
                "apiVersion": f"{group}/{version}" if group else version,
                "metadata": {"resourceVersion": str(self.version)},
                "items": items,
            }

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self.changed:
            obj = self.objects.get((kind, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            return copy.deepcopy(obj)

    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        body.setdefault("metadata", {})["namespace"] = namespace
        body["kind"] = kind
        # The check and the write under one hold of the (reentrant) lock: two replicas
        # creating the Lease at once must not both get 201 and both think they lead.
        with self.changed:
            if (kind, namespace, body["metadata"].get("name")) in self.objects:
                raise ApiError(409, "AlreadyExists", f"{kind} already exists")
            return self.apply(body)

    def replace(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.changed:
            current = self.objects.get((kind, namespace, name))
            if current is None:
                raise ApiError(404, "NotFound", f"{kind} {name} not found")
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "the object has been modified")
            body["kind"] = kind
            body.setdefault("metadata", {}).update(namespace=namespace, name=name)
            return self.apply(body)

    def patch_status(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        with self.changed:
            obj = self.objects.get((kind, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f"{kind} {name} not found")
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != obj["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {kind.lower()}s "{name}": the object has '
                    "been modified; please apply your changes to the latest version and try again",
                )
            # The status subresource ignores everything but status.
            status = _merge(obj.get("status") or {}, patch.get("status") or {})
            if status == obj.get("status"):
                return copy.deepcopy(obj)  # a no-op patch writes nothing, as the server does
            obj["status"] = status
            self._bump(obj)
            self._event(kind, "MODIFIED", obj)
            return copy.deepcopy(obj)

    def watch(
        self,
        kind: str,
        namespace: str | None,
        since: str | None,
        timeout: float,
        bookmarks: bool,
    ) -> Iterator[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.changed:
            opened = self.generation_of_watches
            if since in (None, "", "0"):
                start = self.version
                initial = [
                    {"type": "ADDED", "object": copy.deepcopy(obj)}
                    for (k, ns, _), obj in sorted(self.objects.items())
                    if k == kind and (namespace is None or ns == namespace)
                ]
            elif int(since) < self.compacted:
                expired = ApiError(
                    410, "Expired", f"too old resource version: {since} ({self.compacted})"
                )
                initial = [{"type": "ERROR", "object": expired.status()}]
                opened = -1  # send the error, then end the stream
            else:
                start = int(since)
                initial = []
        yield from initial
        position = start if opened >= 0 else 0
        while not self.closing and opened == self.generation_of_watches:
            with self.changed:
                events = self._events_after(kind, position)
                current = self.version
                if not events and deadline - time.monotonic() > 0:
                    self.changed.wait(min(deadline - time.monotonic(), 0.5))
                    continue
            if not events:  # the timeout: end the stream, with a bookmark if asked for
                if bookmarks:
                    yield {
                        "type": "BOOKMARK",
                        "object": {"kind": kind, "metadata": {"resourceVersion": str(current)}},
                    }
                return
            # Other namespaces' events are passed over, never sent.
            position = events[-1][0]
            for _, type_, obj in events:
                if namespace is None or obj["metadata"].get("namespace") == namespace:
                    yield {"type": type_, "object": copy.deepcopy(obj)}

    def _events_after(self, kind: str, position: int) -> WatchEvents:
        """(version, type, object) of every event on `kind` after `position`, in order; the
        caller holds `changed`."""
        return [
            (version, type_, obj)
            for version, k, type_, obj in self.history
            if version > position and k == kind
        ]


def write_kubeconfig(url: str, path: Path) -> None:
    """A kubeconfig at `path` for the emulator at `url`, as `runwayc agent --kubeconfig`
    reads it (no credentials: the emulator asks for none)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulator", "cluster": {"server": url}}],
                "users": [{"name": "agent", "user": {}}],
                "contexts": [{"name": "e", "context": {"cluster": "emulator", "user": "agent"}}],
                "current-context": "e",
            }
        )
    )


def _route(path: str) -> tuple[str, str | None, str | None, bool]:
    """(kind, namespace, name, status subresource) of an API path."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"]:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, "NotFound", f"no route {path}")
    namespace = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    kind = RESOURCES.get((group, version, rest[0])) if rest else None
    if kind is None:
        raise ApiError(404, "NotFound", f"no route {path}")
    name = rest[1] if len(rest) > 1 else None
    status = len(rest) > 2 and rest[2] == "status"
    return kind, namespace, name, status


def _handler(emulator: KubeEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _log(self, verb: str, kind: str, namespace: str | None, name: str | None) -> None:
            agent = self.headers.get("User-Agent", "")
            emulator.requests.append(Request(self.command, kind, verb, namespace, name, agent))

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            data = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(data, dict):
                raise ApiError(400, "BadRequest", "body must be an object")
            return data

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                kind, namespace, name, status = _route(url.path)
                if kind in PROVIDER_KINDS and kind not in emulator.installed:
                    raise ApiError(404, "NotFound", f"the server could not find {kind}")
                if self.command == "GET" and name is None:
                    if query.get("watch") in ("true", "1", "True"):
                        self._log("watch", kind, namespace, None)
                        self._stream(kind, namespace, query)
                        return
                    self._log("list", kind, namespace, None)
                    self._send(200, emulator.list(kind, namespace))
                elif self.command == "GET" and name is not None:
                    self._log("get", kind, namespace, name)
                    self._send(200, emulator.read(kind, namespace or "", name))
                elif self.command == "POST" and name is None and namespace is not None:
                    self._log("create", kind, namespace, None)
                    self._send(201, emulator.create(kind, namespace, self._body()))
                elif self.command == "PUT" and name is not None and namespace is not None:
                    self._log("replace", kind, namespace, name)
                    self._send(200, emulator.replace(kind, namespace, name, self._body()))
                elif self.command == "PATCH" and status and namespace is not None and name:
                    self._log("patch-status", kind, namespace, name)
                    if self.headers.get("Content-Type") != "application/merge-patch+json":
                        raise ApiError(415, "UnsupportedMediaType", "merge patches only")
                    self._send(200, emulator.patch_status(kind, namespace, name, self._body()))
                else:
                    self._log("unsupported", kind, namespace, name)
                    raise ApiError(405, "MethodNotAllowed", f"{self.command} {url.path}")
            except ApiError as exc:
                self._send(exc.code, exc.status())

        def _stream(self, kind: str, namespace: str | None, query: dict[str, str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            events = emulator.watch(
                kind,
                namespace,
                query.get("resourceVersion"),
                float(query.get("timeoutSeconds") or 1800),
                query.get("allowWatchBookmarks") in ("true", "True", "1"),
            )
            try:
                for event in events:
                    line = json.dumps(event).encode() + b"\n"
                    self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return

        do_GET = do_POST = do_PUT = do_PATCH = _serve

    return Handler


@contextmanager
def serve(emulator: KubeEmulator) -> Iterator[str]:
    """Serve `emulator` on a free loopback port; yields its base URL."""
    server = QuietServer(("127.0.0.1", 0), _handler(emulator))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        with emulator.changed:
            emulator.closing = True
            emulator.changed.notify_all()
        server.shutdown()
        server.server_close()
