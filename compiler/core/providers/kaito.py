"""KAITO (provider `kaito`): one `kaito.sh/v1beta1` Workspace per ModelDeployment.

AI Runway's KAITO transformer (commit b0d3fb7): `resource` and `inference` sit at the root of
the Workspace (it has no `spec`); engine `vllm` runs a KAITO preset named after the model,
engine `llamacpp` an inference template with the user's image serving on port 5000.

Left out on purpose: `resource.instanceType`, which AI Runway fills from its controller's
environment (`AIRUNWAY_KAITO_NODE_AUTO_PROVISIONING`, ...). A compiler's output must not depend
on the environment it runs in; set it with `provider.overrides.resource.instanceType`.
"""

from __future__ import annotations

from typing import Any

from compiler.core.diagnostics import Diagnostic, warning
from compiler.core.kube import KubeObject
from compiler.core.load import format_path
from compiler.core.model import ModelDeployment, ProviderEntry, effective_gpu_count
from compiler.core.policy import CheckContext
from compiler.core.providers.base import ImagePlan, RenderContext, RenderResult
from compiler.core.providers.common import (
    airunway_labels,
    apply_overrides,
    check_override_root,
    hf_token_env,
    overrides_of,
    pod_annotations,
    pod_labels,
)
from compiler.core.providers.vllm import user_env
from compiler.core.stamp import MODEL_DEPLOYMENT_LABEL

API_VERSION = "kaito.sh/v1beta1"
KIND = "Workspace"
LLAMACPP_PORT = 5000
GGUF_URL_ARG = "ggufUrl"
OVERRIDE_ROOTS = ("inference", "resource")
SKELETON = (("resource",), ("inference",))

MSG_ENGINE = "KAITO does not support {engine} engine"
MSG_NO_DISAGG = "KAITO does not support disaggregated serving mode"
# AI Runway's controller reads only the legacy spec.image here, so a llamacpp spec that sets
# only spec.engine.image (the preferred field) is refused although the transformer would use
# it. The evidently intended rule is "an image is set"; either field satisfies it.
MSG_LLAMACPP_IMAGE = "llamacpp engine requires spec.image to be set (or spec.engine.image)"


def check_kaito(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    engine = md.engine
    if engine in ("sglang", "trtllm"):
        found.append(
            ctx.at("PROVIDER_ENGINE", MSG_ENGINE.format(engine=engine), ("spec", "engine", "type"))
        )
    if md.serving_mode == "disaggregated":
        found.append(ctx.at("PROVIDER_SERVING_MODE", MSG_NO_DISAGG, ("spec", "serving", "mode")))
    if engine == "llamacpp" and md.engine_image() is None:
        found.append(ctx.at("PROVIDER_NEEDS_IMAGE", MSG_LLAMACPP_IMAGE, ("spec", "image")))
    args = md.spec.engine.args if md.spec.engine else None
    if engine == "llamacpp":
        for key in sorted(args or {}):
            if key != GGUF_URL_ARG:
                path = ("spec", "engine", "args", key)
                message = (
                    f"spec.engine.args.{key} is ignored by provider kaito "
                    f"(llamacpp reads only {GGUF_URL_ARG})"
                )
                found.append(
                    warning("FIELD_IGNORED", message, ctx.doc.location(path), format_path(path))
                )
    found.extend(check_override_root(md, ctx, OVERRIDE_ROOTS))
    return found


def kaito_images(md: ModelDeployment, entry: ProviderEntry) -> ImagePlan:
    """llamacpp runs the user's image (no default exists); a vllm preset picks its own."""
    if md.engine == "llamacpp":
        return ImagePlan(md.engine_image())
    return ImagePlan(None)


def labels(md: ModelDeployment) -> dict[str, str]:
    # As AI Runway: podTemplate labels are merged last and may overwrite ours.
    return {**airunway_labels(md), MODEL_DEPLOYMENT_LABEL: md.name, **pod_labels(md)}


def resource_spec(md: ModelDeployment) -> dict[str, Any]:
    match_labels = {"kubernetes.io/os": "linux", **(md.spec.node_selector or {})}
    if effective_gpu_count(md) > 0:
        match_labels["nvidia.com/gpu.present"] = "true"  # forced: wins over nodeSelector
    return {
        "count": md.replicas if md.replicas > 0 else 1,
        "labelSelector": {"matchLabels": match_labels},
    }


def llamacpp_template(md: ModelDeployment, image: str) -> dict[str, Any]:
    args = []
    gguf = (md.spec.engine.args or {}).get(GGUF_URL_ARG) if md.spec.engine else None
    if gguf:
        args.append(gguf)
    elif md.spec.model.source != "custom" and md.spec.model.id:
        args.append(f"huggingface://{md.spec.model.id}")
    args.append(f"--address=:{LLAMACPP_PORT}")
    container: dict[str, Any] = {
        "name": "model",
        "image": image,
        "args": args,
        "ports": [{"containerPort": LLAMACPP_PORT}],
    }
    requests = {}
    resources = md.spec.resources
    if resources is not None and resources.memory:
        requests["memory"] = resources.memory
    if resources is not None and resources.cpu:
        requests["cpu"] = resources.cpu
    if requests:
        container["resources"] = {"requests": requests}
    env = [*user_env(md), *hf_token_env(md)]
    if env:
        container["env"] = env
    return {
        "metadata": {"labels": {MODEL_DEPLOYMENT_LABEL: md.name}},
        "spec": {"containers": [container]},
    }


def render_kaito(ctx: RenderContext) -> RenderResult:
    md = ctx.md
    metadata: dict[str, Any] = {"name": md.name, "namespace": ctx.namespace, "labels": labels(md)}
    annotations = pod_annotations(md)
    if annotations:
        metadata["annotations"] = annotations
    if md.engine == "llamacpp" and ctx.image is not None:
        inference: dict[str, Any] = {"template": llamacpp_template(md, ctx.image)}
    else:
        inference = {"preset": {"name": md.spec.model.id or ""}}
    workspace: KubeObject = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "resource": resource_spec(md),
        "inference": inference,
    }
    check = CheckContext(ctx.doc, ctx.policy)
    workspace, problems = apply_overrides(workspace, overrides_of(md), check, SKELETON)
    return RenderResult([workspace], problems)
