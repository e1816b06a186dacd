"""PromQL selectors: the one place a query string is assembled from names users control.

Label values come from specs and the cluster (namespaces, model and variant names), so each
is written as a double-quoted PromQL string with backslash escaped first and then the double
quote (escaping the quote first would double the backslash it adds); newlines are escaped
too, since a raw one ends the string for Prometheus' lexer. `prod",malicious="attack` thus
stays one literal value of one matcher. Label and metric names cannot be quoted in
Prometheus 2.x, so they are validated instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from compiler.core.errors import PromQLError

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Range durations PromQL accepts as we use them: one number and one unit.
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")


def quote(value: str) -> str:
    """`value` as a PromQL double-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def selector(metric: str, labels: Mapping[str, str]) -> str:
    """`metric{name="value",...}` with one equality matcher per label, in sorted order."""
    if not METRIC_NAME.fullmatch(metric):
        raise PromQLError(f"{metric!r} is not a valid Prometheus metric name")
    for name in labels:
        if not LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise PromQLError(f"{name!r} is not a valid Prometheus label name")
    matchers = ",".join(f"{name}={quote(labels[name])}" for name in sorted(labels))
    return f"{metric}{{{matchers}}}"


def per_pod_max(metric: str, labels: Mapping[str, str], window: str) -> str:
    """The highest value of `metric` per pod over the last `window`: WVA's per-replica view."""
    if not DURATION.fullmatch(window):
        raise PromQLError(f"{window!r} is not a PromQL duration")
    return f"max by (pod) (max_over_time({selector(metric, labels)}[{window}]))"


def total(metric: str, labels: Mapping[str, str]) -> str:
    """The sum of `metric` over every series the labels select (KEDA's trigger query)."""
    return f"sum({selector(metric, labels)})"
