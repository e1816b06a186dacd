"""`recipe apply -o other/repo/x.yaml` works on the repository the file is written into
(its nearest parent with runway.yaml), not the current directory's (issue 23)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import QUICKSTART, run_cli


def test_recipe_apply_takes_its_repository_from_the_output_file(
    tmp_path, monkeypatch, recipes_server
):
    here = tmp_path / "here"
    other = tmp_path / "other"
    for repo in (here, other):
        shutil.copytree(QUICKSTART, repo, ignore=shutil.ignore_patterns("rendered", ".runwayc*"))
    # The current directory's policy does not even load: apply must not read it.
    (here / "policies").mkdir(exist_ok=True)
    (here / "policies" / "broken.yaml").write_text("kind: [\n")
    lock_before = (here / "runway.lock").read_bytes()
    monkeypatch.chdir(here)
    target = Path("..") / "other" / "deployments" / "team-a" / "new" / "qwen.yaml"
    result = run_cli(
        "recipe",
        "apply",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "--name",
        "qwen",
        "--namespace",
        "team-a",
        "-o",
        target,
        "--recipes-url",
        recipes_server.url,
    )
    assert result.exit_code == 0, result.stderr
    assert (other / "deployments" / "team-a" / "new" / "qwen.yaml").is_file()
    assert "Qwen/Qwen2.5-0.5B-Instruct" in (other / "runway.lock").read_text()
    assert (other / "recipes").is_dir()
    assert (here / "runway.lock").read_bytes() == lock_before
    assert not (here / "recipes").exists()
