"""A ValidatingAdmissionPolicy and its binding: the override denylist and the ceilings, in CEL.

A ModelDeployment applied by hand meets the compile-time rules here. The compiler walks
`spec.provider.overrides` to any depth; CEL has no recursion, so the policy checks every place
a pod-spec key can take effect in a Deployment-shaped override: the override's root,
`spec`, `spec.template`, `spec.template.metadata`, `spec.template.spec`, each container,
init container and ephemeral container, their ports, and the pod's volumes. A denied key
anywhere else (inside `env`, say) has no effect on the pod, so nothing is lost; the compiler
still reports it. Denied keys are found by asking of each key in the policy whether it is
present at any of those places, which gives a flat list (CEL has no `flatten`) whose first
element names the key in the message, as the compiler's message does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compiler.core.cluster.rules import cel_list, cel_string
from compiler.core.kube import API_GROUP, PLURAL, VERSION, KubeObject
from compiler.core.policy import (
    MSG_CEILING,
    MSG_GUARANTEE,
    MSG_PROTECTED,
    MSG_SECURITY,
    MSG_SIZING,
    PolicySet,
)

POLICY_NAME = "runwayc-modeldeployments"
DNS_1035 = "^[a-z]([-a-z0-9]*[a-z0-9])?$"


def _map_or_empty(expression: str) -> str:
    return f"type({expression}) == map ? {expression} : {{}}"


def _child(parent: str, key: str) -> str:
    """The mapping under `key` of the mapping variable `parent`, or {}."""
    return _map_or_empty(f"(({cel_string(key)} in {parent}) ? {parent}[{cel_string(key)}] : {{}})")


def _list_of_maps(parent: str, key: str) -> str:
    value = f"{parent}[{cel_string(key)}]"
    return (
        f"({cel_string(key)} in {parent} && type({value}) == list) ? "
        f"{value}.filter(x, type(x) == map) : []"
    )


VARIABLES: list[tuple[str, str]] = [
    (
        "overrides",
        "has(object.spec.provider) && has(object.spec.provider.overrides) && "
        "type(object.spec.provider.overrides) == map ? object.spec.provider.overrides : {}",
    ),
    ("workload", _child("variables.overrides", "spec")),
    ("template", _child("variables.workload", "template")),
    ("podMetadata", _child("variables.template", "metadata")),
    ("pod", _child("variables.template", "spec")),
    (
        "containers",
        " + ".join(
            f"({_list_of_maps('variables.pod', key)})"
            for key in ("containers", "initContainers", "ephemeralContainers")
        ),
    ),
    ("volumes", _list_of_maps("variables.pod", "volumes")),
]
MAPS = (
    "variables.overrides",
    "variables.workload",
    "variables.template",
    "variables.podMetadata",
    "variables.pod",
)


def _present(key: str) -> str:
    """CEL: the key variable `key` is set at one of the places overrides take effect."""
    at_maps = " || ".join(f"{key} in {m}" for m in MAPS)
    return (
        f"{at_maps} || variables.containers.exists(c, {key} in c || ('ports' in c && "
        f"type(c.ports) == list && c.ports.exists(p, type(p) == map && {key} in p))) || "
        f"variables.volumes.exists(v, {key} in v)"
    )


def _denied(
    name: str, keys: Iterable[str], template: str, top_level_only: bool = False
) -> tuple[tuple[str, str], dict[str, str]]:
    ordered = sorted(keys)
    where = "d in variables.overrides" if top_level_only else _present("d")
    variable = (name, f"{cel_list(ordered)}.filter(d, {where})")
    hits = f"variables.{name}"
    before, after = template.split("{key}")
    validation = {
        "expression": f"size({hits}) == 0",
        "messageExpression": f"{cel_string('spec.provider.overrides: ' + before)} + {hits}[0] + "
        f"{cel_string(after)}",
        "reason": "Forbidden",
    }
    return variable, validation


def _ceiling_checks(policy: PolicySet) -> list[dict[str, Any]]:
    """One validation per sized field: a count against an integer, a quantity against a
    quantity (Kubernetes' quantity library)."""
    ceilings = policy.ceilings
    checks = []
    roles = (
        ("resources", "object.spec.resources", ("gpuCount", "cpu", "memory")),
        ("scaling.prefill", "object.spec.scaling.prefill", ("gpuCount", "memory", "replicas")),
        ("scaling.decode", "object.spec.scaling.decode", ("gpuCount", "memory", "replicas")),
        ("scaling", "object.spec.scaling", ("replicas",)),
    )
    for label, base, fields in roles:
        for wire in fields:
            ceiling = ceilings.get(wire)
            if ceiling is None:
                continue
            parent, field = (f"{base}.gpu", "count") if wire == "gpuCount" else (base, wire)
            path = f"spec.{label}.{'gpu.count' if wire == 'gpuCount' else wire}"
            guard = _has_path(parent) + f" && has({parent}.{field})"
            value = f"{parent}.{field}"
            if wire in ("cpu", "memory"):
                limit = f"quantity({cel_string(ceiling.text)})"
                within = f"!isQuantity({value}) || !quantity({value}).isGreaterThan({limit})"
                shown = value
            else:
                within = f"{value} <= {int(ceiling.value)}"
                shown = f"string({value})"
            before, after = MSG_CEILING.split("{value}")
            after = after.format(limit=ceiling.text)
            checks.append(
                {
                    "expression": f"!({guard}) || {within}",
                    "messageExpression": f"{cel_string(path + ': ' + before)} + {shown} + "
                    f"{cel_string(after)}",
                    "reason": "Invalid",
                }
            )
    return checks


def _has_path(expression: str) -> str:
    """`has()` for each step of `object.spec.a.b` (CEL's has takes one field at a time)."""
    parts = expression.split(".")
    return " && ".join(f"has({'.'.join(parts[: i + 1])})" for i in range(2, len(parts)))


def admission_policy(policy: PolicySet) -> list[KubeObject]:
    variables = [{"name": name, "expression": expr} for name, expr in VARIABLES]
    validations: list[dict[str, Any]] = []
    groups = (
        ("protectedHits", policy.protected_top_level, MSG_PROTECTED, True),
        ("securityHits", policy.security, MSG_SECURITY, False),
        ("sizingHits", policy.sizing, MSG_SIZING, False),
        ("guaranteeHits", policy.guarantees, MSG_GUARANTEE, False),
    )
    for name, keys, template, top_level_only in groups:
        if not keys:
            continue
        variable, validation = _denied(name, keys, template, top_level_only)
        variables.append({"name": variable[0], "expression": variable[1]})
        validations.append(validation)
    if policy.security_annotations:
        prefixes = cel_list(policy.security_annotations)
        template_annotations = (
            "has(object.spec.podTemplate) && has(object.spec.podTemplate.metadata) && "
            "has(object.spec.podTemplate.metadata.annotations) ? "
            "object.spec.podTemplate.metadata.annotations : {}"
        )
        denied = f"filter(k, {prefixes}.exists(p, k.startsWith(p)))"
        hits = (
            f"({_child('variables.podMetadata', 'annotations')}).{denied}"
            ".map(k, 'spec.provider.overrides: overriding \"' + k + '\"') + "
            f"({template_annotations}).{denied}"
            ".map(k, 'spec.podTemplate.metadata.annotations: setting \"' + k + '\"')"
        )
        variables.append({"name": "annotationHits", "expression": hits})
        validations.append(
            {
                "expression": "size(variables.annotationHits) == 0",
                "messageExpression": "variables.annotationHits[0] + "
                "' is not allowed for security reasons'",
                "reason": "Forbidden",
            }
        )
    limit = policy.name_max_length
    size = f"size(object.metadata.name) <= {limit} && " if limit is not None else ""
    at_most = f" of at most {limit} characters" if limit is not None else ""
    validations.append(
        {
            "expression": f"{size}object.metadata.name.matches({cel_string(DNS_1035)})",
            "messageExpression": "'metadata.name \"' + object.metadata.name + '\" is not a valid "
            f"DNS-1035 label{at_most} (the Service takes the same name)'",
            "reason": "Invalid",
        }
    )
    validations.extend(_ceiling_checks(policy))
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY_NAME},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [API_GROUP],
                            "apiVersions": [VERSION],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": [PLURAL],
                        }
                    ]
                },
                "variables": variables,
                "validations": validations,
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY_NAME},
            "spec": {"policyName": POLICY_NAME, "validationActions": ["Deny"]},
        },
    ]
