"""Property: whatever string a name source holds, nothing is written outside the output
directory, every path written is plain, and no traceback reaches the user.

The name sources are every place a namespace, a name or an environment comes from on its way
to a path: the spec's metadata, runway.yaml (its namespace, its environments and theirs, its
default environment), the overlay (its namespace and its namespace mapping) and `--env`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cli import main
from compiler.io.tree_writer import check_relative
from tests.helpers import md_yaml

HOSTILE = st.one_of(
    st.sampled_from(
        ["../../x", "/abs", "..", ".", "a/b", "x\x00y", "team-a/../../../x", "~", "a\\b", ""]
    ),
    st.text(alphabet=st.sampled_from("ab-./\\\x00~ \n:Z9"), max_size=12),
    st.text(max_size=20),
)
SOURCES = [
    "metadata.name",
    "metadata.namespace",
    "project.namespace",
    "project.environment",
    "project.environment.namespace",
    "project.defaultEnvironment",
    "overlay.namespace",
    "overlay.namespaces.from",
    "overlay.namespaces.to",
    "--env",
]


def repository(source: str, value: str) -> tuple[dict[str, str], list[str]]:
    """The repository's files with `value` at `source`, and the extra compile arguments."""
    env = "dev"
    project: dict[str, Any] = {
        "apiVersion": "runwayc.dev/v1alpha1",
        "kind": "Project",
        "environments": {"dev": {}},
    }
    overlay: dict[str, Any] = {"apiVersion": "runwayc.dev/v1alpha1", "kind": "Overlay"}
    name, namespace = "m", "team-a"
    arguments: list[str] = []
    if source == "metadata.name":
        name = value
    elif source == "metadata.namespace":
        namespace = value
    elif source == "project.namespace":
        project["namespace"] = value
        namespace = None  # type: ignore[assignment]
    elif source == "project.environment":
        project["environments"] = {value: {}}
        env = value
    elif source == "project.environment.namespace":
        project["environments"]["dev"]["namespace"] = value
        namespace = None  # type: ignore[assignment]
    elif source == "project.defaultEnvironment":
        project["defaultEnvironment"] = value
        project["environments"] = {value: {}}
        env = ""
    elif source == "overlay.namespace":
        overlay["namespace"] = value
        namespace = None  # type: ignore[assignment]
    elif source == "overlay.namespaces.from":
        overlay["namespaces"] = {value: "team-b"}
        namespace = value
    elif source == "overlay.namespaces.to":
        overlay["namespaces"] = {"team-a": value}
    elif source == "--env":
        env = value
    files = {
        "runway.yaml": yaml.safe_dump(project),
        "overlays/dev.yaml": yaml.safe_dump(overlay),
        "deployments/a.yaml": md_yaml(name, namespace),
    }
    if env:
        arguments = ["--env", env]
    return files, arguments


def everything(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(SOURCES), value=HOSTILE)
def test_no_name_source_writes_outside_the_output_directory(source: str, value: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        box = Path(scratch) / "a" / "b" / "box"  # room for `..` to climb into and be seen
        repo, out = box / "repo", box / "out"
        files, arguments = repository(source, value)
        for relative, text in files.items():
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            (repo / relative).write_text(text, encoding="utf-8")
        before = everything(Path(scratch))
        result = CliRunner().invoke(
            main,
            ["compile", str(repo), "--no-cache", "--out", str(out), *arguments],
            catch_exceptions=True,
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        assert result.exit_code in (0, 1, 2), result.output
        assert "Traceback" not in result.stderr
        created = everything(Path(scratch)) - before
        outside = sorted(p for p in created if not p.startswith("a/b/box/out"))
        assert outside == [] or outside == ["a/b/box/out"], outside
        for path in created:
            if path.startswith("a/b/box/out/"):
                assert check_relative(path.removeprefix("a/b/box/out/")) is None
        if result.exit_code == 0:
            assert list(out.glob("*/kustomization.yaml"))  # a sync unit per namespace
