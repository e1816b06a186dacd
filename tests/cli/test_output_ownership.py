"""runwayc owns what it writes, and only that.

Each reproduction here destroyed a user's files on the old writer: stale pruning deleted
anything already in `--out`. Now an output directory is written only when it is new, empty,
or holds exactly what its `.runwayc-tree` record names; everything else is refused (exit 2)
with the path and the reason, and not a byte moves.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from compiler.io.tree_writer import OWNERSHIP_FILE
from tests.conftest import run_cli
from tests.helpers import md_yaml

PROJECT = """\
apiVersion: runwayc.dev/v1alpha1
kind: Project
defaultEnvironment: dev
environments:
  dev: {}
  prod: {}
"""


def snapshot(directory: Path) -> dict[str, bytes | str]:
    """Every entry under `directory`: file bytes, "dir", or "-> target" for a link."""
    found: dict[str, bytes | str] = {}
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if path.is_symlink():
            found[name] = f"-> {path.readlink()}"
        elif path.is_dir():
            found[name] = "dir"
        else:
            found[name] = path.read_bytes()
    return found


@pytest.fixture
def repo(make_repo) -> Path:
    """A source repository under git, with two models and a lock."""
    root = make_repo(
        {
            "runway.yaml": PROJECT,
            "runway.lock": "version: 1\nproviders: {}\nimages: {}\n",
            "deployments/a.yaml": md_yaml("phi4", "team-a"),
            "deployments/b.yaml": md_yaml("qwen", "team-b"),
        }
    )
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def refused(result, path: Path, reason: str) -> None:
    assert result.exit_code == 2, result.stderr
    assert f"{path}: error[OUTPUT_REFUSED]: " in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_out_dot_is_refused_and_the_sources_survive(repo: Path) -> None:
    """Reproduction: `runwayc compile . --out .` deleted runway.yaml, runway.lock and
    deployments/."""
    before = snapshot(repo)
    result = run_cli("compile", repo, "--out", repo)
    refused(result, repo, "is the source repository")
    after = snapshot(repo)
    assert {k: v for k, v in after.items() if not k.startswith(".runwayc_cache")} == {
        k: v for k, v in before.items() if not k.startswith(".runwayc_cache")
    }


def test_out_containing_the_repository_is_refused(repo: Path) -> None:
    result = run_cli("compile", repo, "--out", repo.parent)
    refused(result, repo.parent, "contains the source repository")
    assert (repo / "runway.yaml").is_file()


def test_out_holding_another_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "deployments").mkdir(parents=True)
    (other / "runway.yaml").write_text(PROJECT)
    result = run_cli("compile", repo, "--out", other)
    refused(result, other, "holds runway.yaml: it is a source repository")
    assert (other / "runway.yaml").read_text() == PROJECT


def test_out_holding_a_git_directory_is_refused(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "checkout"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    result = run_cli("compile", repo, "--out", other)
    refused(result, other, "holds .git")
    assert (other / ".git" / "HEAD").is_file()


@pytest.mark.parametrize("inside", ["deployments/out", ".git/out", "policies"])
def test_out_inside_the_repositorys_inputs_is_refused(repo: Path, inside: str) -> None:
    result = run_cli("compile", repo, "--out", repo / inside)
    refused(result, repo / inside, "which runwayc reads")
    assert not (repo / inside / "kustomization.yaml").exists()


def test_out_that_is_the_parent_of_environment_trees_is_refused(repo: Path) -> None:
    """Reproduction: `--out rendered` deleted rendered/prod."""
    assert run_cli("compile", repo, "--env", "prod").exit_code == 0
    prod = snapshot(repo / "rendered" / "prod")
    result = run_cli("compile", repo, "--env", "dev", "--out", repo / "rendered")
    refused(result, repo / "rendered", "is the parent of environment trees")
    assert snapshot(repo / "rendered" / "prod") == prod


def test_out_holding_another_environments_tree_is_refused(repo: Path) -> None:
    assert run_cli("compile", repo, "--env", "prod").exit_code == 0
    prod = repo / "rendered" / "prod"
    before = snapshot(prod)
    result = run_cli("compile", repo, "--env", "dev", "--out", prod)
    refused(result, prod, 'holds environment "prod"\'s tree')
    assert snapshot(prod) == before


def test_out_inside_an_environments_tree_is_refused(repo: Path) -> None:
    assert run_cli("compile", repo, "--env", "prod").exit_code == 0
    inner = repo / "rendered" / "prod" / "team-a"
    result = run_cli("compile", repo, "--env", "dev", "--out", inner)
    refused(result, inner, "is inside environment prod's tree")


def test_out_holding_files_runwayc_did_not_write_is_refused(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run_cli("compile", repo, "--out", out)
    refused(result, out, f"holds files runwayc did not write ({out / 'notes.txt'})")
    assert snapshot(out) == {"notes.txt": b"mine"}


def test_a_file_added_to_an_owned_tree_is_refused_not_pruned(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    (out / "team-a" / "keep.txt").write_text("mine")
    (repo / "deployments" / "b.yaml").unlink()  # a stale model: its files would go
    result = run_cli("compile", repo, "--out", out)
    refused(result, out / "team-a" / "keep.txt", f"not in {OWNERSHIP_FILE}")
    assert (out / "team-a" / "keep.txt").read_text() == "mine"
    assert (out / "team-b" / "qwen" / "manifest.yaml").is_file()


def test_symlink_inside_out_is_refused_and_never_followed(repo: Path, tmp_path: Path) -> None:
    """Reproduction: a symlink inside --out was written through, then a traceback."""
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    (out / "team-b").rename(elsewhere)
    (out / "team-b").symlink_to(elsewhere, target_is_directory=True)
    outside = snapshot(elsewhere)
    source = repo / "deployments" / "b.yaml"
    source.write_text(source.read_text().replace("count: 1", "count: 2"))
    result = run_cli("compile", repo, "--out", out)
    refused(result, out / "team-b", "is a symbolic link; runwayc never writes through one")
    assert snapshot(elsewhere) == outside


def test_symlinked_out_is_refused(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real", target_is_directory=True)
    result = run_cli("compile", repo, "--out", link)
    refused(result, link, "is a symbolic link")
    assert list((tmp_path / "real").iterdir()) == []


def test_an_owned_tree_is_updated_and_its_record_follows(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    (repo / "deployments" / "b.yaml").unlink()
    assert run_cli("compile", repo, "--out", out).exit_code == 0
    assert not (out / "team-b").exists()
    record = (out / OWNERSHIP_FILE).read_text()
    assert "environment dev\n" in record
    assert "file team-a/phi4/manifest.yaml\n" in record
    assert "team-b" not in record
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == [
        ".out.runwayc-spare"
    ]


def test_a_tree_from_before_the_ownership_record_is_adopted_by_the_cache_record(
    repo: Path,
) -> None:
    """A tree written by an older runwayc has no `.runwayc-tree`; the cache's record of that
    write names its files, and is proof enough. Without it, the tree is refused."""
    assert run_cli("compile", repo).exit_code == 0
    out = repo / "rendered" / "dev"
    (out / OWNERSHIP_FILE).unlink()
    assert run_cli("compile", repo, "--no-cache").exit_code == 2
    assert run_cli("compile", repo).exit_code == 0
    assert (out / OWNERSHIP_FILE).is_file()


def test_an_environment_emptied_is_refused_unless_allow_empty(repo: Path) -> None:
    """An empty tree makes Argo CD or Flux prune every model."""
    assert run_cli("compile", repo).exit_code == 0
    out = repo / "rendered" / "dev"
    before = snapshot(out)
    for source in (repo / "deployments").iterdir():
        source.unlink()
    result = run_cli("compile", repo)
    refused(result, out, "compiles to no ModelDeployment and its tree has 2")
    assert "--allow-empty" in result.stderr
    assert snapshot(out) == before
    assert run_cli("compile", repo, "--allow-empty").exit_code == 0
    assert not (out / "team-a").exists()


def test_an_empty_environment_may_be_written_fresh(repo: Path, tmp_path: Path) -> None:
    for source in (repo / "deployments").iterdir():
        source.unlink()
    assert run_cli("compile", repo, "--out", tmp_path / "out").exit_code == 0
    assert run_cli("compile", repo, "--out", tmp_path / "out").exit_code == 0


# --- names become paths only as DNS labels ---------------------------------------------------


@pytest.mark.parametrize(
    ("project", "where", "path"),
    [
        (PROJECT + "namespace: ../../x\n", "runway.yaml:7:1", "namespace"),
        (
            PROJECT.replace("dev: {}", "dev: {namespace: /abs}"),
            "runway.yaml:5:9",
            "environments.dev.namespace",
        ),
        (PROJECT.replace("prod: {}", "../up: {}"), "runway.yaml:6:3", "environments['../up']"),
    ],
)
def test_a_name_that_is_not_a_dns_label_is_a_diagnostic_not_a_path(
    make_repo, tmp_path: Path, project: str, where: str, path: str
) -> None:
    """Reproduction: `namespace: ../../x` in runway.yaml wrote manifests outside --out."""
    repo = make_repo({"runway.yaml": project, "deployments/a.yaml": md_yaml("m", None)})
    box = tmp_path / "box"
    box.mkdir()
    result = run_cli("compile", repo, "--env", "dev", "--out", box / "out")
    assert result.exit_code == 1, result.stderr
    assert f"{where}: error[INVALID_VALUE]: {path}: " in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box", "repo"]
    assert list(box.iterdir()) == []


@pytest.mark.parametrize("env", ["../x", "/abs", "a/b", "Dev", ".."])
def test_an_env_flag_that_is_not_a_dns_label_is_refused(
    repo: Path, tmp_path: Path, env: str
) -> None:
    for command in ("compile", "check"):
        result = run_cli(command, repo, "--env", env)
        assert result.exit_code == 2, result.stderr
        assert "is not a DNS label" in result.stderr
    assert not (repo / "rendered").exists()


def test_a_symlink_in_an_adopted_tree_is_refused(repo: Path, tmp_path: Path) -> None:
    assert run_cli("compile", repo).exit_code == 0
    out = repo / "rendered" / "dev"
    (out / OWNERSHIP_FILE).unlink()
    manifest = out / "team-a" / "phi4" / "manifest.yaml"
    manifest.unlink()
    (tmp_path / "outside.yaml").write_text("mine")
    manifest.symlink_to(tmp_path / "outside.yaml")
    refused(run_cli("compile", repo), manifest, "is a symbolic link")
    assert (tmp_path / "outside.yaml").read_text() == "mine"
