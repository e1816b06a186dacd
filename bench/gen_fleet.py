"""Generate a fleet of N ModelDeployments, and its kustomize twin, for benchmarks.

    python bench/gen_fleet.py N OUT_DIR [--no-kustomize] [--namespaces K]

OUT_DIR becomes a runwayc source repo: `runway.yaml`, a full `runway.lock` (provider and
image pins), and `deployments/<namespace>/md-<i>.yaml` with mixed namespaces (K of them,
default 20), GPU counts, args, env, overrides and recipe annotations; deterministic for a
given N and K.

OUT_DIR/kustomize is the same fleet the way a team would keep it with kustomize alone: a
`base/` (the vLLM Deployment and Service every model shares), one overlay per model under
`overlays/<namespace>/<name>/` (namespace, name suffix, the image pinned by digest through
`images:`, one strategic-merge patch with the model's own settings, and the ModelDeployment),
and a top-level kustomization over all overlays. The patch is derived from runwayc's rendering
of the same model, so `kubectl kustomize OUT_DIR/kustomize` builds the same objects as
`runwayc compile OUT_DIR --env prod` (bench/compile_bench.py checks that they are equal).
"""

from __future__ import annotations

import copy
import hashlib
import sys
from pathlib import Path
from typing import Any

import yaml

IMAGES = ["vllm/vllm-openai:cu130-nightly", "vllm/vllm-openai:v0.11.0", "vllm/vllm-openai:v0.10.2"]
MODELS = ["Qwen/Qwen2.5-0.5B-Instruct", "microsoft/Phi-4-mini-instruct", "meta-llama/Llama-3.1-8B"]
BASE_NAME = "md"
# libyaml when present: the pure-Python dumper and loader dominate generating a large fleet.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
IMAGE_NAME = "vllm/vllm-openai"


NAMESPACES = 20


def model_deployment(i: int, namespaces: int = NAMESPACES) -> dict[str, Any]:
    gpus = (1, 2, 4, 8)[i % 4]
    spec: dict[str, Any] = {
        "model": {"id": MODELS[i % 3], "servedName": f"model-{i}"},
        "provider": {"name": "vllm"},
        "engine": {
            "type": "vllm",
            "contextLength": 4096 * (1 + i % 4),
            "args": {"gpu-memory-utilization": "0.9", "max-num-seqs": str(64 + i % 128)},
            "extraArgs": ["--seed", str(i)],
        },
        "resources": {"gpu": {"count": gpus}, "memory": f"{16 * gpus}Gi", "cpu": str(4 * gpus)},
        "env": [{"name": "VLLM_LOGGING_LEVEL", "value": "INFO"}],
        "secrets": {"huggingFaceToken": "hf-token"},
        "scaling": {"replicas": 1 + i % 3},
    }
    if i % 3:
        spec["engine"]["image"] = IMAGES[i % 3]
    if i % 5 == 0:
        spec["provider"]["overrides"] = {
            "spec": {"template": {"spec": {"terminationGracePeriodSeconds": 120}}}
        }
    return {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": f"md-{i}",
            "namespace": f"team-{i % namespaces}",
            # Recipe provenance as `runwayc recipe apply` writes it: already materialised.
            "annotations": {
                "airunway.ai/generated-by": "vllm-recipe-resolver",
                "airunway.ai/recipe.id": MODELS[i % 3],
            },
        },
        "spec": spec,
    }


def lock_document(mds: list[dict[str, Any]]) -> dict[str, Any]:
    providers = {
        f"{md['metadata']['namespace']}/{md['metadata']['name']}": {
            "name": "vllm",
            "reason": "explicit: spec.provider.name",
        }
        for md in mds
    }
    images = {}
    for ref in IMAGES:
        repo, tag = ref.rsplit(":", 1)
        digest = "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
        images[ref] = {
            "requested": ref,
            "repository": f"docker.io/{repo}",
            "tag": tag,
            "digest": digest,
            "resolved": f"docker.io/{repo}@{digest}",
        }
    return {"version": 1, "providers": providers, "images": images, "recipes": {}}


def generate(count: int, out: Path, namespaces: int = NAMESPACES) -> None:
    """The runwayc source repo of `count` models in `out`, spread over `namespaces`."""
    (out / "deployments").mkdir(parents=True, exist_ok=True)
    (out / "runway.yaml").write_text(
        "apiVersion: runwayc.dev/v1alpha1\nkind: Project\ndefaultEnvironment: prod\n"
        "environments:\n  prod: {}\n"
    )
    mds = [model_deployment(i, namespaces) for i in range(count)]
    for md in mds:
        path = out / "deployments" / md["metadata"]["namespace"] / f"{md['metadata']['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.dump(md, Dumper=_DUMPER, sort_keys=False))
    (out / "runway.lock").write_text(yaml.dump(lock_document(mds), Dumper=_DUMPER, sort_keys=True))


# --- the kustomize twin -----------------------------------------------------------------------

# Fields every model's Deployment shares (the base); everything else is the model's patch.
_SHARED_CONTAINER = ("livenessProbe", "readinessProbe", "startupProbe", "ports")


def _dump(docs: list[dict[str, Any]]) -> str:
    return str(yaml.dump_all(docs, Dumper=_DUMPER, sort_keys=False))


def _split_deployment(deployment: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(base part, model patch) of a rendered Deployment."""
    spec = deployment["spec"]
    container = spec["template"]["spec"]["containers"][0]
    base_container = {"name": container["name"], "image": IMAGE_NAME}
    base_container.update({k: container[k] for k in _SHARED_CONTAINER if k in container})
    base = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": BASE_NAME},
        "spec": {"template": {"spec": {"containers": [base_container]}}},
    }
    patch = copy.deepcopy(deployment)
    patch["metadata"] = {"name": BASE_NAME, "labels": deployment["metadata"]["labels"]}
    patch_container = patch["spec"]["template"]["spec"]["containers"][0]
    for key in (*_SHARED_CONTAINER, "image"):
        patch_container.pop(key, None)
    return base, patch


def _split_service(service: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    base = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": BASE_NAME},
        "spec": {"ports": service["spec"]["ports"], "type": service["spec"]["type"]},
    }
    patch = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": BASE_NAME, "labels": service["metadata"]["labels"]},
        "spec": {"selector": service["spec"]["selector"]},
    }
    return base, patch


def generate_kustomize(source: Path, out: Path) -> None:
    """The kustomize twin of the runwayc repo in `source`, built from its compiled objects."""
    from compiler.core.pipeline import CompileOptions, compile_project
    from compiler.io.workspace import Workspace

    result = compile_project(
        Workspace(source).inputs("prod"), CompileOptions(env="prod", locked=True)
    )
    if not result.ok:
        raise SystemExit(f"the fleet does not compile: {result.diagnostics[:3]}")
    overlays = []
    base_written = False
    for compiled in result.deployments:
        objects = {o["kind"]: o for o in yaml.load_all(compiled.manifest, Loader=_LOADER)}
        base_deployment, deployment_patch = _split_deployment(objects["Deployment"])
        base_service, service_patch = _split_service(objects["Service"])
        if not base_written:
            base = out / "base"
            base.mkdir(parents=True, exist_ok=True)
            (base / "deployment.yaml").write_text(_dump([base_deployment]))
            (base / "service.yaml").write_text(_dump([base_service]))
            (base / "kustomization.yaml").write_text(
                _dump([{"resources": ["deployment.yaml", "service.yaml"]}])
            )
            base_written = True
        image = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
        new_name, digest = image.split("@", 1)
        md = copy.deepcopy(objects["ModelDeployment"])
        md["metadata"]["name"] = BASE_NAME  # the overlay's nameSuffix names it, like the rest
        del md["metadata"]["namespace"]
        suffix = compiled.name.removeprefix(BASE_NAME)
        overlay = out / "overlays" / compiled.namespace / compiled.name
        overlay.mkdir(parents=True, exist_ok=True)
        (overlay / "modeldeployment.yaml").write_text(_dump([md]))
        (overlay / "patch.yaml").write_text(_dump([deployment_patch, service_patch]))
        kustomization = {
            "resources": ["../../../base", "modeldeployment.yaml"],
            "namespace": compiled.namespace,
            "nameSuffix": suffix,
            "images": [{"name": IMAGE_NAME, "newName": new_name, "digest": digest}],
            "patches": [{"path": "patch.yaml"}],
        }
        (overlay / "kustomization.yaml").write_text(_dump([kustomization]))
        overlays.append(f"overlays/{compiled.namespace}/{compiled.name}")
    (out / "kustomization.yaml").write_text(_dump([{"resources": sorted(overlays)}]))


def main() -> None:
    argv = sys.argv[1:]
    namespaces = NAMESPACES
    if "--namespaces" in argv:
        at = argv.index("--namespaces")
        namespaces = int(argv[at + 1])
        del argv[at : at + 2]
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2:
        raise SystemExit(__doc__)
    count, out = int(args[0]), Path(args[1])
    generate(count, out, namespaces)
    if "--no-kustomize" not in sys.argv:
        generate_kustomize(out, out / "kustomize")


if __name__ == "__main__":
    main()
