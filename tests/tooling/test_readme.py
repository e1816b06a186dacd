"""The README a newcomer walks: its table of contents leads somewhere, the files its "Your
first repository" section shows are the ones `runwayc init` writes, every runwayc command there
parses, and every Markdown file it names exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from compiler.cli import main
from tests.conftest import ROOT, run_cli

README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"^```[^\n]*\n.*?^```\n", re.MULTILINE | re.DOTALL)
PROSE = FENCE.sub("", README)


def anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


FIRST = section("Your first repository")


def test_the_table_of_contents_lists_every_section_and_every_link_lands():
    headings = re.findall(r"^(#{2,3}) (.+)$", PROSE, re.MULTILINE)
    anchors = {anchor(title) for _, title in headings}
    contents = section("Contents")
    links = re.findall(r"\]\(#([\w-]+)\)", contents)
    assert links
    assert set(links) <= anchors
    for level, title in headings:
        if level == "##" and title != "Contents":
            assert anchor(title) in links, title
    # Every in-page link anywhere in the README lands on a heading.
    assert set(re.findall(r"\]\(#([\w-]+)\)", PROSE)) <= anchors


def test_the_first_repository_comes_right_after_quick_start():
    order = re.findall(r"^## (.+)$", PROSE, re.MULTILINE)
    assert order[:3] == ["Contents", "Quick start", "Your first repository"]


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import compiler.io.scaffold as scaffold

    repo = tmp_path_factory.mktemp("readme") / "models"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scaffold, "own_install_source", lambda: None)  # as from a wheel
        assert run_cli("init", repo).exit_code == 0
    return repo


def test_the_files_shown_are_the_files_init_writes(initialised):
    shown = re.findall(
        r"^`([\w/.-]+)`[^\n]*:\n\n```yaml\n(.*?)^```\n", FIRST, re.MULTILINE | re.DOTALL
    )
    assert [name for name, _ in shown] == [
        "runway.yaml",
        "deployments/qwen.yaml",
        "deployments/llama-cpu.yaml",
        "overlays/dev.yaml",
    ]
    for name, text in shown:
        assert text == (initialised / name).read_text(), name
    # The listing names every file init writes.
    listing = FENCE.findall(FIRST)[2]
    for path in initialised.rglob("*"):
        relative = path.relative_to(initialised).as_posix()
        if path.is_file() and not relative.startswith("schemas/"):
            assert relative in listing, relative


def runwayc_lines() -> list[str]:
    return [
        line.split("#", 1)[0].split(">", 1)[0].split("&&", 1)[0].strip()
        for block in FENCE.findall(FIRST)
        if block.startswith("```sh")
        for line in block.splitlines()
        if line.lstrip().startswith("runwayc ")
    ] + [
        part.strip()
        for block in FENCE.findall(FIRST)
        if block.startswith("```sh")
        for line in block.splitlines()
        for part in line.split("&&")[1:]
        if part.strip().startswith("runwayc ")
    ]


@pytest.mark.parametrize("line", runwayc_lines())
def test_every_runwayc_command_in_the_walkthrough_parses(line, initialised, monkeypatch):
    monkeypatch.chdir(initialised)
    digest = "ghcr.io/acme/runwayc@sha256:" + "a1" * 32
    name, *args = shlex.split(line.replace('"$AGENT_IMAGE"', digest))[1:]
    assert name in main.commands
    if name == "init":
        args = []  # init's DIR would be created: parsing is what is checked
    main.commands[name].make_context(name, args)


def test_every_markdown_file_the_readme_names_exists():
    named = set(re.findall(r"[\w./-]*[\w-]+\.md\b", README))
    assert named
    for name in named:
        found = list(ROOT.glob(f"**/{Path(name).name}"))
        assert [p for p in found if ".venv" not in p.parts], name
