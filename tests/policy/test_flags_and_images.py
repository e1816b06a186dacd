"""Args/extraArgs duplicates, arg-key syntax, the image conflict, flag identity."""

from __future__ import annotations

import pytest

from compiler.io.workspace import load_policy
from tests.harness import Repo
from tests.helpers import item_line_col, line_col, md_yaml

FLAGS = load_policy(None).flags


@pytest.mark.parametrize(
    ("token", "identity"),
    [
        ("--max-model-len", "max-model-len"),
        ("max_model_len", "max-model-len"),
        ("--max-model-len=4096", "max-model-len"),
        ("-tp", "tensor-parallel-size"),
        ("-tp=2", "tensor-parallel-size"),
        ("--tensor_parallel_size", "tensor-parallel-size"),
        ("--tensor-parallel", "tensor-parallel-size"),
        ("-t", "tensor-parallel-size"),
        ("-pp", "pipeline-parallel-size"),
        ("--tp=2", "tp"),  # not a vLLM spelling: vLLM exits on it, runwayc warns
    ],
)
def test_flag_identity(token, identity):
    assert FLAGS.identity(token) == identity


@pytest.mark.parametrize(
    ("args", "extra", "flag"),
    [
        ({"max-model-len": "1"}, ["--max-model-len", "2"], "max-model-len"),
        ({"max_model_len": "1"}, ["--max-model-len=2"], "max-model-len"),
        ({"tensor-parallel-size": "2"}, ["-tp", "2"], "tensor-parallel-size"),
    ],
    ids=["same-spelling", "underscore-vs-equals", "alias"],
)
def test_same_flag_in_args_and_extra_args_is_refused(args, extra, flag):
    text = md_yaml(engine={"type": "vllm", "args": args, "extraArgs": extra})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert not result.ok
    line, col = item_line_col(text, extra[0])
    assert (
        f"deployments/a.yaml:{line}:{col}: error[DUPLICATE_FLAG]: spec.engine.extraArgs[0]: "
        f'launch flag "{flag}" is set in both spec.engine.args and spec.engine.extraArgs'
    ) in result.text


@pytest.mark.parametrize("key", ["bad key", "a/b", "_x", "--"])
def test_invalid_engine_arg_key(key):
    text = md_yaml(engine={"type": "vllm", "args": {key: "1"}})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert not result.ok
    assert (
        f'invalid engine arg key "{key}": must contain only alphanumeric characters, '
        "hyphens, and underscores"
    ) in result.text


def test_image_conflict():
    text = md_yaml(
        image="vllm/vllm-openai:v0.10.0",
        engine={"type": "vllm", "image": "vllm/vllm-openai:v0.11.0"},
    )
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert not result.ok
    line, col = line_col(text, "image: vllm/vllm-openai:v0.10.0")
    assert (
        f"deployments/a.yaml:{line}:{col}: error[IMAGE_CONFLICT]: spec.image: "
        'spec.image "vllm/vllm-openai:v0.10.0" conflicts with spec.engine.image '
        '"vllm/vllm-openai:v0.11.0"; remove spec.image or set both fields to the same value '
        "(spec.engine.image is preferred)"
    ) in result.text


def test_equal_images_do_not_conflict():
    same = "vllm/vllm-openai:v0.11.0"
    text = md_yaml(image=same, engine={"type": "vllm", "image": same})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert result.ok, result.text


def test_unknown_provider_uses_ai_runway_words():
    text = md_yaml(provider={"name": "nope"})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert not result.ok
    assert (
        'error[UNKNOWN_PROVIDER]: spec.provider.name: Invalid value: "nope": '
        'InferenceProviderConfig "nope" not found' in (result.text)
    )
