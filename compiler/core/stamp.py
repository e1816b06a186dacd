"""The compile stamp: what `compile` writes on a ModelDeployment and the agent reads back.

The compiler annotates each ModelDeployment it applies with `runwayc.dev/<fact>` (provider,
image, policy verdict, environment, the spec hash, ...); the agent reads those facts to write
the status and to tell a compiled spec from one edited in the cluster. Both sides use the names
here, and the labels AI Runway's transformers put on what a provider renders (the agent's mark
of which objects are a ModelDeployment's).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from compiler.core.kube import API_VERSION, KIND, KubeObject
from compiler.core.model import ModelDeployment, ModelDeploymentSpec

# --- annotation keys: PREFIX + one fact key each -------------------------------------------------

PREFIX = "runwayc.dev/"
SPEC_HASH = "spec-hash"
PROVIDER = "provider"
PROVIDER_REASON = "provider-reason"
POLICY = "policy"
ENVIRONMENT = "environment"
IMAGE_REQUESTED = "image-requested"
IMAGE_SOURCE = "image-source"
IMAGE_IN_NIGHTLY = "image-in-nightly"
IMAGE_RESOLVED = "image-resolved"
IMAGE_DIGEST = "image-digest"
IMAGE_MIRROR = "image-mirror"
# Present when the engine image is rendered by its tag, not a digest: why it runs unpinned.
IMAGE_UNPINNED = "image-unpinned"
REPLICAS_CLAMPED = "replicas-clamped"
# The engine that runs and AI Runway's selectedReason for it (status.engine), when the spec
# names none: the one auto-selected and recorded in runway.lock.
ENGINE = "engine"
ENGINE_REASON = "engine-reason"
# Where the inference gateway routes this model (spec.gateway): the Gateway and the pool as
# `<namespace>/<name>`, the HTTPRoute's name (the user's, with httpRouteRef) and the model name
# it matches. The agent reads GatewayReady from that route and pool.
GATEWAY = "gateway"
GATEWAY_POOL = "gateway-pool"
GATEWAY_ROUTE = "gateway-route"
GATEWAY_MODEL_NAME = "gateway-model-name"

# --- value conventions ---------------------------------------------------------------------------

# `policy` is "passed", or "passed with N warning(s)"; a compile with errors writes nothing.
POLICY_PASSED = "passed"
# `provider-reason` when spec.provider.name chose the provider; any other reason is a
# selection rule's (auto-selected).
EXPLICIT = "explicit"
EXPLICIT_FIELD = "spec.provider.name"
EXPLICIT_REASON = f"{EXPLICIT}: {EXPLICIT_FIELD}"


def policy_verdict(warnings: int) -> str:
    """The `policy` fact of a compile that passed with `warnings` warnings."""
    return POLICY_PASSED if not warnings else f"{POLICY_PASSED} with {warnings} warning(s)"


def policy_passed(verdict: str | None) -> bool:
    return (verdict or "").startswith(POLICY_PASSED)


def is_explicit(reason: str) -> bool:
    return reason.startswith(EXPLICIT)


# --- writing -------------------------------------------------------------------------------------


def spec_hash(spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def stamp_model_deployment(
    md: ModelDeployment, namespace: str, facts: Mapping[str, str]
) -> KubeObject:
    """The MD as applied to the cluster: its spec, plus compile facts as annotations."""
    spec: dict[str, Any] = md.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    annotations = dict(md.metadata.annotations or {})
    annotations.update({PREFIX + key: value for key, value in facts.items()})
    annotations[PREFIX + SPEC_HASH] = spec_hash(spec)
    metadata: dict[str, Any] = {"name": md.name, "namespace": namespace}
    if md.metadata.labels:
        metadata["labels"] = dict(md.metadata.labels)
    metadata["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stamp:
    """The compile facts carried as `runwayc.dev/*` annotations, and whether they still
    describe the live spec."""

    facts: Mapping[str, str] = field(default_factory=dict)
    live_hash: str | None = None

    @property
    def present(self) -> bool:
        return SPEC_HASH in self.facts

    @property
    def current(self) -> bool:
        """The stamp vouches for this spec: compiled, policy passed, hash unchanged."""
        return (
            self.present
            and self.live_hash == self.facts[SPEC_HASH]
            and policy_passed(self.facts.get(POLICY))
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def live_spec_hash(spec: Any) -> str | None:
    """The spec hash `compile` stamps, computed on the live spec.

    The live spec passes through the same model and dump as at compile time, so API-server
    defaulting and key order cannot make an unchanged spec look edited. None when the live spec
    is not one the compiler accepts (then it was certainly not compiled that way).
    """
    try:
        parsed = ModelDeploymentSpec.model_validate(spec, by_alias=True)
    except (ValidationError, TypeError, ValueError):
        return None
    return spec_hash(parsed.model_dump(mode="json", by_alias=True, exclude_none=True))


def stamp_facts(md: Mapping[str, Any]) -> dict[str, str]:
    """The `runwayc.dev/*` annotations of a live MD, keyed without the prefix."""
    annotations = _mapping(_mapping(md.get("metadata")).get("annotations"))
    return {
        key.removeprefix(PREFIX): value
        for key, value in annotations.items()
        if isinstance(key, str) and key.startswith(PREFIX) and isinstance(value, str)
    }


def read_stamp(md: Mapping[str, Any]) -> Stamp:
    return Stamp(stamp_facts(md), live_spec_hash(md.get("spec")))


def stamped_provider(md: Mapping[str, Any]) -> Any:
    """The provider annotation of a live MD; None without a stamp (a stamp is one with its
    spec hash). Not checked to be a string: the caller falls back to the spec."""
    annotations = _mapping(_mapping(md.get("metadata")).get("annotations"))
    return annotations.get(PREFIX + PROVIDER) if PREFIX + SPEC_HASH in annotations else None


# --- AI Runway's labels on what a provider renders -----------------------------------------------

MANAGED_BY_LABEL = "airunway.ai/managed-by"
MANAGED_BY_VALUE = "airunway"
# vLLM's Deployment also carries the Kubernetes recommended label, with the same value.
APP_MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
# The ModelDeployment's name; Dynamo's transformer writes model-deployment, every other one
# deployment (the agent accepts either).
DEPLOYMENT_LABEL = "airunway.ai/deployment"
MODEL_DEPLOYMENT_LABEL = "airunway.ai/model-deployment"
MODEL_SOURCE_LABEL = "airunway.ai/model-source"
ENGINE_TYPE_LABEL = "airunway.ai/engine-type"
MODEL_ID_LABEL = "airunway.ai/model-id"
