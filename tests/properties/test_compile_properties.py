"""Properties: any input gives manifests or diagnostics, never an exception; output is
deterministic and independent of the order files were discovered in."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.core.load import load_yaml
from compiler.core.pipeline import CompileInputs, CompileOptions, SourceFile, compile_project
from compiler.io.workspace import Workspace
from tests.conftest import FIXTURES, QUICKSTART, ROOT
from tests.helpers import crd_validator

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def base_inputs() -> CompileInputs:
    return Workspace(QUICKSTART).inputs("dev")


@cache
def example_specs() -> list[dict[str, Any]]:
    """The quickstart's specs, examples/providers' (one per provider and serving mode) and
    examples/autoscaling's (one per autoscaling mode)."""
    providers = Workspace(ROOT / "examples" / "providers").inputs("prod")
    autoscaling = Workspace(ROOT / "examples" / "autoscaling").inputs("prod")
    files = (*base_inputs().deployments, *providers.deployments, *autoscaling.deployments)
    return [doc for f in files for doc in yaml.safe_load_all(f.text)]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["--port", "--host=1.2.3.4", "-tp", "vllm", "securityContext", "0", ""]),
)
keys = st.one_of(
    st.text(min_size=1, max_size=10),
    st.sampled_from(
        ["spec", "model", "engine", "args", "extraArgs", "resources", "gpu", "count",
         "overrides", "securityContext", "replicas", "image", "name", "namespace",
         "autoscaling", "mode", "minReplicas", "maxReplicas", "target", "variantCost"]
    ),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    """An example ModelDeployment with a few keys replaced, deleted or added."""
    import copy

    doc = copy.deepcopy(draw(st.sampled_from(example_specs())))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(values)
    return doc


def compile_texts(texts: list[str], order: list[int] | None = None):
    files = [SourceFile(f"deployments/f{i}.yaml", text) for i, text in enumerate(texts)]
    if order is not None:
        files = [files[i] for i in order]
    inputs = dataclasses.replace(base_inputs(), deployments=tuple(files))
    return compile_project(inputs, CompileOptions(env="dev"))


def check_outcome(result) -> None:
    if result.ok:
        assert result.files, "success must produce a tree"
    else:
        assert not result.files, "errors must produce no tree"
        assert any(d.is_error for d in result.diagnostics)
    for d in result.diagnostics:
        assert d.message
        assert d.code
        assert d.location.file


@SETTINGS
@given(st.text(max_size=300))
def test_loader_never_raises_on_arbitrary_text(text):
    result = load_yaml(text, "x.yaml")
    for d in result.diagnostics:
        assert d.location.file == "x.yaml"


@SETTINGS
@given(values)
def test_arbitrary_documents_give_manifests_or_diagnostics(doc):
    check_outcome(compile_texts([yaml.safe_dump(doc)]))


@SETTINGS
@given(mutated_specs())
def test_mutated_specs_give_manifests_or_diagnostics(doc):
    check_outcome(compile_texts([yaml.safe_dump(doc, sort_keys=False)]))


@SETTINGS
@given(st.lists(mutated_specs(), min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_compile_is_deterministic_and_independent_of_discovery_order(docs, rnd):
    texts = [yaml.safe_dump(d, sort_keys=False) for d in docs] + [
        f.text for f in base_inputs().deployments
    ]
    first = compile_texts(texts)
    again = compile_texts(texts)
    order = list(range(len(texts)))
    rnd.shuffle(order)
    shuffled = compile_texts(texts, order)
    assert first.files == again.files == shuffled.files
    assert first.diagnostics == again.diagnostics == shuffled.diagnostics


@SETTINGS
@given(st.binary(max_size=200))
def test_loader_never_raises_on_bytes_decoded_leniently(raw):
    load_yaml(raw.decode("utf-8", "replace"), "b.yaml")


@SETTINGS
@given(mutated_specs())
def test_every_compiled_spec_renders_schema_valid_kubernetes_objects(doc):
    """Whatever compiles renders objects the API server accepts (strict, 1.30).

    Free-form `provider.overrides` are left out: they can add any field, and the API server's
    strict field validation is what judges those, as it does for AI Runway.
    """
    spec = doc.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("provider"), dict):
        spec["provider"].pop("overrides", None)
    result = compile_texts([yaml.safe_dump(doc, sort_keys=False)])
    for name, content in result.files.items():
        if name.endswith("manifest.yaml"):
            for obj in yaml.safe_load_all(content):
                validator = provider_validators().get(obj["kind"])
                if validator is not None:
                    errors = [e.message for e in validator.iter_errors(obj)]
                    assert not errors, (obj["kind"], errors)
                elif obj["kind"] != "ModelDeployment":
                    kubernetes_validate.validate(obj, "1.30.0", strict=True)


@cache
def provider_validators() -> dict[str, Any]:
    """Schemas of the providers' and autoscalers' own kinds: the upstream CRDs, and Dynamo's
    field schema."""
    dynamo = yaml.safe_load((FIXTURES / "schemas/dynamographdeployment.fields.yaml").read_text())
    return {
        "Workspace": crd_validator(
            FIXTURES / "crds/kaito.sh_workspaces.yaml", "Workspace", "v1beta1"
        ),
        "RayService": crd_validator(FIXTURES / "crds/ray.io_rayservices.yaml", "RayService", "v1"),
        "DynamoGraphDeployment": jsonschema.Draft202012Validator(dynamo),
        "VariantAutoscaling": crd_validator(
            FIXTURES / "crds/llmd.ai_variantautoscalings.yaml", "VariantAutoscaling", "v1alpha1"
        ),
        "ScaledObject": crd_validator(
            FIXTURES / "crds/keda.sh_scaledobjects.yaml", "ScaledObject", "v1alpha1"
        ),
    }
