"""NVIDIA Dynamo (provider `dynamo`): one `nvidia.com/v1alpha1` DynamoGraphDeployment.

AI Runway's Dynamo transformer (commit b0d3fb7): a worker service (`VllmWorker`, or
`VllmPrefillWorker` + `VllmDecodeWorker` when disaggregated; the keys say Vllm for every
engine, as upstream), and a router: with the gateway on (the default) an endpoint picker
(`Epp`) plus a frontend sidecar on each worker, with `gateway.enabled: false` a standalone
`Frontend`.

`provider.overrides` has typed keys (`routerMode`, `frontend.replicas`,
`frontend.resources.cpu|memory`, `epp.replicas`, `epp.image`) and is otherwise deep-merged at
the object root. AI Runway merges the whole map, so the typed keys also land at the root of
the DynamoGraphDeployment, where the API server prunes or refuses them; here they are consumed
and only the rest is merged (the evident intent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from compiler.core.diagnostics import Diagnostic
from compiler.core.kube import KubeObject
from compiler.core.model import ModelDeployment, ProviderEntry
from compiler.core.policy import OVERRIDES, CheckContext
from compiler.core.providers.base import (
    ImagePlan,
    RenderContext,
    RenderResult,
    engine_image_plan,
)
from compiler.core.providers.common import (
    apply_overrides,
    check_override_root,
    component_gpus,
    engine_arg_tokens,
    overrides_of,
    scheduling,
    serving_roles,
)
from compiler.core.providers.storage import check_storage, claim_name, managed_claims, volumes_of
from compiler.core.providers.storage import mount_path as volume_mount_path
from compiler.core.stamp import (
    ENGINE_TYPE_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    MODEL_DEPLOYMENT_LABEL,
    MODEL_ID_LABEL,
)

API_VERSION = "nvidia.com/v1alpha1"
KIND = "DynamoGraphDeployment"
MOCKER_ANNOTATION = "airunway.ai/dynamo-test-backend"
# Component image roles in the catalog (policies/providers.yaml).
SIDECAR_IMAGE = "frontendSidecar"
EPP_IMAGE = "epp"
TYPED_OVERRIDES = ("routerMode", "frontend", "epp")
OVERRIDE_ROOTS = ("spec", *TYPED_OVERRIDES)
SKELETON = (("spec",), ("spec", "services"))
KV_TRANSFER_CONFIG = json.dumps(
    {"kv_connector": "NixlConnector", "kv_role": "kv_both"}, separators=(",", ":")
)
DEFAULT_ROUTER_MODE = "round-robin"
FRONTEND_CPU = "2"
FRONTEND_MEMORY = "4Gi"

MSG_LLAMACPP = "Dynamo does not support llamacpp engine"
MSG_NEEDS_GPU = "Dynamo requires GPU (set resources.gpu.count > 0)"
# Not an AI Runway message: its controller does not check serving mode for an explicit
# provider, and would create a DynamoGraphDeployment Dynamo cannot run.
MSG_TRTLLM_DISAGG = "Dynamo does not support disaggregated serving mode for the trtllm engine"
MSG_MOCKER = (
    f"the Dynamo test backend ({MOCKER_ANNOTATION}: mocker) is a test-only mode runwayc does not "
    "render; remove the annotation"
)


def gateway_enabled(md: ModelDeployment) -> bool:
    gateway = md.spec.gateway
    return gateway is None or gateway.enabled is None or gateway.enabled


def check_dynamo(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    engine = md.engine
    if engine == "llamacpp":
        found.append(ctx.at("PROVIDER_ENGINE", MSG_LLAMACPP, ("spec", "engine", "type")))
    # In disaggregated mode a prefill GPU satisfies it (the webhook checks both components).
    if not any(component_gpus(md, role) > 0 for role in serving_roles(md)):
        found.append(
            ctx.at("PROVIDER_NEEDS_GPU", MSG_NEEDS_GPU, ("spec", "resources", "gpu", "count"))
        )
    if engine == "trtllm" and md.serving_mode == "disaggregated":
        found.append(
            ctx.at("PROVIDER_SERVING_MODE", MSG_TRTLLM_DISAGG, ("spec", "serving", "mode"))
        )
    if (md.metadata.annotations or {}).get(MOCKER_ANNOTATION) == "mocker":
        found.append(
            ctx.at(
                "PROVIDER_UNSUPPORTED", MSG_MOCKER, ("metadata", "annotations", MOCKER_ANNOTATION)
            )
        )
    found.extend(check_override_root(md, ctx, OVERRIDE_ROOTS))
    found.extend(_typed_override_problems(md, ctx))
    found.extend(check_storage(md, ctx))
    return found


_TYPED_SHAPES: tuple[tuple[tuple[str, ...], type], ...] = (
    (("routerMode",), str),
    (("frontend",), dict),
    (("frontend", "replicas"), int),
    (("frontend", "resources"), dict),
    (("frontend", "resources", "cpu"), str),
    (("frontend", "resources", "memory"), str),
    (("epp",), dict),
    (("epp", "replicas"), int),
    (("epp", "image"), str),
)
_TYPE_NAMES = {str: "a string", int: "an integer", dict: "a mapping"}


def _typed_override_problems(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """AI Runway decodes the typed keys strictly; a wrong type or unknown key is its
    "failed to unmarshal overrides" error."""
    overrides = overrides_of(md)
    found = []
    for path, wanted in _TYPED_SHAPES:
        value = _lookup(overrides, path)
        if value is None:
            continue
        ok = isinstance(value, wanted) and not (wanted is int and isinstance(value, bool))
        if not ok:
            message = (
                f"failed to unmarshal overrides: {'.'.join(path)} must be {_TYPE_NAMES[wanted]}"
            )
            found.append(ctx.at("OVERRIDE_SHAPE", message, (*OVERRIDES, *path)))
    known = {".".join(path) for path, _ in _TYPED_SHAPES}
    for root in ("frontend", "epp"):
        for key, value in _walk(overrides.get(root), (root,)):
            if key not in known and not isinstance(value, dict):
                message = f'failed to unmarshal overrides: unknown field "{key}"'
                found.append(ctx.at("OVERRIDE_SHAPE", message, (*OVERRIDES, *key.split("."))))
    return found


def _walk(node: Any, path: tuple[str, ...]) -> list[tuple[str, Any]]:
    if not isinstance(node, Mapping):
        return []
    out: list[tuple[str, Any]] = []
    for key, value in node.items():
        here = (*path, str(key))
        out.append((".".join(here), value))
        out.extend(_walk(value, here))
    return out


def _lookup(node: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def dynamo_images(md: ModelDeployment, entry: ProviderEntry) -> ImagePlan:
    plan = engine_image_plan(md, entry)
    if not gateway_enabled(md):
        return plan  # the standalone Frontend runs the worker image
    roles = (SIDECAR_IMAGE, EPP_IMAGE)
    components = {role: entry.component_images[role] for role in roles}
    return ImagePlan(plan.engine, plan.engine_is_default, components)


def sanitize_label_value(value: str) -> str:
    """AI Runway's sanitizeLabelValue: cut to 63, replace invalid characters, trim the ends."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", value[:63]).strip("-_.")


def engine_args(md: ModelDeployment) -> list[str]:
    engine_type = md.engine
    engine = md.spec.engine
    real_vllm_or_sglang = engine_type in ("vllm", "sglang")
    args = ["--model" if engine_type == "vllm" else "--model-path", md.spec.model.id or ""]
    if md.spec.model.served_name:
        args += ["--served-model-name", md.spec.model.served_name]
    if engine is not None and engine.context_length is not None:
        if engine_type == "vllm":
            args += ["--max-model-len", str(engine.context_length)]
        elif engine_type == "sglang":
            args += ["--context-length", str(engine.context_length)]
    if engine is not None and real_vllm_or_sglang:
        if engine.trust_remote_code:
            args.append("--trust-remote-code")
        if engine.enable_prefix_caching:
            args.append("--enable-prefix-caching")
        if engine.enforce_eager:
            args.append("--enforce-eager")
    # "connector" is consumed by AI Runway itself for vLLM, never passed to the engine.
    skip = frozenset({"connector"}) if engine_type == "vllm" else frozenset()
    return args + engine_arg_tokens(md, skip)


def _worker_resources(md: ModelDeployment, role: str | None) -> dict[str, Any]:
    gpus = component_gpus(md, role)
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if gpus > 0:
        limits["gpu"] = requests["gpu"] = str(gpus)
    if role is None:
        resources = md.spec.resources
        if resources is not None and resources.memory:
            limits["memory"] = resources.memory
        if resources is not None and resources.cpu:
            limits["cpu"] = resources.cpu
    else:
        component = getattr(md.spec.scaling, role)
        if component.memory:
            limits["memory"] = component.memory
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _worker_env(md: ModelDeployment) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    user_sets_hf_home = any(var.name == "HF_HOME" for var in md.spec.env or [])
    cache = next((v for v in volumes_of(md) if v.purpose == "modelCache"), None)
    if cache is not None and not user_sets_hf_home:
        env.append({"name": "HF_HOME", "value": volume_mount_path(cache) or ""})
    if md.engine == "vllm" and md.serving_mode == "disaggregated":
        env.append(
            {
                "name": "VLLM_NIXL_SIDE_CHANNEL_HOST",
                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
            }
        )
    return env


def _volume_mounts(md: ModelDeployment) -> list[dict[str, Any]]:
    mounts = []
    for volume in volumes_of(md):
        mount: dict[str, Any] = {
            "name": claim_name(md, volume),
            "mountPoint": volume_mount_path(volume) or "",
        }
        if volume.purpose == "compilationCache":
            mount["useAsCompilationCache"] = True
        if volume.read_only:
            mount["readOnly"] = True
        mounts.append(mount)
    return mounts


def _hf_secret(md: ModelDeployment) -> str | None:
    return md.spec.secrets.hugging_face_token if md.spec.secrets else None


def worker(ctx: RenderContext, role: str | None) -> dict[str, Any]:
    md = ctx.md
    engine_type = md.engine
    args = engine_args(md)
    if role is not None:
        args += ["--disaggregation-mode", role]
        if engine_type == "vllm":
            args += ["--kv-transfer-config", KV_TRANSFER_CONFIG]
    main: dict[str, Any] = {
        "image": ctx.image,
        "command": ["python3", "-m", f"dynamo.{engine_type}"],
        "args": args,
    }
    env = _worker_env(md)
    if env:
        main["env"] = env
    pod: dict[str, Any] = {"mainContainer": main, **scheduling(md)}
    if role is None:
        replicas = md.replicas if md.replicas > 0 else 1
    else:
        replicas = getattr(md.spec.scaling, role).replicas
    service: dict[str, Any] = {"componentType": "worker"}
    if role is not None:
        service["subComponentType"] = role
    service["replicas"] = replicas
    resources = _worker_resources(md, role)
    if resources:
        service["resources"] = resources
    service["extraPodSpec"] = pod
    secret = _hf_secret(md)
    if gateway_enabled(md):
        sidecar_args = ["-m", "dynamo.frontend"]
        if role is None:
            sidecar_args += ["--router-mode", "direct"]
        sidecar: dict[str, Any] = {
            "image": ctx.component_images[SIDECAR_IMAGE],
            "args": sidecar_args,
        }
        if secret:
            sidecar["envFromSecret"] = secret
        service["frontendSidecar"] = sidecar
    if secret:
        service["envFromSecret"] = secret
    mounts = _volume_mounts(md)
    if mounts:
        service["volumeMounts"] = mounts
    return service


def _epp_plugins(disaggregated: bool) -> tuple[list[Any], list[Any]]:
    def label_filter(name: str, value: str, allows_no_label: bool) -> dict[str, Any]:
        return {
            "name": name,
            "type": "label-filter",
            "parameters": {
                "label": "nvidia.com/dynamo-sub-component-type",
                "validValues": [value],
                "allowsNoLabel": allows_no_label,
            },
        }

    def profile(name: str, refs: tuple[str, ...]) -> dict[str, Any]:
        return {"name": name, "plugins": [{"pluginRef": ref, "weight": 1} for ref in refs]}

    handler = {"type": "disagg-profile-handler"}
    picker = {"name": "picker", "type": "max-score-picker"}
    decode_scorer = {"name": "dyn-decode", "type": "dyn-decode-scorer"}
    decode_filter = label_filter("decode-filter", "decode", not disaggregated)
    decode = profile("decode", ("decode-filter", "dyn-decode", "picker"))
    if not disaggregated:
        return [handler, decode_filter, picker, decode_scorer], [decode]
    prefill_filter = label_filter("prefill-filter", "prefill", False)
    prefill_scorer = {"name": "dyn-prefill", "type": "dyn-prefill-scorer"}
    prefill = profile("prefill", ("prefill-filter", "dyn-prefill", "picker"))
    plugins = [handler, prefill_filter, decode_filter, picker, prefill_scorer, decode_scorer]
    return plugins, [prefill, decode]


def epp(ctx: RenderContext, typed: Mapping[str, Any]) -> dict[str, Any]:
    disaggregated = ctx.md.serving_mode == "disaggregated"
    plugins, profiles = _epp_plugins(disaggregated)
    settings = typed.get("epp") or {}
    return {
        "componentType": "epp",
        "replicas": settings.get("replicas", 1),
        "extraPodSpec": {
            "mainContainer": {
                "image": settings.get("image") or ctx.component_images[EPP_IMAGE],
                "env": [
                    {"name": "DYN_DECODE_FALLBACK", "value": "false" if disaggregated else "true"},
                    {"name": "DYN_ENFORCE_DISAGG", "value": "true" if disaggregated else "false"},
                ],
            }
        },
        "eppConfig": {"config": {"plugins": plugins, "schedulingProfiles": profiles}},
    }


def frontend(ctx: RenderContext, typed: Mapping[str, Any]) -> dict[str, Any]:
    settings = typed.get("frontend") or {}
    resources = settings.get("resources") or {}
    service: dict[str, Any] = {
        "componentType": "frontend",
        "replicas": settings.get("replicas", 1),
        "resources": {
            "requests": {
                "cpu": resources.get("cpu") or FRONTEND_CPU,
                "memory": resources.get("memory") or FRONTEND_MEMORY,
            }
        },
        "extraPodSpec": {
            "mainContainer": {
                "image": ctx.image,
                "env": [
                    {
                        "name": "DYN_ROUTER_MODE",
                        "value": typed.get("routerMode") or DEFAULT_ROUTER_MODE,
                    }
                ],
            }
        },
    }
    secret = _hf_secret(ctx.md)
    if secret:
        service["envFromSecret"] = secret
    return service


def labels(md: ModelDeployment) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        MODEL_DEPLOYMENT_LABEL: md.name,
        MODEL_ID_LABEL: sanitize_label_value(md.spec.model.id or ""),
        ENGINE_TYPE_LABEL: md.engine,
    }


def render_dynamo(ctx: RenderContext) -> RenderResult:
    md = ctx.md
    overrides = overrides_of(md)
    typed = {key: overrides[key] for key in TYPED_OVERRIDES if key in overrides}
    rest = {key: value for key, value in overrides.items() if key not in TYPED_OVERRIDES}
    services: dict[str, Any] = {}
    if gateway_enabled(md):
        services["Epp"] = epp(ctx, typed)
    else:
        services["Frontend"] = frontend(ctx, typed)
    if md.serving_mode == "disaggregated":
        services["VllmPrefillWorker"] = worker(ctx, "prefill")
        services["VllmDecodeWorker"] = worker(ctx, "decode")
    else:
        services["VllmWorker"] = worker(ctx, None)
    spec: dict[str, Any] = {"backendFramework": md.engine, "services": services}
    volumes = volumes_of(md)
    if volumes:
        spec["pvcs"] = [{"name": claim_name(md, v), "create": False} for v in volumes]
    graph: KubeObject = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": md.name, "namespace": ctx.namespace, "labels": labels(md)},
        "spec": spec,
    }
    check = CheckContext(ctx.doc, ctx.policy)
    graph, problems = apply_overrides(graph, rest, check, SKELETON)
    claims = managed_claims(md, ctx.namespace, labels(md))
    return RenderResult([graph, *claims], problems)
