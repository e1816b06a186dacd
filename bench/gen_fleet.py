"""Generate a source repo of N ModelDeployments for benchmarks.

    python bench/gen_fleet.py N OUT_DIR

Mixed namespaces, GPU counts, args, env, safe overrides and a full runway.lock (providers and
image pins), deterministic for a given N. The equivalent kustomize tree that issue 9 asks for
is not generated yet.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml

IMAGES = ["vllm/vllm-openai:cu130-nightly", "vllm/vllm-openai:v0.11.0", "vllm/vllm-openai:v0.10.2"]
MODELS = ["Qwen/Qwen2.5-0.5B-Instruct", "microsoft/Phi-4-mini-instruct", "meta-llama/Llama-3.1-8B"]


def model_deployment(i: int) -> dict:
    gpus = (1, 2, 4, 8)[i % 4]
    spec: dict = {
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
            "namespace": f"team-{i % 20}",
            "annotations": {"airunway.ai/recipe.id": MODELS[i % 3]},
        },
        "spec": spec,
    }


def main() -> None:
    count, out = int(sys.argv[1]), Path(sys.argv[2])
    (out / "deployments").mkdir(parents=True, exist_ok=True)
    (out / "runway.yaml").write_text(
        "apiVersion: runwayc.dev/v1alpha1\nkind: Project\ndefaultEnvironment: prod\n"
        "environments:\n  prod: {}\n"
    )
    providers = {}
    for i in range(count):
        md = model_deployment(i)
        path = out / "deployments" / md["metadata"]["namespace"] / f"md-{i}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(md, sort_keys=False))
        key = f"{md['metadata']['namespace']}/md-{i}"
        providers[key] = {"name": "vllm", "reason": "explicit: spec.provider.name"}
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
    lock = {"version": 1, "providers": providers, "images": images, "recipes": {}}
    (out / "runway.lock").write_text(yaml.safe_dump(lock, sort_keys=True))


if __name__ == "__main__":
    main()
