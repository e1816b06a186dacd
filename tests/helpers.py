"""Builders for ModelDeployment source text used across tests."""

from __future__ import annotations

import fnmatch
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from compiler.core.gitops import units
from compiler.core.pipeline import CompileOptions, CompileResult, compile_project
from compiler.io.workspace import Workspace


def md_yaml(name: str = "m", namespace: str | None = "team-a", **spec: object) -> str:
    """A ModelDeployment document; `spec` keys are merged over a minimal vllm spec."""
    base: dict[str, object] = {
        "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct"},
        "provider": {"name": "vllm"},
        "engine": {"type": "vllm"},
        "resources": {"gpu": {"count": 1}},
    }
    base.update(spec)
    metadata: dict[str, object] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    doc = {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": metadata,
        "spec": base,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def line_col(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based line and column of the n-th occurrence of `needle` in `text`."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def item_line_col(text: str, token: str) -> tuple[int, int]:
    """Position of a block-sequence item `- token` (the item's value, after the dash)."""
    line, column = line_col(text, f"- {token}")
    return line, column + 2


def strict_crd_schema(schema: Any) -> Any:
    """A CRD's openAPIV3Schema as the API server applies it with strict field validation
    (`kubectl apply --validate=strict`): a field the schema does not declare is an error, not
    silently pruned. Objects that preserve unknown fields, or declare additionalProperties,
    keep their rule."""
    if isinstance(schema, list):
        return [strict_crd_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: strict_crd_schema(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def crd_validator(crd_file: Path, kind: str, version: str) -> jsonschema.Draft7Validator:
    """A validator for `kind` at `version` from a CRD file in tests/fixtures/crds."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for crd in yaml.load_all(crd_file.read_text(encoding="utf-8"), Loader=loader):
        if crd and crd["spec"]["names"]["kind"] == kind:
            for served in crd["spec"]["versions"]:
                if served["name"] == version and served.get("served"):
                    schema = strict_crd_schema(served["schema"]["openAPIV3Schema"])
                    return jsonschema.Draft7Validator(schema)
    raise LookupError(f"{crd_file.name} serves no {kind} {version}")


@cache
def compile_example(repo: Path, env: str) -> CompileResult:
    """A bundled example compiled `--locked` for `env` (once per test session)."""
    result = compile_project(Workspace(repo).inputs(env), CompileOptions(env=env, locked=True))
    assert result.ok, result.diagnostics
    return result


def manifest_objects(files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """Every object of every `manifest.yaml` in a rendered tree, in file order."""
    return [
        obj
        for name in sorted(files)
        if name.endswith("manifest.yaml")
        for obj in yaml.safe_load_all(files[name])
    ]


def tree_objects(files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """Everything a sync of a rendered tree applies: the manifests' objects and each sync
    unit's Namespace."""
    namespaces = [
        obj
        for name in sorted(files)
        if name.count("/") == 1 and name.endswith("/" + units.NAMESPACE_FILE)
        for obj in yaml.safe_load_all(files[name])
        if obj
    ]
    return namespaces + manifest_objects(files)


def object_label(obj: Mapping[str, Any]) -> str:
    namespace = obj["metadata"].get("namespace")
    where = f"{namespace}/" if namespace else ""
    return f"{obj['kind']}/{where}{obj['metadata']['name']}"


def write_tree(files: Mapping[str, bytes], directory: Path) -> None:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def kustomize_unit(kubectl: str, directory: Path) -> list[Any]:
    """What `kubectl kustomize` builds of one directory, as Argo CD's repo-server or Flux's
    kustomize-controller would."""
    built = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(built) if doc]


def kustomize_build(kubectl: str, files: Mapping[str, bytes], directory: Path) -> list[Any]:
    """Write a rendered tree to `directory` and return what `kubectl kustomize` builds of
    each of its sync units (one per namespace), in unit order: every unit must build, and
    together they must hold every object (tree_objects)."""
    write_tree(files, directory)
    return [
        obj
        for unit in units.unit_directories(files)
        for obj in kustomize_unit(kubectl, directory / unit)
    ]


class QuietServer(ThreadingHTTPServer):
    """A loopback test server that prints no traceback when a client hangs up (a client that
    stops reading mid-body, a Prometheus being stopped): the server's threads outlive their
    test, and the traceback would land in whichever test captures stderr at that moment."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


# --- a server that drips its answer ------------------------------------------------------


DRIP_PAUSE = 0.05  # between bytes: far inside any read timeout, so only a deadline ends it


@dataclass
class Drip:
    address: str
    finished: threading.Event = field(default_factory=threading.Event)  # a whole answer sent
    stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def dripping_server(answer: bytes) -> Iterator[Drip]:
    """A loopback server that answers each HTTP request with `answer`, one byte every
    DRIP_PAUSE seconds (a 130-byte answer takes 6.5 s); `finished` is set when one was sent
    whole. The pause is pacing, not synchronisation."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    drip = Drip(f"127.0.0.1:{listener.getsockname()[1]}")

    def serve(conn: socket.socket) -> None:
        with conn, suppress(OSError):
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            for i in range(len(answer)):
                if drip.stop.wait(DRIP_PAUSE):
                    return
                conn.sendall(answer[i : i + 1])
            drip.finished.set()

    def accept() -> None:
        with suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield drip
    finally:
        drip.stop.set()
        listener.close()


def path_match(pattern: str, path: str) -> bool:
    """Go's path.Match, as Argo CD's git directory generator applies it: `*` never crosses `/`."""
    parts, wanted = path.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(
        fnmatch.fnmatchcase(part, glob) for part, glob in zip(parts, wanted, strict=True)
    )
