"""Every run reports all violations, sorted; json and sarif carry the same list as text."""

from __future__ import annotations

import json
import re

from tests.conftest import run_cli
from tests.helpers import md_yaml

TEXT_LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>\w+)\[(?P<code>\w+)\]"
)


def broken_repo(make_repo):
    return make_repo(
        {
            "deployments/b.yaml": md_yaml(
                "b", engine={"type": "vllm", "extraArgs": ["--port=1"]},
            ),
            "deployments/c.yaml": md_yaml("c", resources={"gpu": {"count": 0}}),
            "deployments/a.yaml": md_yaml(
                "a", provider={"name": "vllm", "overrides": {"spec": {"hostPID": True}}},
                image="x:1", engine={"type": "vllm", "image": "y:2"},
            ),
        }
    )  # fmt: skip


def text_entries(stderr: str) -> list[tuple]:
    out = []
    for line in stderr.splitlines():
        match = TEXT_LINE.match(line)
        if match:
            out.append(
                (match["file"], int(match["line"]), int(match["col"]), match["sev"], match["code"])
            )
    return out


def test_all_violations_reported_sorted_by_file_and_line(make_repo):
    result = run_cli("check", broken_repo(make_repo))
    assert result.exit_code == 1
    entries = text_entries(result.stderr)
    errors = [e for e in entries if e[3] == "error"]
    assert {e[4] for e in errors} == {
        "OVERRIDE_DENIED",
        "IMAGE_CONFLICT",
        "RESERVED_ARG",
        "PROVIDER_NEEDS_GPU",
    }
    assert entries == sorted(entries, key=lambda e: (e[0], e[1], e[2]))
    assert entries[0][0] == "deployments/a.yaml"


def test_json_and_sarif_carry_the_text_list(make_repo):
    repo = broken_repo(make_repo)
    text = text_entries(run_cli("check", repo).stderr)
    as_json = run_cli("check", repo, "--format", "json")
    assert as_json.exit_code == 1
    doc = json.loads(as_json.stdout)
    from_json = [
        (d["file"], d["line"], d["column"], d["severity"], d["code"]) for d in doc["diagnostics"]
    ]
    assert from_json == text
    assert doc["summary"] == {"errors": 4, "warnings": len(text) - 4}

    as_sarif = run_cli("check", repo, "--format", "sarif")
    assert as_sarif.exit_code == 1
    sarif = json.loads(as_sarif.stdout)
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    from_sarif = []
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]
        region = location["region"]
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        from_sarif.append(
            (
                location["artifactLocation"]["uri"],
                region["startLine"],
                region["startColumn"],
                result["level"],
                result["ruleId"],
            )
        )
    assert from_sarif == text


def test_clean_repo_prints_empty_lists(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    doc = json.loads(run_cli("check", repo, "--format", "json").stdout)
    assert doc["summary"]["errors"] == 0
