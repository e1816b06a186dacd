"""compiler.core.promql: the one builder of PromQL selectors (values escaped, names validated).
Prometheus itself parses these in tests/agent/test_saturation_prometheus.py."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.core.errors import PromQLError
from compiler.core.promql import per_pod_max, quote, selector, total


def test_backslash_is_escaped_before_the_quote():
    # Escaping the quote first would turn its own backslash into `\\` and free the quote.
    assert quote('a\\"b') == '"a\\\\\\"b"'
    assert quote('prod",malicious="attack') == '"prod\\",malicious=\\"attack"'
    assert quote("two\nlines") == '"two\\nlines"'


def test_selector_has_one_sorted_matcher_per_label():
    assert selector("vllm:num_requests_waiting", {"namespace": "prod", "model_name": "m"}) == (
        'vllm:num_requests_waiting{model_name="m",namespace="prod"}'
    )
    assert per_pod_max("m", {"a": "b"}, "1m") == 'max by (pod) (max_over_time(m{a="b"}[1m]))'
    assert total("m", {"a": "b"}) == 'sum(m{a="b"})'


@pytest.mark.parametrize("name", ["1abc", "a-b", 'a"', "", "a b", "__name__", "namespace}"])
def test_label_names_are_validated_not_escaped(name):
    with pytest.raises(PromQLError, match="is not a valid Prometheus label name"):
        selector("m", {name: "v"})


@pytest.mark.parametrize("metric", ["m{", "1m", "", "a b", 'm"'])
def test_metric_names_are_validated(metric):
    with pytest.raises(PromQLError, match="is not a valid Prometheus metric name"):
        selector(metric, {})


def test_windows_are_validated():
    with pytest.raises(PromQLError, match="is not a PromQL duration"):
        per_pod_max("m", {}, "1m] or vector(1) or m[1m")


# A double-quoted PromQL string: any run of characters other than quote, backslash and
# newline, or a backslash escape.
STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


@given(st.text(max_size=40))
def test_any_value_stays_one_string_literal(value):
    quoted = quote(value)
    assert STRING.fullmatch(quoted)
    # And it decodes back to exactly the value.
    decoded = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), quoted[1:-1])
    assert decoded == value
