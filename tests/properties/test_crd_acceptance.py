"""Every ModelDeployment that AI Runway's CRD accepts must load.

Instances are drawn from the CRD's own openAPIV3Schema by a small strategy builder (the
hypothesis-jsonschema package no longer works with current Hypothesis) and must pass our
models without a single schema diagnostic. It honours what the API server enforces: types,
enums, required keys, int32/int64 bounds, minimum, maxItems, patterns, int-or-string.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.core.documents import parse_document
from compiler.core.load import SourceDocument
from compiler.core.model import ModelDeployment
from tests.conftest import FIXTURES

CRD = yaml.safe_load((FIXTURES / "crds/airunway.ai_modeldeployments.yaml").read_text())
SPEC_SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
QUANTITIES = st.sampled_from(["1", "500m", "16Gi", "1.5", "2e3", "+4Ki", "0"])
ANY_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda c: st.one_of(
        st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c, max_size=3)
    ),
    max_leaves=8,
)


def strategy(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    if node.get("x-kubernetes-int-or-string"):
        low = node.get("minimum", 0)
        return st.one_of(st.integers(min_value=low, max_value=2**31 - 1), QUANTITIES)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "string":
        if "pattern" in node:
            return st.from_regex(node["pattern"], fullmatch=True).filter(
                lambda s: len(s) <= node.get("maxLength", 10**6)
            )
        return st.text(max_size=node.get("maxLength", 16))
    if kind == "integer":
        low, high = BOUNDS.get(node.get("format", "int64"), BOUNDS["int64"])
        return st.integers(min_value=max(low, node.get("minimum", low)), max_value=high)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(strategy(node["items"]), max_size=min(node.get("maxItems", 3), 3))
    if kind == "object":
        if node.get("x-kubernetes-preserve-unknown-fields"):
            return st.dictionaries(st.text(min_size=1, max_size=8), ANY_JSON, max_size=3)
        if "properties" not in node:
            extra = node.get("additionalProperties", {"type": "string"})
            return st.dictionaries(st.text(max_size=8), strategy(extra), max_size=3)
        required = set(node.get("required", []))
        props = node["properties"]
        return st.fixed_dictionaries(
            {k: strategy(v) for k, v in props.items() if k in required},
            optional={k: strategy(v) for k, v in props.items() if k not in required},
        )
    raise AssertionError(f"schema node not handled: {sorted(node)}")


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(strategy(SPEC_SCHEMA), st.sampled_from(["m", "model-1"]))
def test_every_crd_accepted_spec_loads(spec, name):
    data = {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }
    doc = SourceDocument("gen.yaml", 0, data, {})
    md, diagnostics = parse_document(doc, ModelDeployment)
    assert not diagnostics, [f"{d.path}: {d.message}" for d in diagnostics]
    assert md is not None
