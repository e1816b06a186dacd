"""Compiling specs through the CLI: explicit vllm, derived-flag dedup, exit codes."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import run_cli
from tests.helpers import dedent, line_col, md_yaml


def manifest(out: Path, namespace: str, name: str) -> list[dict]:
    text = (out / namespace / name / "manifest.yaml").read_text()
    return list(yaml.safe_load_all(text))


def container(objects: list[dict]) -> dict:
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_explicit_vllm_renders_deployment_and_service_named_after_md(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_yaml("phi4", "team-a")})
    out = tmp_path / "out"
    result = run_cli("compile", repo, "--env", "dev", "--out", out)
    assert result.exit_code == 0, result.stderr
    objects = manifest(out, "team-a", "phi4")
    kinds = {(o["kind"], o["metadata"]["name"], o["metadata"]["namespace"]) for o in objects}
    assert kinds == {
        ("ModelDeployment", "phi4", "team-a"),
        ("Service", "phi4", "team-a"),
        ("Deployment", "phi4", "team-a"),
    }
    assert [o["kind"] for o in objects] == ["Service", "Deployment", "ModelDeployment"]
    assert (out / "team-a" / "kustomization.yaml").is_file()  # the namespace's sync unit
    assert not (out / "kustomization.yaml").exists()  # no build spans the environment


def test_user_tensor_parallel_arg_wins_over_derived_flag(make_repo, tmp_path):
    spec = md_yaml(
        engine={"type": "vllm", "args": {"tensor-parallel-size": "4"}},
        resources={"gpu": {"count": 2}},
    )
    repo = make_repo({"deployments/a.yaml": spec})
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    args = container(manifest(out, "team-a", "m"))["args"]
    assert args.count("--tensor-parallel-size") == 1
    assert args[args.index("--tensor-parallel-size") + 1] == "4"


def test_alias_spellings_in_extra_args_suppress_the_derived_flag(make_repo, tmp_path):
    for extra in (["-tp", "4"], ["--tensor_parallel_size=4"]):
        spec = md_yaml(engine={"type": "vllm", "extraArgs": extra}, resources={"gpu": {"count": 2}})
        repo = make_repo({"deployments/a.yaml": spec})
        out = tmp_path / f"out{len(extra)}"
        assert run_cli("compile", repo, "--out", out).exit_code == 0
        args = container(manifest(out, "team-a", "m"))["args"]
        assert "--tensor-parallel-size" not in args
        assert args[-len(extra) :] == extra


def test_args_order_matches_direct_vllm(make_repo, tmp_path):
    spec = md_yaml(
        model={"id": "org/model", "servedName": "served"},
        engine={
            "type": "vllm",
            "contextLength": 4096,
            "trustRemoteCode": True,
            "enforceEager": True,
            "args": {"zeta": "1", "alpha": ""},
            "extraArgs": ["--seed", "7"],
        },
        resources={"gpu": {"count": 4}},
    )
    repo = make_repo({"deployments/a.yaml": spec})
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    assert container(manifest(out, "team-a", "m"))["args"] == [
        "--host", "0.0.0.0", "--port", "8000",
        "--model", "org/model",
        "--served-model-name", "served",
        "--max-model-len", "4096",
        "--trust-remote-code",
        "--enforce-eager",
        "--enable-prefix-caching",
        "--tensor-parallel-size", "4",
        "--alpha",
        "--zeta", "1",
        "--seed", "7",
    ]  # fmt: skip


def test_gpu_count_zero_is_refused_with_ai_runway_message(make_repo, tmp_path):
    text = md_yaml(resources={"gpu": {"count": 0}})
    repo = make_repo({"deployments/a.yaml": text})
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    assert result.exit_code == 1
    line, col = line_col(text, "count")
    assert (
        f"deployments/a.yaml:{line}:{col}: error[PROVIDER_NEEDS_GPU]: "
        "spec.resources.gpu.count: Invalid value: 0: vllm engine on provider vllm requires GPU "
        "(set resources.gpu.count > 0)"
    ) in result.stderr
    assert not (tmp_path / "out").exists()


def test_disaggregated_is_refused_with_ai_runway_message(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_yaml(serving={"mode": "disaggregated"})})
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert (
        'spec.serving.mode: Invalid value: "disaggregated": provider vllm does not support '
        "disaggregated mode for engine vllm"
    ) in result.stderr


def test_errors_write_nothing_and_keep_the_previous_tree(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_yaml("good")})
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    before = (out / "team-a" / "good" / "manifest.yaml").read_bytes()
    (repo / "deployments" / "b.yaml").write_text(md_yaml("bad", resources={"gpu": {"count": 0}}))
    result = run_cli("compile", repo, "--out", out)
    assert result.exit_code == 1
    assert "nothing written" in result.stderr
    assert (out / "team-a" / "good" / "manifest.yaml").read_bytes() == before


def test_removed_md_disappears_from_the_tree(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_yaml("one"), "deployments/b.yaml": md_yaml("two")})
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    (repo / "deployments" / "b.yaml").unlink()
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    assert not (out / "team-a" / "two").exists()
    assert "two/" not in (out / "team-a" / "kustomization.yaml").read_text()


def test_namespace_defaults_to_the_environment_overlay(make_repo, tmp_path):
    repo = make_repo(
        {
            "deployments/a.yaml": md_yaml("m", namespace=None),
            "overlays/dev.yaml": dedent(
                """
                apiVersion: runwayc.dev/v1alpha1
                kind: Overlay
                namespace: sandbox
                """
            ),
        }
    )
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    assert (out / "sandbox" / "m" / "manifest.yaml").is_file()


def test_unknown_field_names_its_path_and_place(make_repo, tmp_path):
    text = dedent(
        """
        apiVersion: airunway.ai/v1alpha1
        kind: ModelDeployment
        metadata:
          name: m
        spec:
          model:
            id: a/b
            revison: main
        """
    )
    repo = make_repo({"deployments/a.yaml": text})
    result = run_cli("check", repo)
    assert result.exit_code == 1
    assert (
        'deployments/a.yaml:8:5: error[UNKNOWN_FIELD]: spec.model.revison: unknown field "revison"'
        in result.stderr
    )


def test_wrong_kind_and_non_mapping_documents(make_repo):
    text = dedent(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: x}
        ---
        - just
        - a list
        """
    )
    repo = make_repo({"deployments/a.yaml": text})
    result = run_cli("check", repo)
    assert result.exit_code == 1
    assert (
        "deployments/a.yaml:1:1: error[WRONG_KIND]: apiVersion: expected apiVersion "
        "airunway.ai/v1alpha1 and kind ModelDeployment, got apps/v1 Deployment"
    ) in result.stderr
    assert "deployments/a.yaml:5:1: error[NOT_A_MAPPING]" in result.stderr


def test_yaml_bombs_duplicates_and_syntax_errors_are_diagnostics(make_repo):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 8):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        bomb += f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    repo = make_repo(
        {
            "deployments/bomb.yaml": bomb,
            "deployments/dup.yaml": "apiVersion: x\napiVersion: y\n",
            "deployments/syntax.yaml": "a: [1\n",
        }
    )
    result = run_cli("check", repo)
    assert result.exit_code == 1
    assert "deployments/bomb.yaml:" in result.stderr
    assert "error[YAML_TOO_LARGE]" in result.stderr
    assert (
        "deployments/dup.yaml:2:1: error[YAML_DUPLICATE_KEY]: apiVersion: duplicate key "
        '"apiVersion" (first defined at line 1, column 1)'
    ) in result.stderr
    assert "deployments/syntax.yaml:2:1: error[YAML_SYNTAX]" in result.stderr
    assert "Traceback" not in result.stderr


def test_document_over_one_mebibyte_is_refused(make_repo):
    big = (
        "apiVersion: airunway.ai/v1alpha1\nkind: ModelDeployment\npad: '" + "x" * (1 << 20) + "'\n"
    )
    repo = make_repo({"deployments/big.yaml": big})
    result = run_cli("check", repo)
    assert result.exit_code == 1
    assert "over the 1048576-byte limit" in result.stderr


def test_usage_errors_exit_two(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    assert run_cli("compile", repo, "--no-such-flag").exit_code == 2
    assert run_cli("lock", repo, "--forget", "no-slash").exit_code == 2
    assert run_cli("check", repo, "--format", "xml").exit_code == 2


def test_unknown_environment_is_a_usage_error(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    result = run_cli("compile", repo, "--env", "qa", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert 'environment "qa" is not listed in runway.yaml (known: dev)' in result.stderr
    assert not (tmp_path / "o").exists()
