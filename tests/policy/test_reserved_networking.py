"""Direct vLLM owns --host 0.0.0.0 --port 8000: every user spelling is refused."""

from __future__ import annotations

import pytest

from tests.harness import Repo
from tests.helpers import item_line_col, line_col, md_yaml

TAIL = (
    "conflicts with Direct vLLM generated networking; Direct vLLM currently requires host "
    "0.0.0.0 and port 8000 to keep the container, Service, and probes aligned"
)


@pytest.mark.parametrize("key", ["port", "--port", "-port", "port=9000", "host", "--host"])
def test_args_map_key(key):
    text = md_yaml(engine={"type": "vllm", "args": {key: "9000"}})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert not result.ok
    line, col = line_col(text, f"{key}:")
    path = f"spec.engine.args.{key}" if key.isalpha() else f"spec.engine.args[{key!r}]"
    assert (
        f'deployments/a.yaml:{line}:{col}: error[RESERVED_ARG]: {path}: engine arg "{key}" {TAIL}'
    ) in result.text


@pytest.mark.parametrize(
    ("extra", "index"),
    [
        (["--host=10.0.0.1"], 0),
        (["--port", "9000"], 0),
        (["--port=9000"], 0),
        (["--seed", "1", "--port", "9000"], 2),
    ],
    ids=["host-equals", "port-two-tokens", "port-equals", "after-other-flags"],
)
def test_extra_args_tokens(extra, index):
    text = md_yaml(engine={"type": "vllm", "extraArgs": extra})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert not result.ok
    token = extra[index]
    line, col = item_line_col(text, token)
    assert (
        f"deployments/a.yaml:{line}:{col}: error[RESERVED_ARG]: "
        f'spec.engine.extraArgs[{index}]: engine extraArg "{token}" {TAIL}'
    ) in result.text


def test_a_port_value_of_another_flag_is_not_a_conflict():
    text = md_yaml(engine={"type": "vllm", "extraArgs": ["--api-key", "port"]})
    result = Repo.of({"deployments/a.yaml": text}).check()
    assert result.ok, result.text
