"""Resolve 200 distinct tags against a local registry: concurrent vs one by one.

    python bench/lock_bench.py [--tags 200] [--rounds 5]

Starts Debian's docker-registry on a free loopback port, pushes N tags, then times
`RegistryClient.resolve_many` (concurrent, what `runwayc lock` uses) against two serial
peers, alternating, several rounds: the same client with one worker (one connection pool),
and a fresh client per tag. Prints medians, the ratios and request counts; then shows that a
second `lock` planning pass sends no request for references that are already pinned. The
concurrent run is timed twice more per round, with `lock`'s terminal progress line drawn to
a stream that says it is a terminal (and keeps nothing), so its cost shows beside the figure.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compiler.cli.lock import progress_line
from compiler.core.lockfile import LockFile
from compiler.core.pins import ImageNeed, plan_image_lock, references_to_resolve
from compiler.io.registry import RegistryClient, RegistryLimits
from tests.images.registry import run_registry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="put a loopback shim adding this round-trip delay in front of the registry",
    )
    args = parser.parse_args()
    binary = shutil.which("docker-registry")
    if binary is None:
        sys.exit("docker-registry is not installed (apt-get install docker-registry)")
    with tempfile.TemporaryDirectory() as tmp, run_registry(binary, Path(tmp)) as registry:
        for i in range(args.tags):
            registry.push_image("bench/vllm", f"t{i}", salt=str(i))
        with latency_shim(registry.host, args.latency_ms / 1000) as host:
            run(args, [f"{host}/bench/vllm:t{i}" for i in range(args.tags)])


@contextmanager
def latency_shim(upstream: str, delay: float) -> Iterator[str]:
    """A loopback forwarder that waits `delay` seconds per request, like a distant registry."""
    if delay <= 0:
        yield upstream
        return
    client = httpx.Client(base_url=f"http://{upstream}", timeout=10)

    class Shim(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            time.sleep(delay)
            answer = client.head(self.path, headers={"Accept": self.headers.get("Accept", "")})
            self.send_response(answer.status_code)
            for key in ("Docker-Content-Digest", "Content-Type", "Content-Length"):
                if key in answer.headers:
                    self.send_header(key, answer.headers[key])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Shim)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        client.close()


class Terminal(io.StringIO):
    """A terminal that keeps nothing: what a progress line costs to draw, not to show."""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def run(args: argparse.Namespace, refs: list[str]) -> None:
    concurrent, serial, naive, with_progress = [], [], [], []
    concurrent_requests = serial_requests = 0
    for round_number in range(args.rounds):
        # The concurrent run with and without the progress line, in turn first: on a shared
        # machine, whichever runs second in a round is not the one that pays for the load.
        for drawn in (False, True) if round_number % 2 == 0 else (True, False):
            client = RegistryClient()
            if drawn:
                # What `runwayc lock` does on a terminal: `resolving images: n/N` drawn.
                started = time.perf_counter()
                with progress_line(Terminal())(len(refs)) as step:
                    client.resolve_many(refs, progress=step)
                with_progress.append(time.perf_counter() - started)
                continue
            started = time.perf_counter()
            answers = client.resolve_many(refs)
            concurrent.append(time.perf_counter() - started)
            concurrent_requests = client.requests_sent
            assert all(isinstance(a, str) for a in answers.values())

        # The honest peer: the same client and connection pool, one reference at a time.
        client = RegistryClient(limits=RegistryLimits(max_workers=1))
        started = time.perf_counter()
        client.resolve_many(refs)
        serial.append(time.perf_counter() - started)
        serial_requests = client.requests_sent

        # What a shell loop over `skopeo inspect`-style calls does: a fresh client each time.
        started = time.perf_counter()
        for ref in refs:
            RegistryClient().resolve(ref)
        naive.append(time.perf_counter() - started)

    c, s = statistics.median(concurrent), statistics.median(serial)
    n = statistics.median(naive)
    print(f"tags: {args.tags}, rounds: {args.rounds}, added latency: {args.latency_ms} ms")
    print(f"concurrent resolve_many:        median {c:.3f} s, {concurrent_requests} requests")
    p = statistics.median(with_progress)
    print(f"  with the terminal progress line: median {p:.3f} s ({(p / c - 1) * 100:+.1f}%)")
    print(f"one by one, shared pool:        median {s:.3f} s, {serial_requests} requests")
    print(f"one by one, new client each:    median {n:.3f} s")
    print(f"speed-up vs shared-pool serial: {s / c:.1f}x; vs new client each: {n / c:.1f}x")

    needs = {r: ImageNeed(r, False, ("bench.yaml",)) for r in refs}
    lock, _, counts = plan_image_lock(LockFile.empty(), needs, answers, "2026-01-01T00:00:00Z")
    again = references_to_resolve(needs, lock, frozenset())
    print(
        f"second lock pass: {len(again)} references to resolve, "
        f"{counts['resolved']} pinned in the first"
    )


if __name__ == "__main__":
    main()
