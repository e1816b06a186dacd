"""JSON Schemas of every file runwayc reads, generated from the pydantic models.

`runwayc schema --out schemas/` writes them; a test regenerates them and fails on drift, so
editors (yaml-language-server) and CI validate against exactly what the compiler accepts.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from compiler.core.lockfile import LockFile
from compiler.core.model import ModelDeployment, Overlay, Policy, ProjectConfig, ProviderCatalog

SCHEMAS: dict[str, type[BaseModel]] = {
    "modeldeployment": ModelDeployment,
    "runway-yaml": ProjectConfig,
    "runway-lock": LockFile,
    "overlay": Overlay,
    "policy": Policy,
    "provider-catalog": ProviderCatalog,
}


def json_schemas() -> dict[str, str]:
    """File name -> schema text, deterministic."""
    out = {}
    for name, model in SCHEMAS.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"{name}.schema.json"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out
