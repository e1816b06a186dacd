"""AI Runway's provider compatibility check, which runs before any transformer: the cases of
its controller's TestValidateSpec and the webhook's, with their words, through `check`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Repo
from tests.helpers import md_yaml

DISAGG = {
    "serving": {"mode": "disaggregated"},
    "resources": {},
    "scaling": {"prefill": {"gpu": {"count": 1}}, "decode": {"gpu": {"count": 1}}},
}


def check(**spec: Any):
    return Repo.of({"deployments/a.yaml": md_yaml(**spec)}).check()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"provider": {"name": "dynamo"}, "engine": {"type": "trtllm"}, **DISAGG},
            'error[PROVIDER_SERVING_MODE]: spec.serving.mode: Invalid value: "disaggregated": '
            "provider dynamo does not support disaggregated mode for engine trtllm",
        ),
        (
            {"provider": {"name": "kaito"}, "engine": {"type": "sglang"}},
            'error[PROVIDER_ENGINE]: spec.engine.type: Invalid value: "sglang": provider kaito '
            "does not support engine sglang",
        ),
        (
            {"provider": {"name": "kaito"}, "engine": {"type": "llamacpp"}, **DISAGG},
            'spec.serving.mode: Invalid value: "disaggregated": provider kaito does not support '
            "disaggregated mode for engine llamacpp",
        ),
        (
            {"provider": {"name": "vllm"}, **DISAGG},
            'spec.serving.mode: Invalid value: "disaggregated": provider vllm does not support '
            "disaggregated mode for engine vllm",
        ),
        (
            {"provider": {"name": "dynamo"}, "resources": {"gpu": {"count": 0}}},
            "error[PROVIDER_NEEDS_GPU]: spec.resources.gpu.count: Invalid value: 0: vllm engine "
            "on provider dynamo requires GPU (set resources.gpu.count > 0)",
        ),
        # No provider named: the controller's fallback, in its plain words.
        (
            {"provider": {}, "resources": {"gpu": {"count": 0}}},
            "error[PROVIDER_NEEDS_GPU]: spec.resources.gpu.count: vllm engine requires GPU "
            "(set resources.gpu.count > 0)",
        ),
        (
            {"provider": {"name": "dynamo"}, "serving": {"mode": "disaggregated"}, "resources": {}},
            "error[DISAGGREGATED]: spec.scaling: disaggregated mode requires scaling.prefill and "
            "scaling.decode",
        ),
    ],
    ids=[
        "trtllm-disaggregated-on-dynamo",
        "sglang-on-kaito",
        "llamacpp-disaggregated-on-kaito",
        "vllm-disaggregated-on-vllm",
        "vllm-on-dynamo-without-gpu",
        "vllm-without-gpu",
        "disaggregated-without-prefill-and-decode",
    ],
)
def test_incompatible_specs_are_refused_in_ai_runways_words(spec, expected):
    result = check(**spec)
    assert not result.ok
    assert expected in result.text


@pytest.mark.parametrize(
    "spec",
    [
        {"provider": {"name": "dynamo"}, **DISAGG},
        {"provider": {"name": "kaito"}, "engine": {"type": "llamacpp"}, "resources": {},
         "image": "ghcr.io/ggml-org/llama.cpp:server"},
        {"provider": {}, "engine": {"type": "llamacpp"}, "resources": {},
         "image": "ghcr.io/ggml-org/llama.cpp:server"},
    ],
    ids=["vllm-disaggregated-on-dynamo", "llamacpp-on-kaito-cpu", "llamacpp-cpu-no-provider"],
)  # fmt: skip
def test_compatible_specs_pass(spec):
    result = check(**spec)
    assert result.ok, result.text


def test_an_incompatible_spec_never_reaches_the_providers_own_checks():
    result = check(provider={"name": "kaito"}, engine={"type": "sglang"})
    assert "KAITO does not support" not in result.text
    assert result.text.count("error[") == 1, result.text


@pytest.mark.parametrize("key", ["-bad-key", "--max-model-len"])
def test_an_engine_arg_key_is_validated_as_written(key):
    """AI Runway refuses a key with a leading dash (TestTransformAggregatedInvalidEngineArgKey);
    runwayc stripped the dashes before checking."""
    result = check(engine={"type": "vllm", "args": {key: "1"}})
    assert not result.ok
    assert (
        f'error[INVALID_ARG_KEY]: spec.engine.args["{key}"]: invalid engine arg key "{key}": '
        "must contain only alphanumeric characters, hyphens, and underscores"
    ) in result.text.replace("['", '["').replace("']", '"]')


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # CPU and aggregated: selection picks llamacpp (KAITO's), which the vllm provider
        # does not run.
        (
            {"provider": {"name": "vllm"}, "engine": {}, "resources": {},
             "image": "ghcr.io/ggml-org/llama.cpp:server"},
            "error[PROVIDER_ENGINE]: spec.provider.name: provider vllm does not support "
            "engine llamacpp",
        ),
        # Disaggregated means GPU: selection picks vllm, which KAITO serves aggregated only.
        (
            {"provider": {"name": "kaito"}, "engine": {}, **DISAGG},
            "error[PROVIDER_SERVING_MODE]: spec.serving.mode: provider kaito does not support "
            "disaggregated mode for engine vllm",
        ),
    ],
    ids=["llamacpp-selected-for-the-vllm-provider", "vllm-selected-for-kaito-disaggregated"],
)  # fmt: skip
def test_an_auto_selected_engine_is_checked_in_the_controllers_words(spec, expected):
    """The webhook skips a spec with no engine.type; the controller's validateSpec checks
    the engine selection chose, and reports the bare message (no `Invalid value`)."""
    result = check(**spec)
    assert not result.ok
    assert expected in result.text, result.text
    assert "Invalid value" not in result.text
