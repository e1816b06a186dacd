"""The fast emitter writes exactly what PyYAML's own safe representer would, in our key order.

`dump_objects` writes the block layout itself and takes each scalar's form from libyaml,
falling back to libyaml for the whole stream when a scalar spans lines; `emit._node` (that
fallback, and the source of scalar forms) bypasses PyYAML's representer. This pins both to
the library's output byte for byte (so no quoting or escaping decision is ours) and checks
the text reads back.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.core import emit
from compiler.core.emit import dump_objects, object_sort_key

TOP = ("apiVersion", "kind", "metadata", "spec")
META = ("name", "namespace", "labels", "annotations")

# Strings that need quoting, escaping or special handling in YAML, plus arbitrary text.
tricky = st.sampled_from(
    ["", "yes", "no", "on", "null", "~", "0", "0x1f", "1e3", "-", "- a", ": b", "#c", "'q'",
     '"dq"', "a: b", "*ref", "&anchor", "!tag", "%", "@", "`", "\t", " lead", "trail ",
     "multi\nline", "\u00e9t\u00e9", "\u2028", "\ufeff", "=", "<<", ".inf", "-.5", "2026-11-23"]
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    tricky,
    st.text(max_size=20),
)
keys = st.one_of(tricky, st.text(max_size=10), st.sampled_from(TOP + META))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=30,
)
objects = st.lists(
    st.fixed_dictionaries(
        {
            "apiVersion": st.sampled_from(["v1", "apps/v1"]),
            "kind": st.sampled_from(["Service", "Deployment", "ConfigMap", "Widget"]),
            "metadata": st.fixed_dictionaries(
                {"name": st.text(min_size=1, max_size=8)},
                optional={"labels": st.dictionaries(keys, st.text(max_size=8), max_size=3)},
            ),
        },
        optional={"spec": values, "data": values},
    ),
    min_size=1,
    max_size=3,
)


def reference_order(value: Any, top: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict):
        keys = [k for k in top if k in value] + sorted(k for k in value if k not in top)
        return {
            k: reference_order(value[k], META if k == "metadata" and top == TOP else ())
            for k in keys
        }
    if isinstance(value, list):
        return [reference_order(item) for item in value]
    return value


def reference_dump(objs: list[dict[str, Any]]) -> str:
    ordered = [reference_order(obj, TOP) for obj in sorted(objs, key=object_sort_key)]
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(
        yaml.dump_all(
            ordered,
            Dumper=dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            explicit_start=True,
            width=2**31 - 1,
        )
    )


@settings(max_examples=300, deadline=None)
@given(objects)
def test_fast_emitter_matches_pyyaml_representer(objs: list[dict[str, Any]]) -> None:
    text = dump_objects(objs)
    assert text == reference_dump(objs)
    nan_free = "nan" not in text.lower()
    if nan_free:
        loaded = list(yaml.safe_load_all(text))
        assert loaded == [reference_order(o, TOP) for o in sorted(objs, key=object_sort_key)]


def test_no_alias_even_for_shared_values() -> None:
    shared = {"a": ["x"]}
    text = dump_objects([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                          "data": {"one": shared, "two": shared}}])  # fmt: skip
    assert "&" not in text
    assert "*" not in text


def test_manifests_are_laid_out_without_libyaml_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path really runs for manifest-shaped objects (the fallback is for scalars
    that span lines), and it writes what libyaml would."""
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "m", "namespace": "n", "labels": {"app": "m", "tier": "1"}},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [{"args": ["--port", "8000", "--x=yes"], "env": [], "name": "c"}],
                    "nodeSelector": {},
                    "tolerations": [{"effect": "NoSchedule", "operator": "Exists"}],
                }
            },
            "ratio": 0.5,
            "nested": [[1, [True, None]], []],
        },
    }
    expected = reference_dump([obj])

    def no_stream(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("the whole stream went through libyaml")

    monkeypatch.setattr(emit, "_libyaml_stream", no_stream)
    assert dump_objects([obj]) == expected


def test_multi_line_scalar_falls_back_to_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    stream = emit._libyaml_stream

    def counted(objs: list[dict[str, Any]]) -> str:
        calls.append(len(objs))
        return stream(objs)

    monkeypatch.setattr(emit, "_libyaml_stream", counted)
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
           "data": {"script": "line one\n  line two\n", "list": ["a\u2028b"]}}  # fmt: skip
    assert dump_objects([obj]) == reference_dump([obj])
    assert yaml.safe_load(dump_objects([obj]).removeprefix("---\n")) == obj
    assert calls


# The forms `emit` decides without libyaml (issue 27: most of a fleet's distinct scalars):
# strings of the characters it allows, the shapes near its edges, and integers.
simple_text = st.text(alphabet="Aaz09._/@:+=~-", min_size=1, max_size=12)
near_edges = st.sampled_from(
    ["-", "--", "---", "---a", "--host", "-1", "-.5", "a:", "a:b", ":a", "12:30", "1:2:3",
     "190:20:30", "1_000", "0x1f", "0o17", "0b1", "010", "1e3", "1.5", ".5", "~", "=", "<<",
     "yes", "No", "ON", "off", "y", "n", "null", "Null", "true", "FALSE", "2026-11-23",
     "2001-12-14t21:59:43.10-05:00", ".inf", "-.inf", ".NaN", "+1", "+", "@a", "a@b", "a=b"]
)  # fmt: skip


def _libyaml_form(value: Any) -> str:
    text = str(yaml.serialize(emit._node([value]), **emit._EMIT_OPTIONS))
    return text[2:-1]


@settings(max_examples=1000, deadline=None)
@given(st.one_of(simple_text, near_edges, st.integers(min_value=-(2**70), max_value=2**70)))
def test_forms_decided_without_libyaml_are_libyamls(value: Any) -> None:
    form = emit._simple_form(value)
    if form is not None:
        assert form == _libyaml_form(value)


def test_the_fleet_shapes_are_decided_without_libyaml() -> None:
    # A name, a digest, a flag, a number in args, a hash: what made emitting 1,000 models
    # ask libyaml thousands of times.
    for value in ("md-17", "docker.io/vllm/vllm-openai@sha256:ab12", "--seed", "8000", 4096):
        assert emit._simple_form(value) == _libyaml_form(value)
