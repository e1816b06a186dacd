"""Edges of `runwayc recipe` (issue 23): the whole request has a deadline, headers included;
a refused URL is never echoed with its credentials; a recipe path ending in a newline is a
clear refusal, not an httpx traceback."""

from __future__ import annotations

import json

import pytest

from compiler.core.errors import RecipeTimeoutError
from compiler.core.recipes import redacted_url
from compiler.io.recipe_client import RecipeClient
from tests.conftest import ROOT, run_cli
from tests.helpers import dripping_server

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
SECRET = "hunter2"


def test_headers_dripped_inside_the_read_timeout_end_at_the_deadline():
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: y\r\n" * 10
    with dripping_server(answer + b"Content-Length: 2\r\n\r\n{}") as drip:
        client = RecipeClient(f"http://{drip.address}", timeout=1.0)
        with client, pytest.raises(RecipeTimeoutError, match="did not finish within 1 s"):
            client.models()
        assert not drip.finished.is_set()


@pytest.mark.parametrize(
    "url",
    [
        f"https://bob:{SECRET}@recipes.example.com",
        f"http://bob:{SECRET}@recipes.example.com",  # refused for plain http first
        f"https://{SECRET}@recipes.example.com",  # a token as the user name
        f"https://bob:{SECRET}/x@recipes.example.com",  # a password holding a slash
        f"https://recipes.example.com/?token={SECRET}",
        f"https://recipes.example.com/#access_token={SECRET}",
        f"https://bob:{SECRET}@recipes.example.com:notaport/",  # refused as unparsable
    ],
)
def test_a_refused_recipes_url_is_never_echoed_with_its_credentials(url, make_repo, monkeypatch):
    repo = make_repo({})
    for result in (
        run_cli("recipe", "list", "-C", repo, "--recipes-url", url),
        run_cli("recipe", "show", QWEN, "-C", repo, "--recipes-url", url),
    ):
        assert result.exit_code == 2
        assert "recipes base URL" in result.stderr
        assert SECRET not in result.stderr + result.stdout
    monkeypatch.setenv("VLLM_RECIPES_BASE_URL", url)
    result = run_cli("recipe", "list", "-C", repo)
    assert result.exit_code == 2
    assert SECRET not in result.stderr + result.stdout


def test_redaction_keeps_what_locates_the_url():
    assert redacted_url(f"https://bob:{SECRET}@h.example/api?t={SECRET}") == (
        "https://***@h.example/api?***"
    )
    assert redacted_url("https://h.example/api") == "https://h.example/api"


@pytest.mark.parametrize("path", ["/Qwen/x.json\n", "/Qwen/x\n.json", "/Qwen/x.json\r"])
def test_a_recipe_path_with_a_newline_is_a_clear_refusal(quickstart, recipes_server, path):
    recipe = json.loads((ROOT / "tests/fixtures/recipes-api" / f"{QWEN}.json").read_text())
    recipe["recommended_command"]["alternatives"]["odd"] = path
    recipes_server.json(f"/{QWEN}.json", recipe)
    result = run_cli(
        "recipe", "show", QWEN, "--strategy", "odd", "-C", quickstart,
        "--recipes-url", recipes_server.url,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "is not a plain path under" in result.stderr
    assert "InvalidURL" not in result.stderr
    assert recipes_server.requests == [f"/{QWEN}.json"]
