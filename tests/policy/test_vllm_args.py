"""Launch flags are read the way `vllm serve` reads them, and none moves the listener.

Each reproduction from the issue is a case here; the property tests hold runwayc's reader to
Python's own argparse built from the same option table (tests/policy/vllm_oracle.py), the
rendered container to listening on 0.0.0.0:8000, and the compiler's reserved-networking verdict
to the CRD's CEL rule.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.core.cluster.rules import reserved_expression
from compiler.core.recipes import Recipe, Selection, resolve
from compiler.core.vllm_args import Token, read_command_line
from compiler.io.workspace import POLICIES_DIR, data_dir, load_policy
from tests.cluster.cel import evaluate
from tests.conftest import FIXTURES
from tests.harness import Repo
from tests.helpers import md_yaml
from tests.policy import vllm_oracle

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(None)
FLAGS = POLICY.flags
RESERVED_TAIL = "conflicts with Direct vLLM generated networking"


def _check(engine: dict[str, Any], **spec: Any) -> Any:
    return Repo.of({"deployments/a.yaml": md_yaml(engine={"type": "vllm", **engine}, **spec)})


# --- the table ------------------------------------------------------------------------------


def test_the_table_is_the_fixture_dump_of_the_serve_parser():
    path = ROOT / "scripts" / "refresh-vllm-options"
    loader = importlib.machinery.SourceFileLoader("refresh_vllm_options", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    dump = json.loads((FIXTURES / "vllm" / "serve-flags.json").read_text())
    shipped = (data_dir(POLICIES_DIR) / "vllm-serve-options.json").read_text()
    assert shipped == module._format(module.table(dump))
    assert FLAGS.table.version == dump["vllm_version"] == "0.30.0"
    assert sum(len(o.strings) for o in FLAGS.table.options) == dump["counts"]["option_strings"]


# --- the reproductions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "engine",
    [
        {"extraArgs": ["--por", "9000"]},
        {"extraArgs": ["--hos=1.2.3.4"]},
        {"args": {"por": "9000"}},
        {"args": {"enforce-eager": "--port=9000"}},
        {"extraArgs": ["--uds", "/tmp/s"]},
        {"extraArgs": ["--config", "serve.yaml"]},
        {"extraArgs": ["--conf", "serve.yaml"]},
        {"extraArgs": ["--data_parallel_multi"]},
        {"extraArgs": ["--p", "9000"]},
        {"extraArgs": ["--por.x", "1"]},
        {"extraArgs": ["--model=--uds=/tmp/s"]},
        {"extraArgs": ["--grpc"]},
        {"extraArgs": ["--ssl-keyfile", "k.pem", "--ssl-certfile", "c.pem"]},
        {"extraArgs": ["-dpm"]},
        {"extraArgs": ["--omni"]},
    ],
    ids=lambda e: json.dumps(e),
)
def test_every_spelling_that_moves_the_listener_is_refused(engine):
    result = _check(engine).check()
    assert not result.ok
    assert "RESERVED_ARG" in result.codes, result.text
    assert RESERVED_TAIL in result.text


def test_a_value_that_is_itself_an_option_is_refused():
    result = _check({"args": {"enforce-eager": "--max-model-len=10"}}).check()
    assert "FLAG_VALUE" in result.codes
    assert (
        'engine arg "enforce-eager": its value "--max-model-len=10" is itself an option '
        "(vLLM reads it as --max-model-len)"
    ) in result.text


def test_a_flag_given_a_value_it_does_not_take_is_refused():
    result = _check({"args": {"enforce-eager": "true"}}).check()
    assert (
        'engine arg "enforce-eager": --enforce-eager takes no value, so vLLM would exit with '
        '"unrecognized arguments: true"'
    ) in result.text
    equals = _check({"extraArgs": ["--enforce-eager=1"]}).check()
    assert "ignored explicit argument '1'" in equals.text
    assert "FLAG_VALUE" in equals.codes


def test_a_flag_without_its_value_is_refused():
    result = _check({"extraArgs": ["--max-model-len"]}).check()
    assert "argument --max-model-len: expected one argument" in result.text


def test_an_ambiguous_abbreviation_names_the_candidates_as_vllm_would():
    result = _check({"extraArgs": ["--max-num", "3"]}).check()
    assert "FLAG_AMBIGUOUS" in result.codes
    assert (
        "ambiguous option: --max-num could match --max-num-batched-tokens, "
        "--max-num-scheduled-tokens, --max-num-seqs, --max-num-queued-reqs, "
        "--max-num-queued-tokens"
    ) in result.text


def test_an_unknown_option_is_a_warning_with_the_nearest_known_one():
    result = _check({"extraArgs": ["--max-modle-len", "4096"]}).check()
    assert result.ok, result.text
    assert "UNKNOWN_FLAG" in result.codes
    assert "has no option --max-modle-len" in result.text
    assert "did you mean --max-model-len?" in result.text


def test_an_abbreviation_duplicates_the_full_spelling():
    result = _check(
        {"args": {"tensor-parallel-size": "2"}, "extraArgs": ["--tensor-parallel", "4"]}
    ).check()
    assert (
        'launch flag "tensor-parallel-size" is set in both spec.engine.args and '
        "spec.engine.extraArgs"
    ) in result.text


def test_a_flag_repeated_within_extra_args_is_refused():
    result = _check({"extraArgs": ["-tp", "2", "--tensor_parallel_size", "4"]}).check()
    assert (
        'launch flag "tensor-parallel-size" is set more than once in spec.engine.extraArgs; '
        "vLLM keeps only the last"
    ) in result.text


def test_dotted_and_optimisation_forms_are_read_as_their_options():
    result = _check({"extraArgs": ["-O3", "--compilation-config.mode", "3"]}).compile()
    assert result.ok, result.text
    (args,) = [
        c["args"]
        for o in result.objects("team-a", "m")
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    values = vllm_oracle.serve(args)
    assert values["optimization_level"] == "3"
    assert values["compilation_config"] == '{"mode": 3}'


@pytest.mark.parametrize("name", ["VLLM_PORT", "VLLM_HOST_IP"])
def test_environment_variables_vllm_reads_for_its_addresses_are_reserved(name):
    result = _check({}, env=[{"name": name, "value": "8000"}]).check()
    assert "RESERVED_ENV" in result.codes
    assert f'environment variable "{name}" is reserved' in result.text


def _policy(body: str) -> str:
    return "apiVersion: runwayc.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: team\n" + body


def test_an_alias_cannot_map_a_reserved_option_away_without_a_waiver():
    repo = Repo.of(
        {
            "deployments/a.yaml": md_yaml(engine={"type": "vllm", "extraArgs": ["--port", "9"]}),
            "policies/team.yaml": _policy("vllmFlags:\n  aliases:\n    port: seed\n"),
        }
    )
    result = repo.check()
    assert "POLICY_LOOSENING" in result.codes
    assert 'maps "port" to --seed, but vLLM reads --port as --port' in result.text
    assert not result.ok


def test_an_alias_may_teach_runwayc_a_plugin_spelling_of_a_reserved_option():
    repo = Repo.of(
        {
            "deployments/a.yaml": md_yaml(
                engine={"type": "vllm", "extraArgs": ["--listen-port", "9"]}
            ),
            "policies/team.yaml": _policy("vllmFlags:\n  aliases:\n    listen-port: port\n"),
        }
    )
    result = repo.check()
    assert "POLICY_LOOSENING" not in result.codes
    assert "RESERVED_ARG" in result.codes


def test_a_reserved_name_that_is_not_an_option_is_refused():
    repo = Repo.of(
        {
            "deployments/a.yaml": md_yaml(engine={"type": "vllm"}),
            "policies/team.yaml": _policy("vllmFlags:\n  reservedNetworking: [prot]\n"),
        }
    )
    assert '"prot" is not a vllm serve option (vLLM 0.30.0)' in repo.check().text


def test_recipe_apply_drops_an_abbreviated_port():
    data = json.loads(
        (FIXTURES / "recipes-api" / "Qwen" / "Qwen2.5-0.5B-Instruct.json").read_text()
    )
    data["recommended_command"]["argv"] += ["--por", "9000", "--hos=1.2.3.4"]
    resolution = resolve(
        Recipe.model_validate(data), Selection(), source="s", revision="r", flags=FLAGS
    )
    assert "--por" not in resolution.extra_args
    assert "por" not in resolution.args
    assert not any(t.startswith("--hos") for t in resolution.extra_args)
    assert any("--por dropped" in w for w in resolution.warnings)


def test_no_service_can_inject_variables_into_a_vllm_pod():
    result = Repo.of({"deployments/a.yaml": md_yaml(name="vllm")}).compile()
    assert result.ok, result.text
    (deployment,) = [o for o in result.objects("team-a", "vllm") if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["enableServiceLinks"] is False


# --- properties -----------------------------------------------------------------------------

STRINGS = sorted(FLAGS.table.by_string)
RESERVED_STRINGS = FLAGS.reserved_strings()


def _prefix(strings: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(strings).flatmap(
        lambda s: st.integers(min_value=2, max_value=len(s)).map(lambda n: s[:n])
    )


def _underscored(text: str) -> st.SearchStrategy[str]:
    return st.just(text) | st.just(text[:2] + text[2:].replace("-", "_"))


VALUES = st.sampled_from(["9000", "1.2.3.4", "-1", "-0.5", "x y", "true", "a.b", "{}", "3"])
NAMES = (_prefix(RESERVED_STRINGS) | _prefix(STRINGS) | st.sampled_from(STRINGS)).flatmap(
    _underscored
)
TOKENS = st.one_of(
    NAMES,
    st.tuples(NAMES, VALUES).map(lambda t: f"{t[0]}={t[1]}"),
    NAMES.map(lambda n: f"{n}.key"),
    NAMES.map(lambda n: f"--model={n}"),
    st.sampled_from(["-O3", "-O", "-O=2", "--", "--omni", "--help=all", "-qawq", "-tp2"]),
    VALUES,
    st.text(alphabet="-=._ahlnoprstu019 ", max_size=10),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=6))
def test_the_reader_agrees_with_argparse(argv):
    line = ["--model", "m", *argv]
    reading = read_command_line([Token(t, ("x",), "", ("x",)) for t in line], FLAGS)
    refused = [p for p in reading.problems if p.kind != "foreign-value"]
    try:
        values = vllm_oracle.serve(line)
    except vllm_oracle.Refused:
        assert refused, f"argparse refuses {line}, the reader does not"
        return
    assert not refused, f"the reader refuses {line} ({refused[0].message}), argparse does not"
    for occurrence in reading.occurrences:
        option = occurrence.option
        if option.dest == "model":
            continue
        assert values[option.dest] not in (None, False) or occurrence.flag.text.startswith("--no-")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(TOKENS, max_size=5),
    st.dictionaries(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,12}", fullmatch=True)
        | _prefix(STRINGS)
        .map(lambda s: s.lstrip("-"))
        .filter(lambda s: re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", s) is not None),
        VALUES | st.just("") | NAMES,
        max_size=3,
    ),
)
def test_nothing_that_compiles_listens_anywhere_but_where_the_service_looks(extra, args):
    result = _check({"args": args, "extraArgs": extra}).compile()
    if not result.ok:
        return
    (container,) = [
        c
        for o in result.objects("team-a", "m")
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    try:
        values = vllm_oracle.serve(container["args"])
    except vllm_oracle.Refused:
        return  # vLLM exits (the compiler warned of the unknown option): it listens nowhere
    assert vllm_oracle.listens_as_rendered(values), container["args"]


RESERVED_CEL = reserved_expression(FLAGS, "t")


@settings(max_examples=500, deadline=None)
@given(TOKENS)
def test_the_cel_rule_and_the_compiler_agree_on_reserved_networking(token):
    assert bool(evaluate(RESERVED_CEL, t=token)) == FLAGS.reserves(token)


def test_recipe_flags_take_as_many_values_as_their_options():
    data = json.loads(
        (FIXTURES / "recipes-api" / "Qwen" / "Qwen2.5-0.5B-Instruct.json").read_text()
    )
    data["recommended_command"]["argv"] += ["--served-model-name", "a", "b", "--enforce-eager"]
    resolution = resolve(
        Recipe.model_validate(data), Selection(), source="s", revision="r", flags=FLAGS
    )
    # Two values cannot be one `args` entry: the flag keeps both, in order, in extraArgs.
    assert "served-model-name" not in resolution.args
    at = resolution.extra_args.index("--served-model-name")
    assert resolution.extra_args[at : at + 3] == ["--served-model-name", "a", "b"]
    assert resolution.args.get("enforce-eager") == ""
