"""A diagnostic that arises in some environments says which, in every format; one that
every environment gives alike is reported once, unmarked (issue 26)."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.harness import Repo
from tests.helpers import line_col, md_yaml

THREE_ENVIRONMENTS = """\
apiVersion: runwayc.dev/v1alpha1
kind: Project
defaultEnvironment: dev
environments:
  dev: {}
  staging: {}
  prod: {}
"""


def overlay(gpu_count: int) -> str:
    return f"apiVersion: runwayc.dev/v1alpha1\nkind: Overlay\nceilings:\n  gpuCount: {gpu_count}\n"


# a.yaml asks for 4 GPUs: prod allows 2, staging 3, dev the built-in 64. b.yaml's reserved
# port is wrong wherever it compiles.
FILES = {
    "runway.yaml": THREE_ENVIRONMENTS,
    "overlays/prod.yaml": overlay(2),
    "deployments/a.yaml": md_yaml("a", resources={"gpu": {"count": 4}}),
    "deployments/b.yaml": md_yaml("b", engine={"type": "vllm", "extraArgs": ["--port=1"]}),
}


def ceiling_at() -> str:
    line, column = line_col(FILES["deployments/a.yaml"], "count: 4")
    return f"deployments/a.yaml:{line}:{column}"


def test_an_overlay_ceiling_names_its_environment_and_a_shared_error_is_printed_once(make_repo):
    result = run_cli("check", make_repo(FILES))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if ": error[" in line]
    assert errors[0] == (
        f"{ceiling_at()}: error[CEILING_EXCEEDED]: [prod] spec.resources.gpu.count: "
        "Invalid value: 4: exceeds maximum allowed (2)"
    )
    # The same in dev, staging and prod: once, and with no environment.
    (reserved,) = [line for line in errors if "RESERVED_ARG" in line]
    assert "error[RESERVED_ARG]: spec.engine.extraArgs[0]: " in reserved
    assert len(errors) == 2


def test_an_error_in_some_environments_is_reported_for_each_of_them():
    repo = Repo.of({**FILES, "overlays/staging.yaml": overlay(3)})
    checked = repo.check()
    ceilings = [line for line in checked.errors if "CEILING_EXCEEDED" in line]
    assert [line.split("error[CEILING_EXCEEDED]: ")[1].split(" ")[0] for line in ceilings] == [
        "[prod]",
        "[staging]",
    ]
    assert ceilings[1].endswith("exceeds maximum allowed (3)")
    (reserved,) = [line for line in checked.errors if "RESERVED_ARG" in line]
    assert "error[RESERVED_ARG]: spec.engine.extraArgs[0]: " in reserved


def test_json_has_an_environment_field_on_every_diagnostic(make_repo):
    result = run_cli("check", make_repo(FILES), "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    where = {d["code"]: d["environment"] for d in doc["diagnostics"] if d["severity"] == "error"}
    assert where == {"CEILING_EXCEEDED": "prod", "RESERVED_ARG": None}
    assert all("environment" in d for d in doc["diagnostics"])
    assert doc["summary"]["errors"] == 2


def test_sarif_results_carry_the_environment_in_properties_and_in_the_message(make_repo):
    result = run_cli("check", make_repo(FILES), "--format", "sarif")
    (run,) = json.loads(result.stdout)["runs"]
    by_rule = {r["ruleId"]: r for r in run["results"] if r["level"] == "error"}
    ceiling = by_rule["CEILING_EXCEEDED"]
    assert ceiling["properties"] == {"environment": "prod"}
    assert ceiling["message"]["text"].startswith("[prod] spec.resources.gpu.count: ")
    assert "properties" not in by_rule["RESERVED_ARG"]


def test_one_environment_marks_nothing_the_command_line_names_it(make_repo):
    result = run_cli("compile", make_repo(FILES), "--env", "prod", "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert {d["code"] for d in doc["diagnostics"] if d["severity"] == "error"} == {
        "CEILING_EXCEEDED",
        "RESERVED_ARG",
    }
    assert {d["environment"] for d in doc["diagnostics"]} == {None}
    checked = run_cli("check", make_repo(FILES), "--env", "prod")
    assert f"{ceiling_at()}: error[CEILING_EXCEEDED]: spec.resources.gpu.count: " in (
        checked.stderr
    )
