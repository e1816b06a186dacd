"""Evaluate the generated CRD rules and admission expressions with a CEL library (cel-python).

cel-python implements standard CEL. The rules also use functions that Kubernetes adds to CEL
and documents ("CEL in Kubernetes": the regex library's `find`, the strings library's
`replace`, the quantity library's `quantity`, `isQuantity` and `isGreaterThan`); they are
provided here with the documented semantics (RE2 first match, or "" when none; literal
replace-all; quantities compared exactly, as compiler.core.quantity parses them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from compiler.core.quantity import parse_quantity


class Quantity(Fraction):
    pass


def _find(text: Any, pattern: Any) -> celtypes.StringType:
    match = re.search(str(pattern), str(text))
    return celtypes.StringType(match.group(0) if match else "")


def _replace(text: Any, old: Any, new: Any) -> celtypes.StringType:
    return celtypes.StringType(str(text).replace(str(old), str(new)))


def _is_quantity(text: Any) -> celtypes.BoolType:
    return celtypes.BoolType(parse_quantity(str(text)) is not None)


def _quantity(text: Any) -> Quantity:
    value = parse_quantity(str(text))
    if value is None:
        raise ValueError(f"invalid quantity {text!r}")
    return Quantity(value)


def _is_greater_than(a: Any, b: Any) -> celtypes.BoolType:
    return celtypes.BoolType(Fraction(a) > Fraction(b))


KUBERNETES_FUNCTIONS: dict[str, Any] = {
    "find": _find,
    "replace": _replace,
    "isQuantity": _is_quantity,
    "quantity": _quantity,
    "isGreaterThan": _is_greater_than,
}
_ENV = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}


def evaluate(expression: str, **activation: Any) -> Any:
    program = _PROGRAMS.get(expression)
    if program is None:
        program = _ENV.program(_ENV.compile(expression), functions=KUBERNETES_FUNCTIONS)
        _PROGRAMS[expression] = program
    values = {
        name: value if isinstance(value, celtypes.MapType) else json_to_cel(value)
        for name, value in activation.items()
    }
    result = program.evaluate(values)
    if isinstance(result, CELEvalError):
        raise result
    return result


def crd_rejections(crd: Mapping[str, Any], obj: Mapping[str, Any], old: Any = None) -> list[str]:
    """The messages of every x-kubernetes-validations rule `obj` fails (and, with `old`, the
    transition rules), as the API server would evaluate them on create or update."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return _walk(schema, obj.get("spec"), (old or {}).get("spec") if old else None, old is not None)


def _walk(schema: Mapping[str, Any], value: Any, old: Any, updating: bool) -> list[str]:
    if value is None:
        return []
    found = []
    for rule in schema.get("x-kubernetes-validations", []):
        transition = "oldSelf" in rule["rule"]
        if transition and (not updating or old is None):
            continue
        activation = {"self": value}
        if transition:
            activation["oldSelf"] = old
        if not evaluate(rule["rule"], **activation):
            message = rule.get("messageExpression")
            found.append(str(evaluate(message, **activation)) if message else rule["message"])
    for name, child in (schema.get("properties") or {}).items():
        if isinstance(value, Mapping) and name in value:
            child_old = old.get(name) if isinstance(old, Mapping) else None
            found.extend(_walk(child, value[name], child_old, updating))
    return found


def admission_rejections(policy: Mapping[str, Any], obj: Mapping[str, Any]) -> list[str]:
    """The messages of every validation of a ValidatingAdmissionPolicy that `obj` fails."""
    spec = policy["spec"]
    variables: dict[str, Any] = {}
    for variable in spec.get("variables", []):
        variables[variable["name"]] = evaluate(
            variable["expression"],
            object=obj,
            variables=celtypes.MapType({celtypes.StringType(k): v for k, v in variables.items()}),
        )
    bound = celtypes.MapType({celtypes.StringType(k): v for k, v in variables.items()})
    found = []
    for validation in spec["validations"]:
        if not evaluate(validation["expression"], object=obj, variables=bound):
            found.append(
                str(evaluate(validation["messageExpression"], object=obj, variables=bound))
            )
    return found
