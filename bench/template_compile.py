"""What a platform engineer would write instead of runwayc: one Jinja2 template and libyaml.

    python bench/template_compile.py REPO OUT

For a bench/gen_fleet.py repository only (vLLM, the fleet's fields): each spec is read with
libyaml, defaulted as AI Runway's CRD defaults it, its image looked up in runway.lock, and the
ModelDeployment, Service and Deployment are written from one template, one manifest per model,
plus the kustomization. No policy, no positions, no cache, no check that the tree is its own:
the peer bench/compile_bench.py holds runwayc to. The bench checks that this script and
runwayc build the same objects.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import jinja2
import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULT_IMAGE = "vllm/vllm-openai:cu130-nightly"
GPU = "nvidia.com/gpu"
SHM_SIZE = "20Gi"

# Every value goes through `tojson`: a JSON string is a YAML scalar that reads back as itself.
TEMPLATE = """\
---
apiVersion: v1
kind: Service
metadata:
  name: {{ name|tojson }}
  namespace: {{ namespace|tojson }}
  labels: {{ labels|tojson }}
spec:
  ports:
  - {name: http, port: 8000, protocol: TCP, targetPort: 8000}
  selector: {airunway.ai/deployment: {{ name|tojson }}, app: {{ name|tojson }}}
  type: ClusterIP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ name|tojson }}
  namespace: {{ namespace|tojson }}
  labels: {{ labels|tojson }}
spec:
  replicas: {{ spec.scaling.replicas }}
  selector:
    matchLabels: {airunway.ai/deployment: {{ name|tojson }}, app: {{ name|tojson }}}
  template:
    metadata:
      labels: {{ pod_labels|tojson }}
    spec:
      containers:
      - name: vllm
        image: {{ image.resolved|tojson }}
        args: {{ args|tojson }}
        env:
{%- for item in spec.env %}
        - {{ item|tojson }}
{%- endfor %}
        - name: HF_TOKEN
          valueFrom:
            secretKeyRef: {key: HF_TOKEN, name: {{ spec.secrets.huggingFaceToken|tojson }}}
        ports:
        - {containerPort: 8000, name: http, protocol: TCP}
{%- for probe, failures, period in [("startup", 60, 10), ("liveness", 3, 10),
                                    ("readiness", 3, 5)] %}
        {{ probe }}Probe:
          httpGet: {path: /health, port: 8000}
          failureThreshold: {{ failures }}
          initialDelaySeconds: 15
          periodSeconds: {{ period }}
{%- endfor %}
        resources:
          limits: {memory: {{ spec.resources.memory|tojson }}, nvidia.com/gpu: "{{ gpus }}"}
          requests:
            cpu: {{ spec.resources.cpu|tojson }}
            memory: {{ spec.resources.memory|tojson }}
            nvidia.com/gpu: "{{ gpus }}"
{%- if gpus > 1 %}
        volumeMounts:
        - {mountPath: /dev/shm, name: shm}
{%- endif %}
      enableServiceLinks: false
{%- if grace is not none %}
      terminationGracePeriodSeconds: {{ grace }}
{%- endif %}
{%- if gpus > 1 %}
      volumes:
      - {emptyDir: {medium: Memory, sizeLimit: {{ shm|tojson }}}, name: shm}
{%- endif %}
---
apiVersion: airunway.ai/v1alpha1
kind: ModelDeployment
metadata:
  name: {{ name|tojson }}
  namespace: {{ namespace|tojson }}
  labels: {environment: {{ env|tojson }}}
  annotations: {{ annotations|tojson }}
spec: {{ spec|tojson }}
"""


def default_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The CRD's defaults for the fields the fleet leaves out."""
    spec["model"].setdefault("source", "huggingface")
    engine = spec["engine"]
    engine.setdefault("enablePrefixCaching", True)
    engine.setdefault("enforceEager", False)
    engine.setdefault("trustRemoteCode", False)
    spec["resources"]["gpu"].setdefault("type", GPU)
    return spec


def render(doc: dict[str, Any], lock: dict[str, Any], env: str) -> str:
    name, namespace = doc["metadata"]["name"], doc["metadata"]["namespace"]
    spec = default_spec(doc["spec"])
    engine = spec["engine"]
    requested = engine.get("image", DEFAULT_IMAGE)
    image = lock["images"][requested]
    pin = lock["providers"][f"{namespace}/{name}"]
    gpus = spec["resources"]["gpu"]["count"]
    args = ["--host", "0.0.0.0", "--port", "8000", "--model", spec["model"]["id"]]
    args += ["--served-model-name", spec["model"]["servedName"]]
    args += ["--max-model-len", str(engine["contextLength"])]
    args += ["--enable-prefix-caching"]
    if gpus > 1:
        args += ["--tensor-parallel-size", str(gpus)]
    for key, value in engine.get("args", {}).items():
        args += [f"--{key}", value]
    args += engine.get("extraArgs", [])
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    nightly = requested.endswith("-nightly")
    annotations = dict(doc["metadata"].get("annotations", {}))
    annotations.update(
        {
            "runwayc.dev/environment": env,
            "runwayc.dev/image-digest": image["digest"],
            "runwayc.dev/image-in-nightly": "true" if nightly else "false",
            "runwayc.dev/image-requested": requested,
            "runwayc.dev/image-resolved": image["resolved"],
            "runwayc.dev/image-source": "nightly" if nightly else "stable",
            "runwayc.dev/policy": "passed",
            "runwayc.dev/provider": pin["name"],
            "runwayc.dev/provider-reason": pin["reason"],
            "runwayc.dev/spec-hash": "sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
        }
    )
    labels = {
        "airunway.ai/deployment": name,
        "airunway.ai/engine-type": "vllm",
        "airunway.ai/managed-by": "airunway",
        "airunway.ai/model-source": "huggingface",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "airunway",
        "app.kubernetes.io/name": name,
        "environment": env,
    }
    overrides = spec["provider"].get("overrides", {})
    grace = overrides.get("spec", {}).get("template", {}).get("spec", {})
    return _TEMPLATE.render(
        name=name,
        namespace=namespace,
        env=env,
        spec=spec,
        image=image,
        args=args,
        gpus=gpus,
        shm=SHM_SIZE,
        grace=grace.get("terminationGracePeriodSeconds"),
        annotations=annotations,
        labels=labels,
        pod_labels={**labels, "app": name},
    )


# autoescape is for HTML; this template writes YAML, and every value goes through tojson.
_TEMPLATE = jinja2.Environment(autoescape=False, keep_trailing_newline=True).from_string(TEMPLATE)


def main() -> None:
    repo, out = Path(sys.argv[1]), Path(sys.argv[2])
    env = "prod"
    lock = yaml.load((repo / "runway.lock").read_bytes(), Loader=_LOADER)
    resources = []
    for path in sorted((repo / "deployments").rglob("*.yaml")):
        doc = yaml.load(path.read_bytes(), Loader=_LOADER)
        meta = doc["metadata"]
        directory = out / meta["namespace"] / meta["name"]
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "manifest.yaml").write_text(render(doc, lock, env))
        resources.append(f"{meta['namespace']}/{meta['name']}/manifest.yaml")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(resources),
    }
    (out / "kustomization.yaml").write_text(json.dumps(kustomization))


if __name__ == "__main__":
    main()
