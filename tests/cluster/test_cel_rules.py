"""Every CRD `x-kubernetes-validations` rule and every admission expression, evaluated by a
CEL library against accepting and rejecting objects, and checked against the compiler: the
cluster refuses what `runwayc compile` refuses, with the same words."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compiler.core.agent.status import policy_problems
from compiler.io.workspace import load_policy
from tests.cluster.cel import admission_rejections, crd_rejections

POLICY = load_policy(None)
SIZING = (
    'overriding "{}" is not allowed because it can bypass admission resource limits; '
    "use spec.resources / spec.scaling instead"
)
GUARANTEE = (
    'overriding "{}" is not allowed: it would undo a runwayc guarantee '
    "(digest-pinned images, no host access, no service links)"
)
RESERVED_SUFFIX = (
    "conflicts with Direct vLLM generated networking; Direct vLLM currently requires host "
    "0.0.0.0 and port 8000 to keep the container, Service, and probes aligned"
)


def md(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": {"id": "Qwen/Qwen3-0.6B"},
        "provider": {"name": "vllm"},
        "engine": {"type": "vllm"},
        "resources": {"gpu": {"count": 1}},
    }
    for key, value in spec.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "m", "namespace": "team-a"},
        "spec": base,
    }


def engine(**fields: Any) -> dict[str, Any]:
    return {"type": "vllm", **fields}


def compiler_says(obj: dict[str, Any]) -> list[str]:
    return policy_problems(obj, POLICY)


CRD_CASES = [
    pytest.param(md(), [], id="plain"),
    pytest.param(md(image="a:1", engine=engine(image="a:1")), [], id="same-images"),
    pytest.param(
        md(image="a:1", engine=engine(image="b:2")),
        [
            'spec.image "a:1" conflicts with spec.engine.image "b:2"; remove spec.image or set '
            "both fields to the same value (spec.engine.image is preferred)"
        ],
        id="image-conflict",
    ),
    *[
        pytest.param(
            md(engine=engine(args={key: "9000"})),
            [f'engine arg "{key}" {RESERVED_SUFFIX}'],
            id=f"reserved-arg-{key}",
        )
        for key in ("port", "host")
    ],
    *[
        # Checked as written, as AI Runway does: a leading dash is refused ("option
        # injection"), and the key still renders as --port, so it is reserved too.
        pytest.param(
            md(engine=engine(args={key: "9000"})),
            [
                f'engine arg "{key}" {RESERVED_SUFFIX}',
                f'invalid engine arg key "{key}": must contain only alphanumeric characters, '
                "hyphens, and underscores",
            ],
            id=f"reserved-arg-{key}",
        )
        for key in ("--port", "-port")
    ],
    pytest.param(
        md(engine=engine(args={"port=1": "9000"})),
        [
            f'engine arg "port=1" {RESERVED_SUFFIX}',
            'invalid engine arg key "port=1": must contain only alphanumeric characters, '
            "hyphens, and underscores",
        ],
        id="reserved-arg-with-value",
    ),
    *[
        pytest.param(
            md(engine=engine(extraArgs=tokens)),
            [f'engine extraArg "{tokens[0]}" {RESERVED_SUFFIX}'],
            id=f"reserved-extra-{tokens[0]}",
        )
        for tokens in (["--host=10.0.0.1"], ["--port", "9000"], ["--port=9000"], ["-port"])
    ],
    pytest.param(
        md(provider={"name": "kuberay"}, engine=engine(args={"port": "9000"})),
        [],
        id="reserved-only-for-direct-vllm",
    ),
    pytest.param(md(engine=engine(extraArgs=["--seed", "-1"])), [], id="negative-value-is-no-flag"),
    pytest.param(
        md(env=[{"name": "HF_HOME", "value": "/x"}, {"name": "VLLM_PORT", "value": "8000"}]),
        [
            'environment variable "VLLM_PORT" is reserved: vLLM reads it for its own internal '
            "addresses, and a value here can collide with the server on port 8000 or stop vLLM "
            "from starting"
        ],
        id="reserved-env",
    ),
    pytest.param(
        md(engine=engine(args={"max_model_len": "4096"}, extraArgs=["--max-model-len=8192"])),
        ['launch flag "max-model-len" is set in both spec.engine.args and spec.engine.extraArgs'],
        id="duplicate-underscore",
    ),
    pytest.param(
        md(
            engine=engine(
                args={"tensor_parallel_size": "2"}, extraArgs=["--tensor-parallel-size", "2"]
            )
        ),
        [
            'launch flag "tensor-parallel-size" is set in both spec.engine.args and '
            "spec.engine.extraArgs"
        ],
        id="duplicate-underscore",
    ),
    pytest.param(
        md(engine=engine(args={"dtype": "auto"}, extraArgs=["--seed", "1"])), [], id="distinct"
    ),
    pytest.param(
        md(engine=engine(args={"bad key!": "x"})),
        [
            'invalid engine arg key "bad key!": must contain only alphanumeric characters, '
            "hyphens, and underscores"
        ],
        id="arg-key",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), CRD_CASES)
def test_crd_rules_refuse_what_the_compiler_refuses(cluster, obj, expected):
    crd = cluster["CustomResourceDefinition"]
    assert crd_rejections(crd, obj) == expected
    said = compiler_says(obj)
    assert [any(message in problem for problem in said) for message in expected] == [True] * len(
        expected
    )
    if not expected:
        assert said == []


@pytest.mark.parametrize(
    ("old", "new", "refused"),
    [
        ({"name": "vllm"}, {"name": "vllm"}, False),
        ({"name": "vllm"}, {"name": "kuberay"}, True),
        ({"name": "vllm"}, None, True),
        (None, {"name": "vllm"}, False),
        ({}, {"name": "dynamo"}, False),
    ],
)
def test_provider_name_is_immutable_once_set(cluster, old, new, refused):
    crd = cluster["CustomResourceDefinition"]
    before, after = md(provider=old), md(provider=new)
    messages = crd_rejections(crd, after, old=before)
    immutable = "provider.name is immutable (changing it requires delete and recreate)"
    assert (immutable in messages) is refused
    # A create never runs the transition rule.
    assert immutable not in crd_rejections(crd, after)


def overrides(tree: dict[str, Any]) -> dict[str, Any]:
    return md(provider={"name": "vllm", "overrides": tree})


def pod(**fields: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": fields}}}


APPARMOR = "container.apparmor.security.beta.kubernetes.io/vllm"
ADMISSION_CASES = [
    pytest.param(
        overrides({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}}), [], id="ok"
    ),
    pytest.param(
        overrides({"metadata": {"labels": {}}}),
        ['overriding "metadata" is not allowed'],
        id="protected",
    ),
    pytest.param(
        overrides({"securityContext": {}}),
        ['overriding "securityContext" is not allowed for security reasons'],
        id="root",
    ),
    pytest.param(
        overrides(pod(hostNetwork=True)),
        ['overriding "hostNetwork" is not allowed for security reasons'],
        id="pod-spec",
    ),
    pytest.param(
        overrides(pod(serviceAccountName="admin")),
        ['overriding "serviceAccountName" is not allowed for security reasons'],
        id="service-account",
    ),
    pytest.param(
        overrides(pod(containers=[{"name": "vllm", "securityContext": {"privileged": True}}])),
        ['overriding "securityContext" is not allowed for security reasons'],
        id="container",
    ),
    pytest.param(
        overrides(pod(initContainers=[{"name": "init", "resources": {}}])),
        [SIZING.format("resources")],
        id="init-container",
    ),
    pytest.param(
        overrides({"spec": {"replicas": 9}}),
        [SIZING.format("replicas")],
        id="replicas",
    ),
    pytest.param(
        overrides(
            pod(containers=[{"name": "vllm", "ports": [{"containerPort": 1, "hostPort": 1}]}])
        ),
        [GUARANTEE.format("hostPort")],
        id="host-port",
    ),
    pytest.param(
        overrides(pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}])),
        [GUARANTEE.format("hostPath")],
        id="host-path",
    ),
    pytest.param(
        overrides(pod(containers=[{"name": "vllm", "image": "evil:latest"}])),
        [GUARANTEE.format("image")],
        id="image",
    ),
    pytest.param(
        overrides({"spec": {"template": {"metadata": {"annotations": {APPARMOR: "unconfined"}}}}}),
        [f'overriding "{APPARMOR}" is not allowed for security reasons'],
        id="apparmor-annotation",
    ),
    pytest.param(overrides({"spec": "not a mapping"}), [], id="wrong-shape-is-not-a-crash"),
    pytest.param(
        md(resources={"gpu": {"count": 65}}),
        ["spec.resources.gpu.count: Invalid value: 65: exceeds maximum allowed (64)"],
        id="gpu-ceiling",
    ),
    pytest.param(
        md(resources={"gpu": {"count": 1}, "memory": "5Ti"}),
        ["spec.resources.memory: Invalid value: 5Ti: exceeds maximum allowed (4Ti)"],
        id="memory-ceiling",
    ),
    pytest.param(
        md(resources={"gpu": {"count": 1}, "cpu": "600"}),
        ["spec.resources.cpu: Invalid value: 600: exceeds maximum allowed (512)"],
        id="cpu-ceiling",
    ),
    pytest.param(
        md(resources={"gpu": {"count": 1}, "memory": "4Ti", "cpu": "512"}), [], id="at-the-ceiling"
    ),
    pytest.param(
        md(scaling={"replicas": 33}),
        ["spec.scaling.replicas: Invalid value: 33: exceeds maximum allowed (32)"],
        id="replicas-ceiling",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), ADMISSION_CASES)
def test_admission_policy_refuses_what_the_compiler_refuses(cluster, obj, expected):
    policy = cluster["ValidatingAdmissionPolicy"]
    messages = admission_rejections(policy, obj)
    assert [
        m.split(": ", 1)[1] if m.startswith("spec.provider.overrides: ") else m for m in messages
    ] == expected
    said = compiler_says(obj)
    for message in expected:
        wanted = message.split(": ", 1)[1] if message.startswith("spec.") else message
        assert any(wanted in problem for problem in said), (message, said)
    if not expected and "not a mapping" not in str(obj):
        assert said == []


@pytest.mark.parametrize("name", ["Bad.Name", "9lives", "a" * 64, "trailing-"])
def test_admission_refuses_names_the_service_cannot_take(cluster, name):
    obj = md()
    obj["metadata"]["name"] = name
    messages = admission_rejections(cluster["ValidatingAdmissionPolicy"], obj)
    assert messages == [
        f'metadata.name "{name}" is not a valid DNS-1035 label of at most 63 characters '
        "(the Service takes the same name)"
    ]
    assert any(p.startswith("metadata.name") for p in compiler_says(obj))


def test_every_rule_and_expression_is_exercised(cluster):
    """Each generated rule, kept alone, rejects at least one case above: none is dead."""
    crd = cluster["CustomResourceDefinition"]
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    cases: list[Any] = [case.values[0] for case in CRD_CASES]
    transition = (md(provider={"name": "kuberay"}), md())
    for node in (spec, spec["properties"]["engine"]):
        for rule in node["x-kubernetes-validations"]:
            alone = copy.deepcopy(crd)
            schema = alone["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            for other in (schema["spec"], schema["spec"]["properties"]["engine"]):
                other["x-kubernetes-validations"] = [
                    r for r in other["x-kubernetes-validations"] if r == rule
                ]
            refused = [crd_rejections(alone, obj) for obj in cases]
            refused.append(crd_rejections(alone, transition[0], old=transition[1]))
            assert any(refused), rule["message"]
    policy = cluster["ValidatingAdmissionPolicy"]
    objects: list[Any] = [case.values[0] for case in ADMISSION_CASES]
    named = md()
    named["metadata"]["name"] = "Bad.Name"
    for validation in policy["spec"]["validations"]:
        alone = copy.deepcopy(policy)
        alone["spec"]["validations"] = [validation]
        prefill = md(
            scaling={
                "prefill": {"replicas": 40, "gpu": {"count": 99}, "memory": "9Ti"},
                "decode": {"replicas": 40, "gpu": {"count": 99}, "memory": "9Ti"},
            }
        )
        refused = [admission_rejections(alone, obj) for obj in [*objects, named, prefill]]
        assert any(refused), validation["messageExpression"]


def test_rules_do_not_mutate_their_input(cluster):
    obj = overrides(pod(hostNetwork=True))
    before = copy.deepcopy(obj)
    admission_rejections(cluster["ValidatingAdmissionPolicy"], obj)
    crd_rejections(cluster["CustomResourceDefinition"], obj, old=obj)
    assert obj == before
