"""KubeRay (provider `kuberay`): one `ray.io/v1` RayService per ModelDeployment.

AI Runway's KubeRay transformer (commit b0d3fb7): Ray Serve runs one application `llm` whose
config (`serveConfigV2`) is a YAML string; the head pod carries the model and vLLM flags in
its environment, GPU workers sit in one group (`gpu-workers`), or in `prefill-workers` and
`decode-workers` when disaggregated. It applies no `provider.overrides` (compile warns).
"""

from __future__ import annotations

from typing import Any

import yaml

from compiler.core.diagnostics import Diagnostic
from compiler.core.kube import KubeObject
from compiler.core.model import DEFAULT_GPU_RESOURCE, ModelDeployment, gpu_resource_name
from compiler.core.policy import CheckContext
from compiler.core.providers.base import RenderContext, RenderResult
from compiler.core.providers.common import (
    airunway_labels,
    component_gpus,
    engine_arg_tokens,
    hf_token_env,
    pod_annotations,
    pod_labels,
    serving_roles,
)
from compiler.core.providers.vllm import user_env
from compiler.core.stamp import MODEL_DEPLOYMENT_LABEL

API_VERSION = "ray.io/v1"
KIND = "RayService"
HEAD_CPU = "4"
HEAD_MEMORY = "16Gi"
WORKER_MEMORY = "32Gi"

MSG_ENGINE = "KubeRay only supports vllm engine, got {engine}"
MSG_NEEDS_GPU = "KubeRay requires GPU (set resources.gpu.count > 0)"


def check_kuberay(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    engine = md.engine
    if engine != "vllm":
        found.append(
            ctx.at("PROVIDER_ENGINE", MSG_ENGINE.format(engine=engine), ("spec", "engine", "type"))
        )
    if not any(component_gpus(md, role) > 0 for role in serving_roles(md)):
        found.append(
            ctx.at("PROVIDER_NEEDS_GPU", MSG_NEEDS_GPU, ("spec", "resources", "gpu", "count"))
        )
    return found


def serve_config(md: ModelDeployment) -> str:
    """`serveConfigV2`: RayService takes the Serve config as one YAML string."""
    config = {
        "applications": [
            {
                "name": "llm",
                "route_prefix": "/",
                "import_path": "vllm_serve:deployment",
                "deployments": [
                    {
                        "name": "VLLMDeployment",
                        "num_replicas": md.replicas if md.replicas > 0 else 1,
                    }
                ],
            }
        ]
    }
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(config, Dumper=dumper, sort_keys=False, default_flow_style=False)
    return text


def vllm_engine_args(md: ModelDeployment) -> str:
    """VLLM_ENGINE_ARGS: one space-separated string, as AI Runway builds it."""
    engine = md.spec.engine
    args = ["--model", md.spec.model.id or ""]
    if engine is not None and engine.context_length is not None:
        args += ["--max-model-len", str(engine.context_length)]
    if md.spec.model.served_name:
        args += ["--served-model-name", md.spec.model.served_name]
    if engine is not None and engine.trust_remote_code:
        args.append("--trust-remote-code")
    return " ".join(args + engine_arg_tokens(md))


def head_group(md: ModelDeployment, image: str) -> dict[str, Any]:
    env = [
        {"name": "MODEL_ID", "value": md.spec.model.id or ""},
        {"name": "VLLM_ENGINE_ARGS", "value": vllm_engine_args(md)},
        *user_env(md),
        *hf_token_env(md),
    ]
    memory = md.spec.resources.memory if md.spec.resources else None
    return {
        "rayStartParams": {"dashboard-host": "0.0.0.0"},  # noqa: S104 - inside the pod network
        "template": {
            "metadata": {"labels": {MODEL_DEPLOYMENT_LABEL: md.name}},
            "spec": {
                "containers": [
                    {
                        "name": "ray-head",
                        "image": image,
                        "resources": {"limits": {"cpu": HEAD_CPU, "memory": memory or HEAD_MEMORY}},
                        "env": env,
                    }
                ]
            },
        },
    }


def worker_group(md: ModelDeployment, image: str, role: str | None) -> dict[str, Any]:
    if role is None:
        name = "gpu-workers"
        replicas = md.replicas if md.replicas > 0 else 1
        gpus = component_gpus(md, None)
        gpu_name = gpu_resource_name(md)
        memory = md.spec.resources.memory if md.spec.resources else None
    else:
        component = getattr(md.spec.scaling, role)
        name = f"{role}-workers"
        replicas = component.replicas
        gpus = component_gpus(md, role)
        gpu_name = component.gpu.type if component.gpu is not None else DEFAULT_GPU_RESOURCE
        memory = component.memory
    limits = {"memory": memory or WORKER_MEMORY, gpu_name: str(gpus)}
    return {
        "groupName": name,
        "replicas": replicas,
        "minReplicas": replicas,
        "maxReplicas": replicas,
        "template": {
            "metadata": {"labels": {MODEL_DEPLOYMENT_LABEL: md.name}},
            "spec": {
                "containers": [
                    {"name": "ray-worker", "image": image, "resources": {"limits": limits}}
                ]
            },
        },
    }


def render_kuberay(ctx: RenderContext) -> RenderResult:
    md = ctx.md
    image = ctx.image or ""
    metadata: dict[str, Any] = {
        "name": md.name,
        "namespace": ctx.namespace,
        "labels": {**airunway_labels(md), **pod_labels(md)},
    }
    annotations = pod_annotations(md)
    if annotations:
        metadata["annotations"] = annotations
    service: KubeObject = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "serveConfigV2": serve_config(md),
            "rayClusterConfig": {
                "headGroupSpec": head_group(md, image),
                "workerGroupSpecs": [worker_group(md, image, r) for r in serving_roles(md)],
            },
        },
    }
    return RenderResult([service])
