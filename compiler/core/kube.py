"""Kubernetes facts more than one module needs: the object type, AI Runway's ModelDeployment
API (group, version, kind, plural), vLLM's serving port and the timestamp format."""

from __future__ import annotations

from typing import Any, Literal

# A rendered or observed Kubernetes object, as plain data.
KubeObject = dict[str, Any]

# --- AI Runway's ModelDeployment API -------------------------------------------------------------

API_GROUP = "airunway.ai"
VERSION = "v1alpha1"
API_VERSION = f"{API_GROUP}/{VERSION}"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
# The same two facts as types, for the input model (a Literal takes literal text only; the
# tests check these agree with API_VERSION and KIND).
ApiVersionLiteral = Literal["airunway.ai/v1alpha1"]
KindLiteral = Literal["ModelDeployment"]

# --- serving -------------------------------------------------------------------------------------

# vLLM's HTTP port: the container, its Service and the probes all use it, and the agent
# reports it as the endpoint.
VLLM_HTTP_PORT = 8000

# --- time ----------------------------------------------------------------------------------------

# metav1.Time as Kubernetes writes it (RFC 3339, UTC, whole seconds); also runway.lock's
# `resolvedAt`.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
