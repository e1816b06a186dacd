"""A registry we control on loopback, to misbehave on purpose."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Handler = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def hostile_registry(behaviour: Handler) -> Iterator[tuple[str, list[str]]]:
    """(host:port, request log) of a server answering every request with `behaviour`."""
    log: list[str] = []

    class Hostile(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one(self) -> None:
            log.append(f"{self.command} {self.path}")
            with suppress(BrokenPipeError, ConnectionResetError):
                behaviour(self)

        do_GET = do_HEAD = handle_one

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
