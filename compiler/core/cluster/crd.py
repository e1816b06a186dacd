"""The ModelDeployment CRD, generated from the pydantic models.

The spec schema is the JSON Schema of `ModelDeploymentSpec` turned structural (what the API
server requires of a CRD): references inlined, `X | None` reduced to X (the compiler never
writes nulls), `int | quantity` written as Kubernetes' int-or-string, free-form maps
(`provider.overrides`) kept with `x-kubernetes-preserve-unknown-fields`, and no
`additionalProperties: false` (structural schemas prune unknown fields instead; `kubectl apply`
reports them as errors under strict field validation, the default). The status schema comes
from `ModelDeploymentStatus`, the shape the agent writes. The rules CEL can check on one object
ride along as `x-kubernetes-validations` (compiler.core.cluster.rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from compiler.core.cluster.rules import crd_rules
from compiler.core.kube import API_GROUP, KIND, PLURAL, VERSION, KubeObject
from compiler.core.model import ModelDeploymentSpec, ModelDeploymentStatus
from compiler.core.policy import PolicySet

CRD_NAME = f"{PLURAL}.{API_GROUP}"
# JSON Schema keywords the API server's structural schema keeps; titles and the like go.
_KEPT = (
    "type",
    "format",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "default",
    "description",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
)
PRINTER_COLUMNS = [
    {
        "name": "Phase",
        "type": "string",
        "description": "Current phase",
        "jsonPath": ".status.phase",
    },
    {
        "name": "Provider",
        "type": "string",
        "description": "Selected provider",
        "jsonPath": ".status.provider.name",
    },
    {
        "name": "Engine",
        "type": "string",
        "description": "Inference engine",
        "jsonPath": ".status.engine.type",
    },
    {
        "name": "Replicas",
        "type": "integer",
        "description": "Ready replicas",
        "jsonPath": ".status.replicas.ready",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _resolve(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, dict) and "$ref" in node:
        return _resolve(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    return node


def structural(node: Any, defs: Mapping[str, Any]) -> dict[str, Any]:
    """One JSON Schema node (pydantic's dialect) as a structural OpenAPI v3 schema node."""
    node = _resolve(node, defs)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        concrete = [_resolve(v, defs) for v in variants if _resolve(v, defs).get("type") != "null"]
        types = {v.get("type") for v in concrete}
        if types == {"integer", "string"}:
            out: dict[str, Any] = {"x-kubernetes-int-or-string": True}
            pattern = next((v["pattern"] for v in concrete if "pattern" in v), None)
            if pattern is not None:
                out["pattern"] = pattern
            return out
        if len(concrete) != 1:
            raise ValueError(f"no structural form for a union of {sorted(map(str, types))}")
        merged = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
        return structural({**concrete[0], **merged}, defs)
    out = {key: node[key] for key in _KEPT if key in node}
    if out.get("default", 0) is None:
        del out["default"]  # pydantic's `= None`: absent, not null
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        out["type"] = "object"
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        if properties:
            out["properties"] = {
                name: structural(schema, defs) for name, schema in sorted(properties.items())
            }
            if node.get("required"):
                out["required"] = sorted(node["required"])
        elif isinstance(extra, dict) and extra:
            out["additionalProperties"] = structural(extra, defs)
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
        out.pop("default", None)  # object defaults would add fields the user never wrote
    elif kind == "array":
        out["items"] = structural(node.get("items") or {}, defs)
    elif kind is None:
        raise ValueError(f"schema node without a type: {sorted(node)}")
    return out


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return structural(schema, schema.get("$defs", {}))


def model_deployment_crd(policy: PolicySet) -> KubeObject:
    spec = _schema_of(ModelDeploymentSpec)
    spec["description"] = "The desired ModelDeployment, as AI Runway's API defines it."
    for path, rules in crd_rules(policy).items():
        node = spec
        for step in path:
            node = node["properties"][step] if step != "*" else node["additionalProperties"]
        node["x-kubernetes-validations"] = rules
    status = _schema_of(ModelDeploymentStatus)
    status["description"] = "Observed state, written by the runwayc status agent."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["md"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "ModelDeployment is the Schema for the "
                            "modeldeployments API",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }
