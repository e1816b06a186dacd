"""Each provider's own checks and messages (AI Runway's words), the fields a provider never
reads (warned, not dropped), AI Runway's quirks done as intended, and the common policy
applying to every provider. Everything through `runwayc compile` on a real repo."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import run_cli
from tests.helpers import line_col, md_yaml


def compile_one(make_repo, tmp_path, **spec: Any):
    text = md_yaml(**spec)
    repo = make_repo({"deployments/a.yaml": text})
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    return text, result


def rendered(tmp_path) -> list[dict[str, Any]]:
    manifest = tmp_path / "out" / "team-a" / "m" / "manifest.yaml"
    return list(yaml.safe_load_all(manifest.read_text()))


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


GGUF_IMAGE = "ghcr.io/ggml-org/llama.cpp:server"


@pytest.mark.parametrize(
    ("spec", "needle", "message"),
    [
        (
            {"provider": {"name": "kaito"}, "engine": {"type": "sglang"}},
            "type: sglang",
            'spec.engine.type: Invalid value: "sglang": provider kaito does not support engine '
            "sglang",
        ),
        (
            {"provider": {"name": "kaito"}, "engine": {"type": "trtllm"}},
            "type: trtllm",
            'spec.engine.type: Invalid value: "trtllm": provider kaito does not support engine '
            "trtllm",
        ),
        (
            {
                "provider": {"name": "kaito"},
                "serving": {"mode": "disaggregated"},
                "resources": {},
                "scaling": {
                    "prefill": {"gpu": {"count": 1}},
                    "decode": {"gpu": {"count": 1}},
                },
            },
            "mode: disaggregated",
            'spec.serving.mode: Invalid value: "disaggregated": provider kaito does not support '
            "disaggregated mode for engine vllm",
        ),
        (
            {"provider": {"name": "kaito"}, "engine": {"type": "llamacpp"}, "resources": {}},
            "spec:",
            "spec.image: llamacpp engine requires spec.image to be set (or spec.engine.image)",
        ),
        (
            {"provider": {"name": "dynamo"}, "engine": {"type": "llamacpp"}, "image": GGUF_IMAGE},
            "type: llamacpp",
            'spec.engine.type: Invalid value: "llamacpp": provider dynamo does not support engine '
            "llamacpp",
        ),
        (
            {"provider": {"name": "dynamo"}, "resources": {"gpu": {"count": 0}}},
            "count: 0",
            "spec.resources.gpu.count: Invalid value: 0: vllm engine on provider dynamo requires "
            "GPU (set resources.gpu.count > 0)",
        ),
        (
            {"provider": {"name": "kuberay"}, "engine": {"type": "sglang"}},
            "type: sglang",
            'spec.engine.type: Invalid value: "sglang": provider kuberay does not support engine '
            "sglang",
        ),
        (
            {"provider": {"name": "kuberay"}, "resources": {"gpu": {"count": 0}}},
            "count: 0",
            "spec.resources.gpu.count: Invalid value: 0: vllm engine on provider kuberay requires "
            "GPU (set resources.gpu.count > 0)",
        ),
        (
            {"provider": {"name": "llmd"}, "engine": {"type": "trtllm"}},
            "type: trtllm",
            'spec.engine.type: Invalid value: "trtllm": provider llmd does not support engine '
            "trtllm",
        ),
        (
            {"provider": {"name": "llmd"}, "resources": {"gpu": {"count": 0}}},
            "count: 0",
            "spec.resources.gpu.count: Invalid value: 0: vllm engine on provider llmd requires GPU "
            "(set resources.gpu.count > 0)",
        ),
        (
            {
                "provider": {
                    "name": "llmd",
                    "overrides": {"spec": {"template": {"spec": {"dnsPolicy": "None"}}}},
                }
            },
            ("spec:", 3),  # spec, overrides.spec, overrides.spec.template.spec
            'spec.provider.overrides.spec.template.spec: overriding "spec.template.spec" is not '
            "allowed",
        ),
        (
            {"provider": {"name": "dynamo", "overrides": {"services": {}}}},
            "services:",
            'spec.provider.overrides.services: unsupported provider.overrides key(s) ["services"]: '
            'only "spec", "routerMode", "frontend", "epp" are supported',
        ),
        (
            {"provider": {"name": "dynamo", "overrides": {"routerMode": 3}}},
            "routerMode:",
            "spec.provider.overrides.routerMode: failed to unmarshal overrides: routerMode must "
            "be a string",
        ),
        (
            {"provider": {"name": "kaito", "overrides": {"spec": {}}}},
            "spec: {}",
            'spec.provider.overrides.spec: unsupported provider.overrides key(s) ["spec"]: only '
            '"inference", "resource" are supported',
        ),
        # The common policy holds for every provider: the override denylist, ceilings.
        (
            {
                "provider": {
                    "name": "dynamo",
                    "overrides": {"spec": {"services": {"VllmWorker": {"hostNetwork": True}}}},
                }
            },
            "hostNetwork:",
            "hostNetwork",
        ),
        (
            {"provider": {"name": "kaito"}, "resources": {"gpu": {"count": 100}}},
            "count: 100",
            "exceeds maximum allowed",
        ),
    ],
    ids=[
        "kaito-sglang",
        "kaito-trtllm",
        "kaito-disaggregated",
        "kaito-llamacpp-without-image",
        "dynamo-llamacpp",
        "dynamo-no-gpu",
        "kuberay-sglang",
        "kuberay-no-gpu",
        "llmd-trtllm",
        "llmd-no-gpu",
        "llmd-pod-spec-override",
        "dynamo-unknown-override-root",
        "dynamo-typed-override-type",
        "kaito-override-root",
        "dynamo-denylist",
        "kaito-ceiling",
    ],
)
def test_provider_refusals_name_file_line_path_and_reason(
    make_repo, tmp_path, spec, needle, message
):
    text, result = compile_one(make_repo, tmp_path, **spec)
    assert result.exit_code == 1
    needle, occurrence = needle if isinstance(needle, tuple) else (needle, 1)
    line, col = line_col(text, needle, occurrence)
    errors = [ln for ln in result.stderr.splitlines() if ": error[" in ln]
    assert any(message in ln for ln in errors), result.stderr
    # Every error names the file, line and column.
    assert all(ln.startswith("deployments/a.yaml:") for ln in errors), errors
    if needle != "spec:":
        assert any(
            ln.startswith(f"deployments/a.yaml:{line}:") and message in ln for ln in errors
        ), (
            line,
            col,
            result.stderr,
        )


def test_kaito_llamacpp_accepts_the_preferred_engine_image(make_repo, tmp_path):
    # AI Runway's controller reads only spec.image here; the intended rule is "an image is set".
    _, result = compile_one(
        make_repo,
        tmp_path,
        provider={"name": "kaito"},
        engine={"type": "llamacpp", "image": GGUF_IMAGE, "args": {"ggufUrl": "https://x/y.gguf"}},
        resources={"cpu": "2"},
    )
    assert result.exit_code == 0, result.stderr
    workspace = one(rendered(tmp_path), "Workspace")
    container = workspace["inference"]["template"]["spec"]["containers"][0]
    assert container["image"] == GGUF_IMAGE
    assert container["args"] == ["https://x/y.gguf", "--address=:5000"]


@pytest.mark.parametrize(
    ("spec", "warning"),
    [
        (
            {"provider": {"name": "kuberay"}, "nodeSelector": {"pool": "gpu"}},
            "spec.nodeSelector: spec.nodeSelector is ignored by provider kuberay",
        ),
        (
            {
                "provider": {"name": "kaito"},
                "engine": {"type": "vllm", "image": "vllm/vllm-openai:v0.11.0"},
            },
            "spec.engine.image: spec.engine.image is ignored by provider kaito (the KAITO preset "
            "for the model chooses the image)",
        ),
        (
            {"provider": {"name": "dynamo"}, "engine": {"type": "trtllm", "contextLength": 4096}},
            "spec.engine.contextLength: spec.engine.contextLength is ignored by provider dynamo "
            "(TensorRT-LLM fixes the context length when the engine is built)",
        ),
        (
            {
                "provider": {"name": "dynamo"},
                "engine": {"type": "vllm", "extraArgs": ["--seed", "1"]},
            },
            "spec.engine.extraArgs: spec.engine.extraArgs is ignored by provider dynamo",
        ),
        (
            {
                "provider": {"name": "kaito"},
                "engine": {"type": "llamacpp", "args": {"threads": "4"}},
                "image": GGUF_IMAGE,
                "resources": {},
            },
            "spec.engine.args.threads: spec.engine.args.threads is ignored by provider kaito "
            "(llamacpp reads only ggufUrl)",
        ),
        (
            {
                "provider": {"name": "llmd"},
                "resources": {"gpu": {"count": 1, "type": "amd.com/gpu"}},
            },
            "spec.resources.gpu.type: spec.resources.gpu.type is ignored by provider llmd (llm-d "
            "always requests nvidia.com/gpu)",
        ),
    ],
    ids=[
        "kuberay-node-selector",
        "kaito-preset-image",
        "trtllm-context",
        "dynamo-extra-args",
        "kaito-llamacpp-args",
        "llmd-gpu-type",
    ],
)
def test_fields_a_provider_never_reads_are_warned_not_dropped_silently(
    make_repo, tmp_path, spec, warning
):
    _, result = compile_one(make_repo, tmp_path, **spec)
    assert result.exit_code == 0, result.stderr
    warnings = [ln for ln in result.stderr.splitlines() if "warning[FIELD_IGNORED]" in ln]
    assert any(ln.startswith("deployments/a.yaml:") and warning in ln for ln in warnings), (
        result.stderr
    )


def test_a_field_left_at_its_default_is_not_warned(make_repo, tmp_path):
    # enablePrefixCaching: true is the CRD default: it asks KubeRay for nothing.
    _, result = compile_one(
        make_repo, tmp_path, provider={"name": "kuberay"},
        engine={"type": "vllm", "enablePrefixCaching": True}, resources={"gpu": {"count": 2}},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "FIELD_IGNORED" not in result.stderr


def test_dynamo_typed_overrides_are_consumed_not_merged_at_the_root(make_repo, tmp_path):
    _, result = compile_one(
        make_repo,
        tmp_path,
        provider={
            "name": "dynamo",
            "overrides": {
                "routerMode": "kv",
                "spec": {"services": {"VllmWorker": {"replicas": 3}}},
            },
        },
        gateway={"enabled": False},
    )
    # `replicas` under overrides is refused by the sizing denylist, as for every provider.
    assert result.exit_code == 1
    assert "spec.provider.overrides.spec.services.VllmWorker.replicas" in result.stderr
    _, result = compile_one(
        make_repo,
        tmp_path,
        provider={
            "name": "dynamo",
            "overrides": {
                "routerMode": "kv",
                "spec": {"services": {"VllmWorker": {"envFromSecret": "x"}}},
            },
        },
        gateway={"enabled": False},
    )
    assert result.exit_code == 0, result.stderr
    graph = one(rendered(tmp_path), "DynamoGraphDeployment")
    assert "routerMode" not in graph  # AI Runway would leave it at the root
    frontend_env = graph["spec"]["services"]["Frontend"]["extraPodSpec"]["mainContainer"]["env"]
    assert frontend_env == [{"name": "DYN_ROUTER_MODE", "value": "kv"}]
    assert graph["spec"]["services"]["VllmWorker"]["envFromSecret"] == "x"


def test_kaito_override_null_deletes_a_field(make_repo, tmp_path):
    gpu_present = {"resource": {"labelSelector": {"matchLabels": {"nvidia.com/gpu.present": None}}}}
    _, result = compile_one(
        make_repo, tmp_path, provider={"name": "kaito", "overrides": gpu_present}
    )
    assert result.exit_code == 0, result.stderr
    workspace = one(rendered(tmp_path), "Workspace")
    assert workspace["resource"]["labelSelector"]["matchLabels"] == {"kubernetes.io/os": "linux"}
    assert workspace["inference"] == {"preset": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}


def test_llmd_overrides_reach_every_deployment_but_never_the_selector(make_repo, tmp_path):
    _, result = compile_one(
        make_repo,
        tmp_path,
        provider={
            "name": "llmd",
            "overrides": {"spec": {"selector": {"matchLabels": {"app": "other"}}, "paused": True}},
        },
        serving={"mode": "disaggregated"},
        resources={},
        scaling={"prefill": {"gpu": {"count": 1}}, "decode": {"replicas": 2, "gpu": {"count": 2}}},
    )
    assert result.exit_code == 0, result.stderr
    deployments = [o for o in rendered(tmp_path) if o["kind"] == "Deployment"]
    assert [d["metadata"]["name"] for d in deployments] == ["m-decode", "m-prefill"]
    for deployment in deployments:
        assert deployment["spec"]["paused"] is True
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector == {"airunway.ai/deployment": "m", "app": deployment["metadata"]["name"]}
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    decode_args = deployments[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert decode_args[decode_args.index("--tensor-parallel-size") + 1] == "2"
    assert '"kv_role":"kv_consumer"' in decode_args[decode_args.index("--kv-transfer-config") + 1]


def test_llmd_user_flag_wins_over_the_derived_one(make_repo, tmp_path):
    _, result = compile_one(
        make_repo, tmp_path, provider={"name": "llmd"}, resources={"gpu": {"count": 4}},
        engine={"type": "vllm", "extraArgs": ["-tp", "2"]},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    args = one(rendered(tmp_path), "Deployment")["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert "--tensor-parallel-size" not in args
    assert args[-2:] == ["-tp", "2"]
