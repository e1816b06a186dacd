"""An overall deadline for HTTP requests, below httpx.

httpx's timeouts bound each network operation: a server that sends one byte just inside the
read timeout, forever, is never timed out (a registry dripping a byte a second kept `lock`
waiting 40 s for 40 bytes, and would have for 40 hours). Here every connect, read and write
of a request is given what is left of the deadline of the request in progress on its thread
(connections are pooled and shared between threads, so the deadline belongs to the thread
making the request, not to the connection), and one past it fails as httpx's own timeout.

httpx offers no way to choose the network layer of its transports; httpcore, which it is
built on, has one (`network_backend`), set here on the pools httpx made. Those are private
names, checked when a client is made: an httpx that renames them fails loudly, never quietly
without a deadline (and the slow-drip tests fail).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_current = threading.local()


def remaining() -> float:
    """Seconds left before the deadline of this thread's request (inf: none set)."""
    deadline: float | None = getattr(_current, "deadline", None)
    return math.inf if deadline is None else deadline - time.monotonic()


def expired() -> bool:
    return remaining() <= 0


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Requests made by this thread inside the block end within `seconds` (or an enclosing
    block's deadline, whichever is first)."""
    previous: float | None = getattr(_current, "deadline", None)
    end = time.monotonic() + seconds
    _current.deadline = end if previous is None else min(previous, end)
    try:
        yield
    finally:
        _current.deadline = previous


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    left = remaining()
    if left == math.inf:
        return timeout
    if left <= 0:
        raise error("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def keep_deadlines(client: httpx.Client) -> httpx.Client:
    """`client`, its network I/O keeping deadlines: every transport httpx made for it (the
    default one, and those of proxies from the environment, so a proxy still applies) gets a
    network layer that keeps this thread's deadline. A transport made elsewhere (a test's
    mock) is left as it is."""
    transports = [client._transport, *client._mounts.values()]
    for one in transports:
        if not isinstance(one, httpx.HTTPTransport):
            continue
        pool = getattr(one, "_pool", None)
        if not hasattr(pool, "_network_backend"):  # pragma: no cover - another httpx
            raise RuntimeError("this httpx's transport has no network layer to give a deadline")
        pool._network_backend = _Backend(pool._network_backend)  # type: ignore[union-attr]
    return client
