"""Patterns match whole values: Python's `$` also matches before a trailing newline, so every
check is a `fullmatch`, and each has its trailing-newline case here. Negative resource
quantities are refused as Kubernetes refuses them; an echoed value never splits a diagnostic
line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.core.diagnostics import Diagnostic, Location, Severity, format_text, one_line
from compiler.core.errors import ImageError, PromQLError, PublishError
from compiler.core.images import parse_reference
from compiler.core.load import core_schema_tag
from compiler.core.promql import per_pod_max, selector
from compiler.core.quantity import parse_quantity
from compiler.io.publish import target_for
from tests.harness import Repo
from tests.helpers import md_yaml


def compiled(text: str):
    return Repo.of({"deployments/a.yaml": text}).compile()


@pytest.mark.parametrize(
    ("spelled", "code"),
    [
        ('name: "abc\\n"', "INVALID_NAME"),
        ('namespace: "team-a\\n"', "INVALID_NAMESPACE"),
    ],
)
def test_a_name_with_a_trailing_newline_is_refused(spelled, code):
    key = spelled.split(":")[0]
    plain = {"name": "name: abc", "namespace": "namespace: team-a"}[key]
    result = compiled(md_yaml("abc").replace(plain, spelled))
    assert code in result.codes
    # The value is echoed escaped: one diagnostic, one line.
    (line,) = [line for line in result.text.splitlines() if code in line]
    assert "\\n" in line


@pytest.mark.parametrize(
    "reference",
    [
        "vllm/vllm-openai:v0.11.0\n",
        "vllm/vllm-openai@sha256:" + "0" * 64 + "\n",
        "localhost:5000\n/a/b:v1",
        "vllm/vllm-openai\n:v1",
    ],
)
def test_an_image_reference_with_a_newline_is_refused(reference):
    with pytest.raises(ImageError):
        parse_reference(reference)


@pytest.mark.parametrize(
    "call",
    [
        lambda: selector("vllm:num_requests_waiting\n", {}),
        lambda: selector("up", {"namespace\n": "x"}),
        lambda: per_pod_max("up", {}, "5m\n"),
    ],
    ids=["metric", "label-name", "window"],
)
def test_promql_names_with_a_newline_are_refused(call):
    with pytest.raises(PromQLError):
        call()


@pytest.mark.parametrize("value", ["main\n", "environments/dev\n"])
def test_publish_refuses_a_branch_with_a_newline(value):
    with pytest.raises(PublishError, match="is not a plain git name or path"):
        target_for(None, "dev", "origin", value, None)  # type: ignore[arg-type]


def test_a_quantity_with_a_newline_is_not_a_quantity():
    assert parse_quantity("16Gi") is not None
    assert parse_quantity("16Gi\n") is None
    assert parse_quantity(" 16Gi") is None


def test_core_schema_scalars_are_whole_values():
    assert core_schema_tag("1") == "tag:yaml.org,2002:int"
    assert core_schema_tag("1\n") == "tag:yaml.org,2002:str"
    assert core_schema_tag("true\n") == "tag:yaml.org,2002:str"


@pytest.mark.parametrize(
    ("resources", "path"),
    [
        ({"gpu": {"count": 1}, "memory": "-1Gi"}, "spec.resources.memory"),
        ({"gpu": {"count": 1}, "cpu": "-500m"}, "spec.resources.cpu"),
        ({"gpu": {"count": 1}, "memory": "16Gi\n"}, "spec.resources.memory"),
    ],
    ids=["negative-memory", "negative-cpu", "memory-with-newline"],
)
def test_resource_quantities_kubernetes_refuses_are_refused(resources, path):
    result = compiled(md_yaml(resources=resources))
    assert not result.ok
    (line,) = [line for line in result.text.splitlines() if "INVALID_QUANTITY" in line]
    assert f"error[INVALID_QUANTITY]: {path}:" in line


def test_a_negative_quantity_names_the_value_and_the_rule():
    result = compiled(md_yaml(resources={"gpu": {"count": 1}, "memory": "-1Gi"}))
    assert 'spec.resources.memory: "-1Gi" must be greater than or equal to 0' in result.text


def test_zero_is_a_quantity_kubernetes_accepts():
    result = compiled(md_yaml(resources={"gpu": {"count": 1}, "memory": "0"}))
    assert "INVALID_QUANTITY" not in result.codes


@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_a_diagnostic_is_one_line_whatever_it_echoes(file, path, message):
    diagnostic = Diagnostic(Severity.ERROR, "X", message, Location(file, 1, 1), path)
    text = format_text([diagnostic])
    assert text.endswith("\n")
    assert len(text[:-1].splitlines()) == 1
    assert one_line(message) == message or "\\" in text


def test_a_model_named_vllm_gets_no_service_links():
    # Kubernetes would inject VLLM_PORT=tcp://... for the Service named vllm; vLLM refuses it.
    result = compiled(md_yaml("vllm", resources={"gpu": {"count": 1}}))
    assert result.ok, result.text
    (deployment,) = [o for o in result.objects("team-a", "vllm") if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["enableServiceLinks"] is False


def test_an_override_cannot_turn_service_links_back_on():
    links = {"spec": {"template": {"spec": {"enableServiceLinks": True}}}}
    spec = md_yaml(
        "m", resources={"gpu": {"count": 1}}, provider={"name": "vllm", "overrides": links}
    )
    result = compiled(spec)
    assert "OVERRIDE_GUARANTEE" in result.codes
    assert "spec.provider.overrides.spec.template.spec.enableServiceLinks" in result.text
