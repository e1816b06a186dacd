"""Recipe JSON is held to runwayc's nesting bound: the API's answers and the pinned store.

Python's JSON decoder recurses and meets deep input with RecursionError; runwayc checks the
bound on the text first and names the document, line and column of the 65th level.
"""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.recipes.conftest import recipe_cli
from tests.recipes.test_compile_time import reference

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
DEEP = "[" * 200_000 + "]" * 200_000
REFUSAL = "error[YAML_TOO_DEEP]: document nests deeper than 64 levels"


def test_the_recipes_api_answer_is_refused_at_the_bound(quickstart, recipes_server):
    recipes_server.body(f"/{QWEN}.json", ('{"a": ' + DEEP + "}").encode())
    result = recipe_cli("show", quickstart, recipes_server, QWEN)
    assert result.exit_code == 1
    # `{"a": ` is level 1 and 6 characters; level 65 is the 64th `[`, at column 70.
    assert f"{recipes_server.url}/{QWEN}.json:1:70: {REFUSAL}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_pinned_store_document_is_refused_at_the_bound(quickstart, recipes_server):
    pulled = recipe_cli("pull", quickstart, recipes_server, QWEN, "--hardware", "a100")
    assert pulled.exit_code == 0, pulled.stderr
    stored = quickstart / "recipes" / f"{QWEN}.json"
    text = json.dumps({"deep": None, **json.loads(stored.read_text())})
    stored.write_text(text.replace("null", DEEP, 1))
    (quickstart / "deployments/team-a/ref.yaml").write_text(reference())
    result = run_cli("check", quickstart)
    assert result.exit_code == 1
    assert f"recipes/{QWEN}.json:1:73: {REFUSAL}" in result.stderr  # after `{"deep": `
    assert "Traceback" not in result.stderr


def test_a_deep_features_annotation_is_a_plain_refusal(quickstart, recipes_server):
    pulled = recipe_cli("pull", quickstart, recipes_server, QWEN, "--hardware", "a100")
    assert pulled.exit_code == 0, pulled.stderr
    deep = "[" * 5_000 + "]" * 5_000
    text = reference().replace("""'["tool_calling"]'""", f"'{deep}'")
    (quickstart / "deployments/team-a/ref.yaml").write_text(text)
    result = run_cli("check", quickstart)
    assert result.exit_code == 1
    assert "is not a JSON array of feature names" in result.stderr
    assert "Traceback" not in result.stderr


def test_apply_refuses_a_deep_target_before_editing_it(quickstart, recipes_server):
    # ruamel's round-trip composer recurses in Python; the bound is checked before it runs.
    target = quickstart / "deployments/team-a/qwen.yaml"
    target.write_text("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 3_000)))
    result = recipe_cli(
        "apply", quickstart, recipes_server, QWEN, "--name", "q", "-o", target, "--hardware", "a100"
    )
    assert result.exit_code == 1
    assert f"{target}:65:65: {REFUSAL}" in result.stderr
    assert "Traceback" not in result.stderr
    assert target.read_text().startswith("a:\n b:\n")
