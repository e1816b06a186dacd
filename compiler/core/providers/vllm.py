"""Direct vLLM (provider `vllm`): one Deployment and one Service per ModelDeployment.

Matches AI Runway's Direct vLLM transformer: the image entrypoint serves (no `command`), the
container listens on 0.0.0.0:8000 so container, Service and probes agree, derived flags give
way to the user's own spelling of the same flag, and `provider.overrides` is deep-merged last,
after policy has cleared it.
"""

from __future__ import annotations

from typing import Any

from compiler.core.diagnostics import Diagnostic
from compiler.core.kube import VLLM_HTTP_PORT, KubeObject
from compiler.core.model import ModelDeployment, effective_gpu_count, gpu_resource_name
from compiler.core.policy import (
    CheckContext,
    check_launch_flags,
    check_reserved_networking,
    launch_line,
)
from compiler.core.providers.base import RenderContext, RenderResult
from compiler.core.providers.common import (
    HF_TOKEN_KEY,
    airunway_labels,
    apply_overrides,
    check_override_root,
    hf_token_env,
    overrides_of,
    pod_annotations,
    pod_labels,
    scheduling,
)
from compiler.core.providers.merge import SKELETON, pin_selector
from compiler.core.providers.storage import check_storage, managed_claims, pod_volumes
from compiler.core.stamp import APP_MANAGED_BY_LABEL, DEPLOYMENT_LABEL, MANAGED_BY_VALUE
from compiler.core.vllm_args import FlagRules, Token

CONTAINER_NAME = "vllm"
HEALTH_PATH = "/health"
SHM_SIZE = "20Gi"
SHM_MOUNT_PATH = "/dev/shm"  # noqa: S108 - the container's shared memory, not a temp file

MSG_NEEDS_GPU = "vLLM provider requires GPU resources (spec.resources.gpu.count > 0)"
MSG_NO_DISAGG = (
    "vLLM provider does not support disaggregated serving mode; use spec.serving.mode: aggregated"
)
MSG_ENGINE = "vLLM provider only supports the vllm engine, got {engine}"


def check_vllm(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """What Direct vLLM refuses beyond the common policy: GPU-less, disaggregated, networking."""
    found = []
    engine = md.engine_type
    if engine is not None and engine != "vllm":
        found.append(
            ctx.at("PROVIDER_ENGINE", MSG_ENGINE.format(engine=engine), ("spec", "engine", "type"))
        )
    if effective_gpu_count(md) <= 0:
        found.append(
            ctx.at("PROVIDER_NEEDS_GPU", MSG_NEEDS_GPU, ("spec", "resources", "gpu", "count"))
        )
    if md.serving_mode == "disaggregated":
        found.append(ctx.at("PROVIDER_SERVING_MODE", MSG_NO_DISAGG, ("spec", "serving", "mode")))
    found.extend(check_reserved_networking(md, ctx))
    found.extend(check_launch_flags(md, ctx, command_line(md, ctx.policy.flags)))
    found.extend(check_override_root(md, ctx, ("spec",)))
    found.extend(check_storage(md, ctx))
    return found


def labels(md: ModelDeployment) -> dict[str, str]:
    name = md.name
    return {
        **airunway_labels(md),
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": name,
        APP_MANAGED_BY_LABEL: MANAGED_BY_VALUE,
    }


def selector(md: ModelDeployment) -> dict[str, str]:
    return {DEPLOYMENT_LABEL: md.name, "app": md.name}


def derived_flags(md: ModelDeployment) -> list[tuple[str, str | None]]:
    """Flags Direct vLLM derives from the spec, in order: (identity, value or None)."""
    engine = md.spec.engine
    flags: list[tuple[str, str | None]] = []
    if md.spec.model.id:
        flags.append(("model", md.spec.model.id))
    if md.spec.model.served_name:
        flags.append(("served-model-name", md.spec.model.served_name))
    if engine is not None and engine.context_length is not None:
        flags.append(("max-model-len", str(engine.context_length)))
    if engine is not None and engine.trust_remote_code:
        flags.append(("trust-remote-code", None))
    if engine is not None and engine.enforce_eager:
        flags.append(("enforce-eager", None))
    # Without an engine block the CRD default never applies, so AI Runway renders neither.
    if engine is not None and engine.enable_prefix_caching:
        flags.append(("enable-prefix-caching", None))
    elif engine is not None:
        flags.append(("no-enable-prefix-caching", None))
    gpus = effective_gpu_count(md)
    if gpus > 1:
        flags.append(("tensor-parallel-size", str(gpus)))
    return flags


# runwayc's own first tokens: where the server listens, so container, Service and probes agree.
LISTEN = ("--host", "0.0.0.0", "--port", str(VLLM_HTTP_PORT))  # noqa: S104 - the pod IP


def command_line(md: ModelDeployment, rules: FlagRules) -> list[Token]:
    """`--host 0.0.0.0 --port 8000`, the derived flags, sorted args, extraArgs: as rendered,
    and as the flag checks read it."""
    return launch_line(md, LISTEN, derived_flags(md), rules)


def container_args(md: ModelDeployment, rules: FlagRules) -> list[str]:
    return [token.text for token in command_line(md, rules)]


def _probe(initial: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": HEALTH_PATH, "port": VLLM_HTTP_PORT},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "failureThreshold": failures,
    }


def user_env(md: ModelDeployment) -> list[dict[str, Any]]:
    """`spec.env` as container env; a user HF_TOKEN gives way to `secrets.huggingFaceToken`."""
    token_secret = md.spec.secrets.hugging_face_token if md.spec.secrets else None
    env = []
    for var in md.spec.env or []:
        if token_secret and var.name == HF_TOKEN_KEY:
            continue
        entry: dict[str, Any] = {"name": var.name}
        # The API server rejects value and valueFrom together; the explicit reference wins.
        if var.value_from is not None:
            entry["valueFrom"] = var.value_from.model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        elif var.value:
            entry["value"] = var.value
        env.append(entry)
    return env


def container_env(md: ModelDeployment) -> list[dict[str, Any]]:
    return [*user_env(md), *hf_token_env(md)]


def container_resources(
    gpus: int, gpu_name: str, memory: str | None, cpu: str | None
) -> dict[str, Any]:
    """GPUs and memory as limit and request, CPU as request only (AI Runway's shape)."""
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if gpus > 0:
        limits[gpu_name] = requests[gpu_name] = str(gpus)
    if memory:
        limits["memory"] = requests["memory"] = memory
    if cpu:
        requests["cpu"] = cpu
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def render_vllm_deployment(ctx: RenderContext) -> tuple[KubeObject, list[Diagnostic]]:
    md = ctx.md
    object_labels = labels(md)
    user_labels = pod_labels(md)
    annotations = pod_annotations(md)
    volumes, mounts = pod_volumes(md)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": ctx.image,
        "args": container_args(md, ctx.policy.flags),
        "ports": [{"name": "http", "containerPort": VLLM_HTTP_PORT, "protocol": "TCP"}],
        "startupProbe": _probe(15, 10, 60),
        "livenessProbe": _probe(15, 10, 3),
        "readinessProbe": _probe(15, 5, 3),
    }
    env = container_env(md)
    if env:
        container["env"] = env
    spec_resources = md.spec.resources
    resources = container_resources(
        effective_gpu_count(md),
        gpu_resource_name(md),
        spec_resources.memory if spec_resources else None,
        spec_resources.cpu if spec_resources else None,
    )
    if resources:
        container["resources"] = resources
    if effective_gpu_count(md) > 1:
        volumes.insert(0, {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}})
        mounts.insert(0, {"name": "shm", "mountPath": SHM_MOUNT_PATH})
    if mounts:
        container["volumeMounts"] = mounts
    # Kubernetes injects <SERVICE>_PORT=tcp://... for every Service in the namespace; a
    # ModelDeployment named `vllm` would hand vLLM VLLM_PORT, which it reads as its own
    # setting and refuses. The pod needs no service links: nothing can inject them.
    pod_spec: dict[str, Any] = {"enableServiceLinks": False, "containers": [container]}
    if volumes:
        pod_spec["volumes"] = volumes
    pod_spec.update(scheduling(md))
    # As AI Runway: podTemplate labels and annotations also land on the Deployment itself.
    deployment_meta: dict[str, Any] = {
        "name": md.name,
        "namespace": ctx.namespace,
        "labels": {**object_labels, **user_labels},
    }
    # User pod labels first, ours over them, the selector last: nothing can break the selector.
    template_meta: dict[str, Any] = {"labels": {**user_labels, **object_labels, **selector(md)}}
    if annotations:
        deployment_meta["annotations"] = annotations
        template_meta["annotations"] = dict(annotations)
    deployment: KubeObject = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": deployment_meta,
        "spec": {
            "replicas": md.replicas,
            "selector": {"matchLabels": selector(md)},
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }
    check = CheckContext(ctx.doc, ctx.policy)
    deployment, problems = apply_overrides(deployment, overrides_of(md), check, SKELETON)
    pin_selector(deployment, selector(md))
    return deployment, problems


def render_vllm_service(ctx: RenderContext) -> KubeObject:
    md = ctx.md
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": md.name, "namespace": ctx.namespace, "labels": labels(md)},
        "spec": {
            "type": "ClusterIP",
            "selector": selector(md),
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


def render_vllm(ctx: RenderContext) -> RenderResult:
    """Render a spec that has passed `check_vllm` (the pipeline runs it first)."""
    deployment, problems = render_vllm_deployment(ctx)
    claims = managed_claims(ctx.md, ctx.namespace, labels(ctx.md))
    return RenderResult([deployment, render_vllm_service(ctx), *claims], problems)
