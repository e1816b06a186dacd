"""A real HTTP server on loopback serving the recipes API fixtures, with a request log.

Besides the fixture files (tests/fixtures/recipes-api, in the real API's shape), tests
add routes: JSON documents (recipes with planted paths), streamed bodies with no
Content-Length, slow drips, redirects and errors.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, CliResult, run_cli
from tests.helpers import QuietServer

RECIPES_API = FIXTURES / "recipes-api"
Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class RecipesServer:
    url: str
    requests: list[str] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)

    def json(self, path: str, document: Any) -> None:
        self.body(path, json.dumps(document).encode())

    def body(self, path: str, body: bytes) -> None:
        """Serve `body` as it is, as an application/json answer."""

        def send(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        self.routes[path] = send

    def chunked(self, path: str, total: int, chunk: int = 64 * 1024, delay: float = 0.0) -> None:
        """A body of `total` bytes, chunked, no Content-Length; `delay` seconds per chunk."""

        def send(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            block = b" " * chunk
            sent = 0
            try:
                while sent < total:
                    size = min(chunk, total - sent)
                    handler.wfile.write(f"{size:x}\r\n".encode() + block[:size] + b"\r\n")
                    sent += size
                    if delay:
                        handler.wfile.flush()
                        time.sleep(delay)
                handler.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: what the tests want

        self.routes[path] = send

    def status(self, path: str, code: int, headers: dict[str, str] | None = None) -> None:
        def send(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(code)
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        self.routes[path] = send


def _handler(server: RecipesServer, root: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            server.requests.append(self.path)
            route = server.routes.get(self.path)
            if route is not None:
                route(self)
                return
            file = (root / self.path.lstrip("/")).resolve()
            if not file.is_relative_to(root) or not file.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@pytest.fixture
def recipes_server(tmp_path: Path) -> Iterator[RecipesServer]:
    root = tmp_path / "recipes-api"
    shutil.copytree(RECIPES_API, root)
    server = RecipesServer(url="")
    httpd = QuietServer(("127.0.0.1", 0), _handler(server, root.resolve()))
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def recipe_cli(
    command: str, repo: Path, server: RecipesServer, *args: str | os.PathLike[str]
) -> CliResult:
    """`runwayc recipe COMMAND ARGS` for the repository `repo`, against `server`."""
    return run_cli("recipe", command, *args, "-C", repo, "--recipes-url", server.url)
