"""llm-d (provider `llmd`): vLLM Deployment + Service pairs.

AI Runway's llm-d transformer (commit b0d3fb7): aggregated renders `<md>` (Deployment and
Service); disaggregated renders `<md>-decode` and `<md>-prefill`, whose vLLM instances hand KV
cache over with PyNccl. The first Deployment (`<md>` or `<md>-decode`) is the one the status
agent reads.

Two choices beyond AI Runway: a derived flag gives way to the user's own spelling of it (as
for Direct vLLM; AI Runway's llm-d transformer would render both), and env entries keep every
`valueFrom` source rather than only `secretKeyRef`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from compiler.core.diagnostics import Diagnostic
from compiler.core.kube import VLLM_HTTP_PORT, KubeObject
from compiler.core.model import DEFAULT_GPU_RESOURCE, ModelDeployment
from compiler.core.policy import OVERRIDES, CheckContext, check_launch_flags, launch_line
from compiler.core.providers.base import RenderContext, RenderResult
from compiler.core.providers.common import (
    airunway_labels,
    apply_overrides,
    check_override_root,
    component_gpus,
    overrides_of,
    pod_annotations,
    pod_labels,
    scheduling,
    serving_roles,
)
from compiler.core.providers.merge import SKELETON, pin_selector
from compiler.core.providers.vllm import container_env, container_resources
from compiler.core.stamp import DEPLOYMENT_LABEL

ROLES = ("decode", "prefill")  # the decode Deployment comes first: it is the status source

MSG_ENGINE = "llm-d provider only supports vllm engine, got {engine}"
MSG_NEEDS_GPU = "llm-d provider requires GPU resources (spec.resources.gpu.count > 0)"
MSG_NEEDS_GPU_ROLE = (
    "llm-d provider requires GPU resources for {role} (spec.scaling.{role}.gpu.count > 0)"
)
MSG_POD_SPEC = 'overriding "spec.template.spec" is not allowed'


def check_llmd(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    engine = md.engine
    if engine != "vllm":
        found.append(
            ctx.at("PROVIDER_ENGINE", MSG_ENGINE.format(engine=engine), ("spec", "engine", "type"))
        )
    if md.serving_mode == "disaggregated":
        for role in ("prefill", "decode"):
            if component_gpus(md, role) <= 0:
                path = ("spec", "scaling", role, "gpu", "count")
                found.append(
                    ctx.at("PROVIDER_NEEDS_GPU", MSG_NEEDS_GPU_ROLE.format(role=role), path)
                )
    elif component_gpus(md, None) <= 0:
        found.append(
            ctx.at("PROVIDER_NEEDS_GPU", MSG_NEEDS_GPU, ("spec", "resources", "gpu", "count"))
        )
    rules = ctx.policy.flags
    for serving in serving_roles(md):
        line = launch_line(md, (), derived_flags(md, serving), rules)
        found.extend(check_launch_flags(md, ctx, line))
    found.extend(check_override_root(md, ctx, ("spec",)))
    pod_spec = overrides_of(md).get("spec")
    template = pod_spec.get("template") if isinstance(pod_spec, Mapping) else None
    if isinstance(template, Mapping) and "spec" in template:
        found.append(
            ctx.at("OVERRIDE_PROTECTED", MSG_POD_SPEC, (*OVERRIDES, "spec", "template", "spec"))
        )
    return found


def _name(md: ModelDeployment, role: str | None) -> str:
    return md.name if role is None else f"{md.name}-{role}"


def selector(md: ModelDeployment, role: str | None) -> dict[str, str]:
    return {DEPLOYMENT_LABEL: md.name, "app": _name(md, role)}


def derived_flags(md: ModelDeployment, role: str | None) -> list[tuple[str, str | None]]:
    """AI Runway's llm-d flag order (differs from Direct vLLM's)."""
    engine = md.spec.engine
    flags: list[tuple[str, str | None]] = [("model", md.spec.model.id or "")]
    if md.spec.model.served_name:
        flags.append(("served-model-name", md.spec.model.served_name))
    if engine is not None and engine.context_length is not None:
        flags.append(("max-model-len", str(engine.context_length)))
    if engine is not None and engine.trust_remote_code:
        flags.append(("trust-remote-code", None))
    if engine is not None:
        prefix = "enable-prefix-caching" if engine.enable_prefix_caching else None
        flags.append((prefix or "no-enable-prefix-caching", None))
        if engine.enforce_eager:
            flags.append(("enforce-eager", None))
    gpus = component_gpus(md, role)
    if gpus > 1:
        flags.append(("tensor-parallel-size", str(gpus)))
    if role is not None:
        kv_role = "kv_consumer" if role == "decode" else "kv_producer"
        config = {"kv_connector": "PyNcclConnector", "kv_role": kv_role}
        flags.append(("kv-transfer-config", json.dumps(config, separators=(",", ":"))))
    return flags


def _replicas_and_memory(md: ModelDeployment, role: str | None) -> tuple[int, str | None]:
    memory = md.spec.resources.memory if md.spec.resources else None
    if role is None:
        return (md.replicas if md.replicas > 0 else 1), memory
    component = getattr(md.spec.scaling, role)
    return component.replicas, component.memory or memory


def deployment(ctx: RenderContext, role: str | None) -> KubeObject:
    md = ctx.md
    replicas, memory = _replicas_and_memory(md, role)
    container: dict[str, Any] = {
        "name": "vllm",
        "image": ctx.image,
        "args": [t.text for t in launch_line(md, (), derived_flags(md, role), ctx.policy.flags)],
        "ports": [{"name": "http", "containerPort": VLLM_HTTP_PORT, "protocol": "TCP"}],
    }
    resources = container_resources(
        component_gpus(md, role),
        DEFAULT_GPU_RESOURCE,
        memory,
        md.spec.resources.cpu if md.spec.resources else None,
    )
    if resources:
        container["resources"] = resources
    env = container_env(md)
    if env:
        container["env"] = env
    # No <SERVICE>_PORT variables for vLLM to misread (see providers/vllm.py).
    pod_spec: dict[str, Any] = {
        "enableServiceLinks": False,
        "containers": [container],
        **scheduling(md),
    }
    template_meta: dict[str, Any] = {"labels": {**pod_labels(md), **selector(md, role)}}
    annotations = pod_annotations(md)
    if annotations:
        template_meta["annotations"] = annotations
    metadata: dict[str, Any] = {
        "name": _name(md, role),
        "namespace": ctx.namespace,
        "labels": {**airunway_labels(md), **pod_labels(md)},
    }
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector(md, role)},
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def service(ctx: RenderContext, role: str | None) -> KubeObject:
    md = ctx.md
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": _name(md, role),
            "namespace": ctx.namespace,
            "labels": airunway_labels(md),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": selector(md, role),
            "ports": [
                {
                    "name": "http",
                    "port": VLLM_HTTP_PORT,
                    "targetPort": VLLM_HTTP_PORT,
                    "protocol": "TCP",
                }
            ],
        },
    }


def render_llmd(ctx: RenderContext) -> RenderResult:
    md = ctx.md
    roles: tuple[str | None, ...] = ROLES if md.serving_mode == "disaggregated" else (None,)
    check = CheckContext(ctx.doc, ctx.policy)
    objects: list[KubeObject] = []
    problems: list[Diagnostic] = []
    for role in roles:
        rendered, found = apply_overrides(deployment(ctx, role), overrides_of(md), check, SKELETON)
        pin_selector(rendered, selector(md, role))
        problems.extend(d for d in found if d not in problems)
        objects.append(rendered)
    objects.extend(service(ctx, role) for role in roles)
    return RenderResult(objects, problems)
