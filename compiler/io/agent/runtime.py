"""The status agent's I/O loop: list+watch, a work queue, and status patches.

Thin on purpose: every decision is in `compiler.core.agent.status`. One watcher thread per kind
(ModelDeployments, Deployments, Services) lists once, then watches from the list's
resourceVersion; a watch that ends is resumed from the last version seen, and an expired one
(410 Gone) is recovered by listing again. Every event enqueues the ModelDeployment of that
namespace/name; a worker computes its status and patches the status subresource only when the
result differs from what the object already carries, guarded by the resourceVersion it was
computed from (a 409 means someone wrote in between: read it again and recompute). A periodic
resync re-enqueues every ModelDeployment from the cache, with no API calls of its own, so a
steady cluster sees zero requests from it.

The agent never creates, updates or deletes anything but `modeldeployments/status` (and its
leader Lease), and adds no finalizers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines
from prometheus_client import CollectorRegistry, Counter, Gauge
from urllib3.exceptions import HTTPError

from compiler.core.agent.gateway import GATEWAY_KINDS, gateway_key, watched_names
from compiler.core.agent.readers import (
    RESOURCE_KINDS,
    ROLE_SUFFIXES,
    Observed,
    provider_of,
    status_source_name,
)
from compiler.core.agent.saturation import Decision, Variant, variant_of
from compiler.core.agent.status import desired_status, merge_patch
from compiler.core.kube import API_GROUP, PLURAL, TIMESTAMP_FORMAT, VERSION
from compiler.core.policy import PolicySet
from compiler.core.stamp import stamp_facts

log = logging.getLogger("runwayc.agent")

MAX_CONFLICT_RETRIES = 5
Key = tuple[str, str]


def rfc3339_now() -> str:
    return datetime.now(UTC).strftime(TIMESTAMP_FORMAT)


@dataclass(frozen=True, slots=True)
class AgentSettings:
    namespace: str | None = None  # None: all namespaces
    resync_seconds: float = 300.0
    # Server-side watch timeout; the watch is then resumed from the last resourceVersion.
    watch_timeout_seconds: int = 290
    backoff_seconds: float = 2.0
    # The built-in policy at least (compiler.io.workspace.load_policy); empty checks nothing.
    policy: PolicySet = field(default_factory=PolicySet)
    now: Callable[[], str] = rfc3339_now


class Metrics:
    """Prometheus metrics of one agent (its own registry, so tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "runwayc_agent_reconciles",
            "ModelDeployment reconciles, by result (written, unchanged, gone, conflict).",
            ["result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "runwayc_agent_errors",
            "API errors met by the agent, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.watch_restarts = Counter(
            "runwayc_agent_watch_restarts",
            "Watches restarted by listing again, by kind and cause (expired = 410 Gone).",
            ["kind", "cause"],
            registry=self.registry,
        )
        self.cached = Gauge(
            "runwayc_agent_cached_objects",
            "Objects in the agent's cache, by kind.",
            ["kind"],
            registry=self.registry,
        )
        # WVA's metric name and labels, so the `wva`-mode HPA reads it without WVA installed.
        self.desired_replicas = Gauge(
            "wva_desired_replicas",
            "Replicas the saturation analyzer wants for a variant (runwayc agent --saturation).",
            ["variant_name", "namespace", "accelerator_type"],
            registry=self.registry,
        )


def _checked(response: Any) -> Any:
    """A raw (`_preload_content=False`) response, or its API error raised."""
    if not 200 <= response.status <= 299:
        try:
            reason = json.loads(response.data).get("message", response.reason)
        except (ValueError, AttributeError):
            reason = response.reason
        raise ApiException(status=response.status, reason=str(reason)[:200])
    return response


def _key(obj: dict[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _resource_version(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return str(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class WatchedKind:
    """One kind the agent lists and watches, and how to call the API for it."""

    name: str
    list_call: Callable[..., Any]
    # A provider's own kind: its CRD may not be installed (404), which is not an error.
    optional: bool = False


def watched_kinds(api: client.ApiClient, namespace: str | None) -> list[WatchedKind]:
    custom = client.CustomObjectsApi(api)
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    mds: Callable[..., Any]
    deployments: Callable[..., Any]
    services: Callable[..., Any]
    if namespace is None:
        mds = partial(custom.list_cluster_custom_object, API_GROUP, VERSION, PLURAL)
        deployments = apps.list_deployment_for_all_namespaces
        services = core.list_service_for_all_namespaces
    else:
        mds = partial(custom.list_namespaced_custom_object, API_GROUP, VERSION, namespace, PLURAL)
        deployments = partial(apps.list_namespaced_deployment, namespace)
        services = partial(core.list_namespaced_service, namespace)
    kinds = [
        WatchedKind("ModelDeployment", mds),
        WatchedKind("Deployment", deployments),
        WatchedKind("Service", services),
    ]
    for group, version, plural, kind in [*RESOURCE_KINDS.values(), *GATEWAY_KINDS.values()]:
        if namespace is None:
            call = partial(custom.list_cluster_custom_object, group, version, plural)
        else:
            call = partial(custom.list_namespaced_custom_object, group, version, namespace, plural)
        kinds.append(WatchedKind(kind, call, optional=True))
    return kinds


def md_keys(key: Key) -> tuple[Key, ...]:
    """The ModelDeployments an object's event concerns: its own name, and for llm-d's
    `<md>-decode` / `<md>-prefill` objects the MD they were rendered for."""
    namespace, name = key
    for suffix in ROLE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return key, (namespace, name[: -len(suffix)])
    return (key,)


class WorkQueue:
    """A set of keys with a condition: a key queued twice is reconciled once."""

    def __init__(self) -> None:
        self._keys: dict[Key, None] = {}
        self._ready = threading.Condition()

    def put(self, *keys: Key) -> None:
        with self._ready:
            for key in keys:
                self._keys[key] = None
            self._ready.notify()

    def get(self, timeout: float) -> Key | None:
        with self._ready:
            if not self._keys:
                self._ready.wait(timeout)
            if not self._keys:
                return None
            key = next(iter(self._keys))
            del self._keys[key]
            return key

    def __len__(self) -> int:
        with self._ready:
            return len(self._keys)


class Agent:
    """Watches ModelDeployments and their objects; writes status when it changes."""

    def __init__(
        self,
        api: client.ApiClient,
        settings: AgentSettings,
        metrics: Metrics | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.custom = client.CustomObjectsApi(api)
        self.kinds = watched_kinds(api, settings.namespace)
        self.cache: dict[str, dict[Key, dict[str, Any]]] = {k.name: {} for k in self.kinds}
        self.synced = {k.name: threading.Event() for k in self.kinds}
        self.queue = WorkQueue()
        self.stop = threading.Event()
        self.leading = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._open: set[Any] = set()  # the watch responses being read
        # The saturation analyzer's last decisions (runwayc agent --saturation), by MD key.
        self.saturation: dict[Key, Decision] = {}

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return all(event.is_set() for event in self.synced.values())

    def start(self, leading: bool = True) -> None:
        """Start watching; reconcile once `leading` (at once, or when the Lease is won)."""
        if leading:
            self.leading.set()
        for kind in self.kinds:
            thread = threading.Thread(
                target=self._watch_forever, args=(kind,), name=f"watch-{kind.name}", daemon=True
            )
            self._threads.append(thread)
        self._threads.append(threading.Thread(target=self._work, name="worker", daemon=True))
        self._threads.append(threading.Thread(target=self._resync, name="resync", daemon=True))
        for thread in self._threads:
            thread.start()

    def start_leading(self) -> None:
        self.leading.set()
        self.enqueue_all()

    def stop_leading(self) -> None:
        """The Lease was not renewed: write nothing more, and stop."""
        self.leading.clear()
        self.stop.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.queue.put()  # wake the worker
        with self._lock:
            responses = list(self._open)
        for response in responses:  # end the open watches now, not at their timeout
            # A watch that ended on its own meanwhile has no connection left to shut down:
            # urllib3 returns it to the pool when the chunked body ends, before the watch
            # leaves `_open`.
            with contextlib.suppress(RuntimeError, ValueError):
                response.shutdown()
        for thread in self._threads:
            thread.join(timeout)

    def enqueue_all(self) -> None:
        with self._lock:
            keys = list(self.cache["ModelDeployment"])
        self.queue.put(*keys)

    # --- list + watch --------------------------------------------------------------------------

    def _list(self, kind: WatchedKind) -> str | None:
        """List `kind` into the cache; its resourceVersion, or None for an optional kind whose
        CRD is not installed (nothing of it can exist, so the cache is empty and synced)."""
        try:
            response = _checked(kind.list_call(_preload_content=False))
        except ApiException as exc:
            if not (kind.optional and exc.status == 404):
                raise
            with self._lock:
                self.cache[kind.name] = {}
            self.synced[kind.name].set()
            return None
        body = json.loads(response.data)
        items = {_key(item): item for item in body.get("items") or []}
        with self._lock:
            before = self.cache[kind.name]
            self.cache[kind.name] = items
            touched = set(before) | set(items)
        self.metrics.cached.labels(kind.name).set(len(items))
        self.synced[kind.name].set()
        self.queue.put(*sorted({md for key in touched for md in self._concerned(kind.name, key)}))
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _events(self, kind: WatchedKind, since: str) -> Iterator[dict[str, Any]]:
        """One watch request, as raw events; an ERROR event is raised as its API status."""
        timeout = self.settings.watch_timeout_seconds
        response = _checked(
            kind.list_call(
                watch=True,
                resource_version=since,
                timeout_seconds=timeout,
                allow_watch_bookmarks=True,
                _preload_content=False,
                _request_timeout=(10, timeout + 30),
            )
        )
        with self._lock:
            self._open.add(response)
        try:
            lines: Iterator[str] = iter_resp_lines(response)  # type: ignore[no-untyped-call]
            for line in lines:
                if not line.strip():
                    continue
                event = json.loads(line)
                if not isinstance(event, dict):
                    continue
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise ApiException(status=status.get("code"), reason=status.get("reason"))
                yield event
        finally:
            with self._lock:
                self._open.discard(response)
            response.release_conn()

    def _watch_forever(self, kind: WatchedKind) -> None:
        since: str | None = None
        while not self.stop.is_set():
            try:
                if since is None:
                    since = self._list(kind)
                if since is None:  # the provider's CRD is not installed: look again later
                    self.stop.wait(self.settings.resync_seconds)
                    continue
                for event in self._events(kind, since):
                    if self.stop.is_set():
                        return
                    since = self._apply_event(kind, event) or since
            except ApiException as exc:
                if exc.status == 410:
                    self.metrics.watch_restarts.labels(kind.name, "expired").inc()
                    log.info("watch of %s expired (410 Gone): listing again", kind.name)
                else:
                    self.metrics.errors.labels(f"watch {kind.name}").inc()
                    self.metrics.watch_restarts.labels(kind.name, "error").inc()
                    log.warning("watch of %s failed (%s): listing again", kind.name, exc.status)
                    self.stop.wait(self.settings.backoff_seconds)
                since = None
            except (HTTPError, OSError, ValueError) as exc:
                if self.stop.is_set():
                    return  # shutdown() closed the watch
                self.metrics.errors.labels(f"watch {kind.name}").inc()
                self.metrics.watch_restarts.labels(kind.name, "error").inc()
                log.warning("watch of %s broke (%s): listing again", kind.name, type(exc).__name__)
                self.stop.wait(self.settings.backoff_seconds)
                since = None

    def _apply_event(self, kind: WatchedKind, event: dict[str, Any]) -> str | None:
        kind_of_event = event.get("type")
        obj = event.get("raw_object") or event.get("object")
        if not isinstance(obj, dict):
            return None
        version = _resource_version(obj)
        if kind_of_event == "BOOKMARK":
            return version
        key = _key(obj)
        with self._lock:
            objects = self.cache[kind.name]
            if kind_of_event == "DELETED":
                objects.pop(key, None)
            elif key not in objects or _newer(obj, objects[key]):
                objects[key] = obj
            size = len(objects)
        self.metrics.cached.labels(kind.name).set(size)
        self.queue.put(*self._concerned(kind.name, key))
        return version

    def _concerned(self, kind: str, key: Key) -> tuple[Key, ...]:
        """The ModelDeployments an event on `kind` `key` concerns. A shared Gateway concerns
        every MD routed through it (its address is their status.gateway.endpoint); Gateways
        are few and change rarely, so the scan of the cache is cheap."""
        if kind != "Gateway":
            return md_keys(key)
        with self._lock:
            mds = list(self.cache["ModelDeployment"].items())
        return tuple(sorted(k for k, md in mds if gateway_key(stamp_facts(md)) == key))

    # --- reconcile -----------------------------------------------------------------------------

    def _resync(self) -> None:
        while not self.stop.wait(self.settings.resync_seconds):
            self.enqueue_all()

    def _work(self) -> None:
        while not self.stop.is_set():
            key = self.queue.get(timeout=0.5)
            # A standby drops its work: winning the Lease enqueues everything. Checked after
            # the wait for a key, as the Lease (or SIGTERM) may have gone during it.
            if key is None or self.stop.is_set() or not self.leading.is_set():
                continue
            if not self.ready:
                self.queue.put(key)  # decide on a full picture: every cache listed
                self.stop.wait(0.05)
                continue
            try:
                self.reconcile(key)
            except (ApiException, HTTPError, OSError) as exc:
                self.metrics.errors.labels("patch status").inc()
                log.warning("status of %s/%s not written: %s", *key, exc)
                self.stop.wait(self.settings.backoff_seconds)
                self.queue.put(key)

    def observed(self, key: Key) -> Observed | None:
        with self._lock:
            md = self.cache["ModelDeployment"].get(key)
            if md is None:
                return None
            provider = provider_of(md)
            source = (key[0], status_source_name(md, provider))
            kind = RESOURCE_KINDS.get(provider or "")
            resource = self.cache[kind[3]].get(key) if kind is not None else None
            routed = watched_names(stamp_facts(md), key[0])
            pool = self.cache.get("InferencePool", {}).get(routed[0]) if routed else None
            route = self.cache.get("HTTPRoute", {}).get(routed[1]) if routed else None
            shared = gateway_key(stamp_facts(md))
            gateway = self.cache.get("Gateway", {}).get(shared) if shared else None
            return Observed(
                md,
                self.cache["Deployment"].get(source),
                self.cache["Service"].get(source),
                resource,
                self.saturation.get(key),
                pool,
                route,
                gateway,
            )

    # --- saturation analysis --------------------------------------------------------------------

    def variants(self) -> list[Variant]:
        """The ModelDeployments in mode wva whose Deployment exists, from the cache."""
        with self._lock:
            mds = list(self.cache["ModelDeployment"].items())
            deployments = dict(self.cache["Deployment"])
        rules = self.settings.policy.autoscaling
        cost = Decimal(rules.default_variant_cost) if rules.default_variant_cost else None
        found = []
        for key, md in sorted(mds):
            variant = variant_of(md, deployments.get(key), cost)
            if variant is not None:
                found.append(variant)
        return found

    def record_saturation(self, decisions: dict[str, Decision]) -> None:
        """Keep the analyzer's decisions, publish them as the gauge, and recompute the status
        of every MD they (or the previous round) concern."""
        fresh = {(d.variant.namespace, d.variant.name): d for d in decisions.values()}
        with self._lock:
            before = self.saturation
            self.saturation = fresh
        for key, old in before.items():
            new = fresh.get(key)
            if new is None or new.variant.accelerator != old.variant.accelerator:
                self.metrics.desired_replicas.remove(key[1], key[0], old.variant.accelerator)
        for key, decision in fresh.items():
            gauge = self.metrics.desired_replicas.labels(
                key[1], key[0], decision.variant.accelerator
            )
            gauge.set(decision.desired)
        self.queue.put(*sorted(set(before) | set(fresh)))

    def reconcile(self, key: Key) -> str:
        """Compute one MD's status and write it if it changed; returns what happened."""
        for _ in range(MAX_CONFLICT_RETRIES):
            observed = self.observed(key)
            if observed is None:
                self.metrics.reconciles.labels("gone").inc()
                return "gone"
            md = observed.model_deployment
            current = md.get("status") or {}
            status = desired_status(observed, self.settings.policy, self.settings.now())
            if status == current:
                self.metrics.reconciles.labels("unchanged").inc()
                return "unchanged"
            body = {
                "metadata": {"resourceVersion": _resource_version(md)},
                "status": merge_patch(current, status),
            }
            try:
                written = self.custom.patch_namespaced_custom_object_status(
                    API_GROUP, VERSION, key[0], PLURAL, key[1], body
                )
            except ApiException as exc:
                if exc.status == 404:
                    self.metrics.reconciles.labels("gone").inc()
                    return "gone"
                if exc.status != 409:
                    raise
                # Someone wrote the MD since we read it: read it again and recompute.
                self.metrics.reconciles.labels("conflict").inc()
                fresh = self.custom.get_namespaced_custom_object(
                    API_GROUP, VERSION, key[0], PLURAL, key[1]
                )
                self._remember(key, fresh)
                continue
            self._remember(key, written)
            self.metrics.reconciles.labels("written").inc()
            return "written"
        self.metrics.errors.labels("patch status").inc()
        return "conflict"

    def _remember(self, key: Key, obj: Any) -> None:
        """Keep the newest copy of an MD, whether it came from a write or from the watch."""
        if not isinstance(obj, dict):
            return
        with self._lock:
            cached = self.cache["ModelDeployment"].get(key)
            if cached is None or _newer(obj, cached):
                self.cache["ModelDeployment"][key] = obj


def _newer(candidate: dict[str, Any], cached: dict[str, Any]) -> bool:
    """resourceVersions are opaque, but etcd's are integers; compare them when they are."""
    a, b = _resource_version(candidate), _resource_version(cached)
    if a is not None and b is not None and a.isdigit() and b.isdigit():
        return int(a) >= int(b)
    return True
