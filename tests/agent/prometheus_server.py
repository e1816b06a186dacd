"""A real Prometheus (Debian's `prometheus`) on loopback, scraping vLLM-format metrics that a
test controls: one loopback HTTP server answers `/pods/<pod>/metrics` for every "pod", and
Prometheus finds the pods through a file_sd targets file the test rewrites (Prometheus
watches it), each target labelled with its `namespace` and `pod` as the Kubernetes service
discovery of a real cluster would label it."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import QuietServer
from tests.images.registry import free_port

SCRAPE_INTERVAL = "1s"


def exposition(model: str, kv_cache: float, waiting: float) -> str:
    """What vLLM's /metrics says about its KV cache and queue (the gauges the analyzer reads)."""
    labels = f'engine="0",model_name="{_escape(model)}"'
    return (
        "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
        "# TYPE vllm:kv_cache_usage_perc gauge\n"
        f"vllm:kv_cache_usage_perc{{{labels}}} {kv_cache}\n"
        "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
        "# TYPE vllm:num_requests_waiting gauge\n"
        f"vllm:num_requests_waiting{{{labels}}} {waiting}\n"
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class Pod:
    namespace: str
    model: str
    kv_cache: float
    waiting: float
    # A pod still loading its model serves no metrics yet.
    serving: bool = True
    # More target labels, as relabelling in a real cluster would add them.
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class VllmPods:
    """The fleet of fake vLLM pods; change `pods` and call `publish()` to re-announce."""

    server: QuietServer
    targets_file: Path
    pods: dict[str, Pod] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_port}"

    def set(self, name: str, pod: Pod) -> None:
        with self.lock:
            self.pods[name] = pod
        self.publish()

    def clear(self) -> None:
        with self.lock:
            self.pods.clear()
        self.publish()

    def publish(self) -> None:
        with self.lock:
            groups = [
                {
                    "targets": [self.address],
                    "labels": {
                        **pod.labels,
                        "__metrics_path__": f"/pods/{name}/metrics",
                        "namespace": pod.namespace,
                        "pod": name,
                    },
                }
                for name, pod in sorted(self.pods.items())
            ]
        temporary = self.targets_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(groups))
        temporary.replace(self.targets_file)  # Prometheus never reads a half-written file


def _handler(fleet: VllmPods) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = self.path.split("/")
            name = parts[2] if len(parts) == 4 and parts[1] == "pods" else ""
            with fleet.lock:
                pod = fleet.pods.get(name)
            if pod is None or not pod.serving:
                self.send_response(503)
                self.end_headers()
                return
            body = exposition(pod.model, pod.kv_cache, pod.waiting).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def vllm_pods(workdir: Path) -> Iterator[VllmPods]:
    workdir.mkdir(parents=True, exist_ok=True)
    server = QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fleet = VllmPods(server, workdir / "targets.json")
    server.RequestHandlerClass = _handler(fleet)
    fleet.publish()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fleet
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def run_prometheus(binary: str, workdir: Path, targets_file: Path) -> Iterator[str]:
    """Prometheus on 127.0.0.1 scraping the targets file every second; yields its URL."""
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n"
        "scrape_configs:\n  - job_name: vllm\n    file_sd_configs:\n"
        f"      - files: [{json.dumps(str(targets_file))}]\n        refresh_interval: 1s\n"
    )
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(
                    "prometheus did not start: " + (workdir / "prometheus.log").read_text()[-2000:]
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
