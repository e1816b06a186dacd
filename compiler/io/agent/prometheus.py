"""The saturation analyzer's Prometheus: configuration and a thin, bounded query client.

Configuration follows WVA: the `PROMETHEUS_*` environment variables when
`PROMETHEUS_BASE_URL` is set there, else the same keys in a mounted ConfigMap (one file per
key), else an error naming both. TLS is 1.2 at least; `PROMETHEUS_SERVER_NAME` sets the name
sent in SNI and checked against the certificate; the bearer token is sent as a header and
never printed (the config's repr hides it, and errors carry no request headers).
"""

from __future__ import annotations

import json
import math
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from compiler.core.agent.deployment import PROMETHEUS_MOUNT
from compiler.core.agent.saturation import ReplicaLoad
from compiler.core.errors import PrometheusError
from compiler.core.promql import per_pod_max
from compiler.io.workspace import mounted_configmap

KEYS = (
    "PROMETHEUS_BASE_URL",
    "PROMETHEUS_TLS_INSECURE_SKIP_VERIFY",
    "PROMETHEUS_CA_CERT_PATH",
    "PROMETHEUS_CLIENT_CERT_PATH",
    "PROMETHEUS_CLIENT_KEY_PATH",
    "PROMETHEUS_SERVER_NAME",
    "PROMETHEUS_BEARER_TOKEN",
)
DEFAULT_CONFIGMAP_DIR = Path(PROMETHEUS_MOUNT)
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MAX_SERIES = 10_000
TIMEOUT_SECONDS = 10.0
KV_CACHE_METRIC = "vllm:kv_cache_usage_perc"
QUEUE_METRIC = "vllm:num_requests_waiting"
TRUE = {"true", "1", "yes"}
FALSE = {"false", "0", "no", ""}


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    base_url: str
    insecure_skip_verify: bool = False
    ca_cert_path: str | None = None
    client_cert_path: str | None = None
    client_key_path: str | None = None
    server_name: str | None = None
    bearer_token: str | None = field(default=None, repr=False)
    source: str = "environment"


def _flag(value: str, key: str, source: str) -> bool:
    text = value.strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise PrometheusError(f"{source}: {key} must be true or false, got {value.strip()!r}")


def _from(values: Mapping[str, str], source: str) -> PrometheusConfig:
    def get(key: str) -> str | None:
        value = values.get(key)
        return (value.strip() or None) if value is not None else None

    base_url = get("PROMETHEUS_BASE_URL") or ""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PrometheusError(
            f"{source}: PROMETHEUS_BASE_URL must be an http(s) URL with a host, got {base_url!r}"
        )
    if parts.username or parts.password:
        raise PrometheusError(
            f"{source}: PROMETHEUS_BASE_URL must not carry credentials; use PROMETHEUS_BEARER_TOKEN"
        )
    client_cert, client_key = get("PROMETHEUS_CLIENT_CERT_PATH"), get("PROMETHEUS_CLIENT_KEY_PATH")
    if (client_cert is None) != (client_key is None):
        raise PrometheusError(
            f"{source}: PROMETHEUS_CLIENT_CERT_PATH and PROMETHEUS_CLIENT_KEY_PATH go together"
        )
    return PrometheusConfig(
        base_url=base_url.rstrip("/"),
        insecure_skip_verify=_flag(
            values.get("PROMETHEUS_TLS_INSECURE_SKIP_VERIFY", ""),
            "PROMETHEUS_TLS_INSECURE_SKIP_VERIFY",
            source,
        ),
        ca_cert_path=get("PROMETHEUS_CA_CERT_PATH"),
        client_cert_path=client_cert,
        client_key_path=client_key,
        server_name=get("PROMETHEUS_SERVER_NAME"),
        bearer_token=get("PROMETHEUS_BEARER_TOKEN"),
        source=source,
    )


def load_config(
    environ: Mapping[str, str] | None = None, configmap_dir: Path = DEFAULT_CONFIGMAP_DIR
) -> PrometheusConfig:
    """Environment first, then the mounted ConfigMap, else a clear error naming both."""
    env = os.environ if environ is None else environ
    if env.get("PROMETHEUS_BASE_URL", "").strip():
        return _from({k: env[k] for k in KEYS if k in env}, "environment")
    values = mounted_configmap(configmap_dir, KEYS)
    if values.get("PROMETHEUS_BASE_URL", "").strip():
        return _from(values, f"ConfigMap at {configmap_dir}")
    raise PrometheusError(
        "no Prometheus configured for the saturation analyzer: set PROMETHEUS_BASE_URL in the "
        f"environment, or in the ConfigMap mounted at {configmap_dir}"
    )


def ssl_context(config: PrometheusConfig) -> ssl.SSLContext:
    """TLS 1.2 at least; the CA, client certificate and verification the config asks for."""
    try:
        context = ssl.create_default_context(cafile=config.ca_cert_path)
        if config.client_cert_path and config.client_key_path:
            context.load_cert_chain(config.client_cert_path, config.client_key_path)
    except (OSError, ssl.SSLError) as exc:
        raise PrometheusError(
            f"{config.source}: the TLS files cannot be loaded ({exc.__class__.__name__})"
        ) from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class PrometheusClient:
    """Instant queries against `/api/v1/query`, their answers bounded and validated."""

    def __init__(self, config: PrometheusConfig, transport: httpx.BaseTransport | None = None):
        self.config = config
        headers = {"Accept": "application/json"}
        if config.bearer_token:
            headers["Authorization"] = f"Bearer {config.bearer_token}"
        self._client = httpx.Client(
            base_url=config.base_url,
            headers=headers,
            verify=ssl_context(config),
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )
        self._extensions: dict[str, Any] = {}
        if config.server_name:
            self._extensions["sni_hostname"] = config.server_name

    def close(self) -> None:
        self._client.close()

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """An instant vector as (labels, value) pairs; NaN and infinite samples dropped."""
        try:
            with self._client.stream(
                "GET", "/api/v1/query", params={"query": promql}, extensions=self._extensions
            ) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise PrometheusError(
                            f"Prometheus answer passed {MAX_RESPONSE_BYTES} bytes; stopped reading"
                        )
        except httpx.HTTPError as exc:
            raise PrometheusError(
                f"Prometheus at {self.config.base_url} cannot be queried ({exc.__class__.__name__})"
            ) from exc
        if response.status_code in (400, 422):
            _vector(bytes(body))  # raises with Prometheus' own reason when it gives one
        if response.status_code != 200:
            raise PrometheusError(
                f"Prometheus at {self.config.base_url} answered HTTP {response.status_code}"
            )
        return _vector(bytes(body))

    def replica_loads(self, namespace: str, model: str, window: str) -> list[ReplicaLoad]:
        """Each pod's worst KV-cache usage and queue over `window`, for one model."""
        labels = {"namespace": namespace, "model_name": model}
        kv = {
            series.get("pod", ""): value
            for series, value in self.query(per_pod_max(KV_CACHE_METRIC, labels, window))
        }
        queue = {
            series.get("pod", ""): value
            for series, value in self.query(per_pod_max(QUEUE_METRIC, labels, window))
        }
        # A replica counts once both gauges report for it (a loading pod reports neither).
        return [
            ReplicaLoad(pod, kv[pod], queue[pod]) for pod in sorted(kv.keys() & queue.keys()) if pod
        ]


def _vector(body: bytes) -> list[tuple[dict[str, str], float]]:
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise PrometheusError("Prometheus answered with a body that is not JSON") from exc
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        raise PrometheusError(f"Prometheus refused the query: {str(error)[:200]}")
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise PrometheusError("Prometheus answered with something other than an instant vector")
    result = data.get("result")
    if not isinstance(result, list) or len(result) > MAX_SERIES:
        raise PrometheusError("Prometheus answered with a malformed or oversized vector")
    samples = []
    for item in result:
        metric = item.get("metric") if isinstance(item, dict) else None
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
            raise PrometheusError("Prometheus answered with a malformed sample")
        try:
            number = float(value[1])
        except (TypeError, ValueError) as exc:
            raise PrometheusError("Prometheus answered with a sample that is not a number") from exc
        if math.isnan(number) or math.isinf(number):
            continue
        samples.append(({str(k): str(v) for k, v in metric.items()}, number))
    return samples
