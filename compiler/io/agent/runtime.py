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
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines
from prometheus_client import CollectorRegistry, Counter, Gauge
from urllib3.exceptions import HTTPError

from compiler.core.agent.deployment import DEFAULT_WORKERS
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
    # Reconciles in flight at once (one per key at a time): status writes are round trips,
    # and a single worker waits out every one of them in turn.
    workers: int = DEFAULT_WORKERS
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


def _shared(before: Mapping[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """`after`, with every top-level part (and metadata field) that equals `before`'s taken
    from `before`: the same values, one copy of them in memory."""
    shared = dict(after)
    for name, value in after.items():
        old = before.get(name)
        if name == "metadata" and isinstance(value, dict) and isinstance(old, Mapping):
            shared[name] = {
                field: old[field] if field in old and old[field] == item else item
                for field, item in value.items()
            }
        elif old is not None and old is not value and old == value:
            shared[name] = old
    return shared


# The kinds `_slim` drops most of, listed one item at a time: a whole list of Deployments
# parsed at once, pod templates and all, was the agent's peak memory at 10,000 MDs.
TRIMMED_KINDS = frozenset({"Deployment", "Service"})
_DECODER = json.JSONDecoder()
_BLANK = re.compile(r"[ \t\n\r]*")


def _list_body(text: str, keep: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """A list response (a JSON object) parsed with `keep` applied to each of its `items` as
    soon as it is parsed, so only one whole item is in memory at a time. The values are
    json's own; a malformed body raises ValueError, as `json.loads` does."""
    body: dict[str, Any] = {}
    at = _BLANK.match(text, 0).end()  # type: ignore[union-attr]
    if text[at : at + 1] != "{":
        raise ValueError("a list response is not a JSON object")
    at = _BLANK.match(text, at + 1).end()  # type: ignore[union-attr]
    while text[at : at + 1] != "}":
        if text[at : at + 1] != '"':
            raise ValueError(f"expected a key at {at}")
        name, at = json.decoder.scanstring(text, at + 1)  # type: ignore[attr-defined]
        at = _BLANK.match(text, at).end()  # type: ignore[union-attr]
        if text[at : at + 1] != ":":
            raise ValueError(f"expected ':' at {at}")
        at = _BLANK.match(text, at + 1).end()  # type: ignore[union-attr]
        if name == "items" and text[at : at + 1] == "[":
            items = []
            at = _BLANK.match(text, at + 1).end()  # type: ignore[union-attr]
            while text[at : at + 1] != "]":
                item, at = _DECODER.raw_decode(text, at)
                items.append(_interned(keep(item)) if isinstance(item, dict) else item)
                at = _BLANK.match(text, at).end()  # type: ignore[union-attr]
                if text[at : at + 1] == ",":
                    at = _BLANK.match(text, at + 1).end()  # type: ignore[union-attr]
                elif text[at : at + 1] != "]":
                    raise ValueError(f"expected ',' or ']' at {at}")
            body[name] = items
            at += 1
        else:
            body[name], at = _DECODER.raw_decode(text, at)
        at = _BLANK.match(text, at).end()  # type: ignore[union-attr]
        if text[at : at + 1] == ",":
            at = _BLANK.match(text, at + 1).end()  # type: ignore[union-attr]
        elif text[at : at + 1] != "}":
            raise ValueError(f"expected ',' or '}}' at {at}")
    return body


def _interned(value: Any) -> Any:
    """`value` with its keys interned: parsed item by item, items do not share their keys
    the way one `json.loads` of the whole list makes them."""
    if isinstance(value, dict):
        return {sys.intern(k): _interned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v) for v in value]
    return value


def _slim(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as the cache keeps it, without what no status reader reads and most of its size
    is: a Deployment's pod template (three quarters of a rendered one), a Service's spec, the
    `managedFields` an API server adds to every object (often larger than the rest). A
    reader that comes to need one of them must keep it here."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
        for name in ("labels", "annotations"):
            marks = metadata.get(name)
            if isinstance(marks, dict):
                # A fleet's labels and stamp annotations repeat (engine, provider, image
                # digests): one copy of each string, not one per object.
                metadata[name] = {
                    sys.intern(k): sys.intern(v) if type(v) is str else v for k, v in marks.items()
                }
    spec = obj.get("spec")
    if kind == "Deployment" and isinstance(spec, dict):
        spec.pop("template", None)
    elif kind == "Service":
        obj.pop("spec", None)  # its ports and selector: the endpoint is the MD's own port
    return obj


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
    """A set of keys with a condition: a key queued twice is reconciled once, and a key is
    handed to one worker at a time (as client-go's workqueue does): a key queued while a
    worker has it is handed out again once that worker is `done` with it, so several workers
    never write the same MD at once and no event is lost."""

    def __init__(self) -> None:
        self._keys: dict[Key, None] = {}
        self._processing: set[Key] = set()
        self._again: set[Key] = set()  # queued while being processed
        self._ready = threading.Condition()

    def put(self, *keys: Key) -> None:
        with self._ready:
            for key in keys:
                if key in self._processing:
                    self._again.add(key)
                else:
                    self._keys[key] = None
            self._ready.notify(len(keys))

    def wake(self) -> None:
        """Wake every worker waiting for a key (to see that the agent is stopping)."""
        with self._ready:
            self._ready.notify_all()

    def get(self, timeout: float) -> Key | None:
        """The next key, now being processed (call `done` with it); None after `timeout`."""
        with self._ready:
            if not self._keys:
                self._ready.wait(timeout)
            if not self._keys:
                return None
            key = next(iter(self._keys))
            del self._keys[key]
            self._processing.add(key)
            return key

    def done(self, key: Key) -> None:
        with self._ready:
            self._processing.discard(key)
            if key in self._again:
                self._again.discard(key)
                self._keys[key] = None
                self._ready.notify()

    def __len__(self) -> int:
        """Keys queued or being processed: zero only once every reconcile has finished."""
        with self._ready:
            return len(self._keys) + len(self._processing)


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
        self._listing = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._open: set[Any] = set()  # the watch responses being read
        # The saturation analyzer's last decisions (runwayc agent --saturation), by MD key.
        self.saturation: dict[Key, Decision] = {}
        # Per MD, the inputs its status last matched (each entry touched only by the worker
        # holding that MD's key).
        self._settled: dict[Key, Inputs] = {}

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
        for index in range(max(1, self.settings.workers)):
            worker = threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
            self._threads.append(worker)
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
        self.queue.wake()
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
        # One list body at a time: at 10,000 MDs the bodies (bytes, then their text, then
        # the objects) of three kinds at once were the agent's peak memory.
        with self._listing:
            try:
                response = _checked(kind.list_call(_preload_content=False))
            except ApiException as exc:
                if not (kind.optional and exc.status == 404):
                    raise
                with self._lock:
                    self.cache[kind.name] = {}
                self.synced[kind.name].set()
                return None
            # The text alone while it is parsed: not the bytes beside it as well.
            text = response.data.decode()
            del response
            if kind.name in TRIMMED_KINDS:
                body = _list_body(text, partial(_slim, kind.name))
            else:
                body = json.loads(text)
            del text
        items = {_key(item): _slim(kind.name, item) for item in body.get("items") or []}
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
            cached = objects.get(key)
            if kind_of_event == "DELETED":
                objects.pop(key, None)
            elif (
                version is not None and cached is not None and version == _resource_version(cached)
            ):
                # The version already cached (most often the echo of the agent's own status
                # write, kept from its response): nothing any status depends on changed.
                return version
            elif cached is None or _newer(obj, cached):
                objects[key] = _slim(kind.name, obj)
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
            if key is None:
                continue
            try:
                self._process(key)
            finally:
                self.queue.done(key)

    def _process(self, key: Key) -> None:
        # A standby drops its work: winning the Lease enqueues everything. Checked after
        # the wait for a key, as the Lease (or SIGTERM) may have gone during it.
        if self.stop.is_set() or not self.leading.is_set():
            return
        if not self.ready:
            self.queue.put(key)  # decide on a full picture: every cache listed
            self.stop.wait(0.05)
            return
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
                self._settled.pop(key, None)
                self.metrics.reconciles.labels("gone").inc()
                return "gone"
            inputs = _inputs(observed)
            if inputs is not None and self._settled.get(key) == inputs:
                # The same versions of every object the status is read from, and the same
                # analyzer decision, as when the status last matched: the status is a pure
                # function of them, and `now` only stamps a condition that changes, so it
                # would come out the same again. A steady resync costs a comparison per MD.
                self.metrics.reconciles.labels("unchanged").inc()
                return "unchanged"
            md = observed.model_deployment
            current = md.get("status") or {}
            status = desired_status(observed, self.settings.policy, self.settings.now())
            if status == current:
                self._settle(key, inputs)
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
            if isinstance(written, dict) and written.get("status") == status:
                # The server holds exactly what was computed: computing again from the
                # object it returned gives the same status (conditions keep their times).
                # The cache keeps the computed status (equal to the parsed one, sharing its
                # constant strings) and the parts of the MD read before, where equal: the
                # response then lives only until this returns, and 10,000 first writes
                # do not leave 10,000 parsed copies of what the cache already held.
                written = _shared(md, {**written, "status": status})
                self._settle(key, _inputs(replace(observed, model_deployment=written)))
            self._remember(key, written)
            self.metrics.reconciles.labels("written").inc()
            return "written"
        self.metrics.errors.labels("patch status").inc()
        return "conflict"

    def _settle(self, key: Key, inputs: Inputs | None) -> None:
        if inputs is None:
            self._settled.pop(key, None)
        else:
            self._settled[key] = inputs

    def _remember(self, key: Key, obj: Any) -> None:
        """Keep the newest copy of an MD, whether it came from a write or from the watch."""
        if not isinstance(obj, dict):
            return
        with self._lock:
            cached = self.cache["ModelDeployment"].get(key)
            if cached is None or _newer(obj, cached):
                self.cache["ModelDeployment"][key] = _slim("ModelDeployment", obj)


# What a status is computed from, by version: the resourceVersion of each observed object
# (None where there is none) and the analyzer's decision.
Inputs = tuple[tuple[str | None, ...], Decision | None]


def _inputs(observed: Observed) -> Inputs | None:
    """The versions `observed` was read from, or None if an object carries no version (then
    nothing tells a changed object from the same one, and the status is always computed)."""
    objects = (
        observed.model_deployment,
        observed.deployment,
        observed.service,
        observed.resource,
        observed.inference_pool,
        observed.http_route,
        observed.gateway,  # its address is status.gateway.endpoint
    )
    versions: list[str | None] = []
    for obj in objects:
        if obj is None:
            versions.append(None)
            continue
        version = _resource_version(obj)
        if version is None:
            return None
        versions.append(version)
    return tuple(versions), observed.saturation


def _newer(candidate: dict[str, Any], cached: dict[str, Any]) -> bool:
    """resourceVersions are opaque, but etcd's are integers; compare them when they are."""
    a, b = _resource_version(candidate), _resource_version(cached)
    if a is not None and b is not None and a.isdigit() and b.isdigit():
        return int(a) >= int(b)
    return True
