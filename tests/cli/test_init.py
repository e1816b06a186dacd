"""`runwayc init`: a models repository that checks, compiles, locks and syncs as created, and a
directory that is not empty is refused with nothing written.

The long test is the issue's "done when": init -> check -> lock against a real registry ->
compile --locked -> bootstrap (Argo CD, Flux and the cluster side), every object validated
against the upstream CRDs in tests/fixtures/crds, runwayc's own CRD, or Kubernetes' schemas.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from compiler.cli import main
from compiler.core.scaffold import UNKNOWN_SOURCE, InstallSource, install_source
from compiler.core.schema import json_schemas
from tests.cluster.conftest import AGENT_IMAGE
from tests.conftest import FIXTURES, ROOT, needs_binary, run_cli
from tests.gitops.conftest import commit_all, git
from tests.helpers import crd_validator, strict_crd_schema
from tests.images.registry import Registry, run_registry

KUBERNETES_VERSION = "1.33.0"
ENVIRONMENTS = ["dev", "prod"]
FILES = [
    ".github/workflows/runwayc-publish.yml",
    ".github/workflows/runwayc-pull-request.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "deployments/llama-cpu.yaml",
    "deployments/qwen.yaml",
    "overlays/dev.yaml",
    "overlays/prod.yaml",
    "runway.yaml",
    *(f"schemas/{name}" for name in sorted(json_schemas())),
]
# The images init's ModelDeployments name, and where the test's registry serves them.
IMAGES = {
    "vllm/vllm-openai:v0.11.0": "vllm/vllm-openai:v0.11.0",
    "ghcr.io/kaito-project/aikit/llama3.2:1b": "kaito-project/aikit/llama3.2:1b",
}
CRDS = {
    ("argoproj.io/v1alpha1", "Application"): "argoproj.io_applications.yaml",
    ("argoproj.io/v1alpha1", "ApplicationSet"): "argoproj.io_applicationsets.yaml",
    ("source.toolkit.fluxcd.io/v1", "GitRepository"): (
        "source.toolkit.fluxcd.io_gitrepositories.yaml"
    ),
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): (
        "kustomize.toolkit.fluxcd.io_kustomizations.yaml"
    ),
    ("kaito.sh/v1beta1", "Workspace"): "kaito.sh_workspaces.yaml",
    ("airunway.ai/v1alpha1", "ModelDeployment"): "airunway.ai_modeldeployments.yaml",
}


def files_of(repo: Path) -> list[str]:
    return sorted(
        p.relative_to(repo).as_posix()
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(repo).parts[:1]
    )


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    binary = needs_binary("docker-registry")
    with run_registry(binary, tmp_path / "registry") as running:
        yield running


@pytest.fixture
def not_from_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a runwayc installed from a wheel or a checkout: no Git source recorded."""
    import compiler.io.scaffold as scaffold

    monkeypatch.setattr(scaffold, "own_install_source", lambda: None)


def init(directory: Path) -> Path:
    result = run_cli("init", directory)
    assert result.exit_code == 0, result.stderr
    return directory


# --- what init writes --------------------------------------------------------------------------


def test_init_writes_a_repository_that_checks_and_compiles_offline(tmp_path, not_from_git):
    result = run_cli("init", tmp_path / "models")
    assert result.exit_code == 0, result.stderr
    repo = tmp_path / "models"
    assert files_of(repo) == FILES
    assert "runwayc lock" in result.stderr  # what to run next: init asks no registry
    assert "set RUNWAYC_REPO and RUNWAYC_COMMIT in .github/workflows/*.yml" in result.stderr

    checked = run_cli("check", repo)
    assert checked.exit_code == 0, checked.stderr
    assert "error[" not in checked.stderr
    for env in ENVIRONMENTS:
        compiled = run_cli("compile", repo, "--env", env)
        assert compiled.exit_code == 0, compiled.stderr
        # Each namespace is a sync unit: its Namespace object, a small kustomization, and
        # one directory per model.
        assert sorted(p.name for p in (repo / "rendered" / env).glob("*/*")) == [
            "kustomization.yaml",
            "llama-cpu",
            "namespace.yaml",
            "qwen",
        ]
    # Until `runwayc lock` has run, the pinned compile CI runs says what is missing.
    locked = run_cli("compile", repo, "--env", "dev", "--locked", "--out", tmp_path / "o")
    assert locked.exit_code == 1
    assert "no provider is recorded in runway.lock for models/qwen" in locked.stderr


def test_every_placeholder_is_filled_and_every_modeline_names_a_written_schema(
    tmp_path, not_from_git
):
    repo = init(tmp_path / "models")
    for name in FILES:
        text = (repo / name).read_text()
        assert not re.search(r"@[A-Z][A-Z_]*@", text), name
        if not name.endswith(".yaml") or name.startswith("."):
            continue
        first = text.splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, name
        # yaml-language-server resolves a relative modeline against the file's directory.
        schema = ((repo / name).parent / match[1]).resolve()
        assert schema.is_file(), (name, match[1])
        validator = jsonschema.Draft202012Validator(json.loads(schema.read_text()))
        for document in yaml.safe_load_all(text):
            assert not list(validator.iter_errors(document)), name
    for name, text in json_schemas().items():
        assert (repo / "schemas" / name).read_text() == text  # the runwayc that wrote them


def test_the_auto_selected_model_is_selected_and_the_other_is_direct_vllm(tmp_path, not_from_git):
    repo = init(tmp_path / "models")
    auto = yaml.safe_load((repo / "deployments/llama-cpu.yaml").read_text())
    assert "provider" not in auto["spec"]
    assert "engine" not in auto["spec"]
    direct = yaml.safe_load((repo / "deployments/qwen.yaml").read_text())
    assert direct["spec"]["provider"]["name"] == "vllm"
    out = tmp_path / "out"
    assert run_cli("compile", repo, "--env", "dev", "--out", out).exit_code == 0
    stamps = {
        o["metadata"]["name"]: o["metadata"]["annotations"]
        for o in yaml.safe_load_all((out / "models-dev/llama-cpu/manifest.yaml").read_text())
        if o["kind"] == "ModelDeployment"
    }
    assert stamps["llama-cpu"]["runwayc.dev/provider"] == "kaito"
    assert stamps["llama-cpu"]["runwayc.dev/engine"] == "llamacpp"


def test_init_defaults_to_the_current_directory(tmp_path, monkeypatch, not_from_git):
    monkeypatch.chdir(tmp_path)
    result = run_cli("init")
    assert result.exit_code == 0, result.stderr
    assert files_of(tmp_path) == FILES
    assert "cd " not in result.stderr


def test_a_directory_holding_only_git_is_a_fresh_clone_and_accepted(tmp_path, not_from_git):
    needs_binary("git")
    repo = tmp_path / "models"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    init(repo)
    assert files_of(repo) == FILES


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (
            lambda d: (d.mkdir(), (d / "notes.txt").write_text("mine\n")),
            "is not empty (it holds notes.txt): runwayc init writes only into an empty "
            "directory (or one holding only .git), so that nothing of yours is overwritten",
        ),
        (
            lambda d: (d.mkdir(), (d / "runway.yaml").write_text("mine\n")),
            "is not empty (it holds runway.yaml)",
        ),
        (
            lambda d: (d.mkdir(), *[(d / f"f{i}").write_text("") for i in range(7)]),
            "is not empty (it holds f0, f1, f2, f3, f4 and 2 more)",
        ),
        (lambda d: d.write_text("mine\n"), "exists and is not a directory"),
        (
            lambda d: ((d.parent / "real").mkdir(), d.symlink_to(d.parent / "real")),
            "is a symbolic link: give the directory it points to",
        ),
    ],
    ids=["a-file", "a-runway-yaml", "many-files", "not-a-directory", "a-symlink"],
)
def test_a_directory_init_may_not_write_into_is_refused_and_left_alone(
    tmp_path, prepare, reason, not_from_git
):
    target = tmp_path / "models"
    prepare(target)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = run_cli("init", target)
    assert result.exit_code == 2
    assert f"{target}: error[INIT_REFUSED]: {reason}" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_directory_inside_a_runwayc_repository_is_refused(tmp_path, not_from_git):
    outer = init(tmp_path / "outer")
    nested = outer / "deployments" / "more"
    result = run_cli("init", nested)
    assert result.exit_code == 2
    assert f"is inside the runwayc repository {outer}" in result.stderr
    assert not nested.exists()
    assert run_cli("check", outer).exit_code == 0


def test_a_file_that_appears_while_init_writes_is_never_overwritten(tmp_path, monkeypatch):
    """The emptiness check and the writes are not one step: a file made in between (another
    init, an editor) is refused by O_EXCL, and what init had written is removed again."""
    import compiler.io.scaffold as scaffold

    target = tmp_path / "models"
    check = scaffold._check_directory

    def racing(directory: Path) -> bool:
        existed = check(directory)
        (directory / "overlays").mkdir()
        (directory / "overlays" / "dev.yaml").write_text("theirs\n")
        return existed

    monkeypatch.setattr(scaffold, "_check_directory", racing)
    target.mkdir()
    result = run_cli("init", target)
    assert result.exit_code == 2
    assert "overlays/dev.yaml: error[INIT_REFUSED]: appeared while runwayc init was writing" in (
        result.stderr
    )
    assert files_of(target) == ["overlays/dev.yaml"]
    assert (target / "overlays" / "dev.yaml").read_text() == "theirs\n"


# --- where the workflows and the hook install runwayc from ------------------------------------


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {
                "url": "https://github.com/acme/runwayc",
                "vcs_info": {"vcs": "git", "commit_id": COMMIT},
            },
            InstallSource("https://github.com/acme/runwayc", COMMIT),
        ),
        (
            {
                "url": "ssh://git@github.com/acme/runwayc.git",
                "vcs_info": {"vcs": "git", "commit_id": COMMIT},
            },
            InstallSource("ssh://git@github.com/acme/runwayc.git", COMMIT),
        ),
        ({"url": "file:///src/runwayc", "dir_info": {"editable": True}}, None),
        ({"url": "file:///src/runwayc", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}, None),
        (
            {
                "url": "https://x:ghp_secret@github.com/a/r",
                "vcs_info": {"vcs": "git", "commit_id": COMMIT},
            },
            None,
        ),
        (
            {
                "url": "https://ghp_secret@github.com/a/r",
                "vcs_info": {"vcs": "git", "commit_id": COMMIT},
            },
            None,
        ),
        ({"url": "https://github.com/a/r", "vcs_info": {"vcs": "git", "commit_id": "main"}}, None),
        ({"url": "https://hg.example.com/r", "vcs_info": {"vcs": "hg", "commit_id": COMMIT}}, None),
        ({"url": "https://example.com/runwayc-0.1.0.whl", "archive_info": {}}, None),
        ([], None),
    ],
    ids=[
        "git-https",
        "git-ssh",
        "editable",
        "local-git",
        "password",
        "token",
        "branch",
        "not-git",
        "wheel",
        "not-a-record",
    ],
)
def test_install_source_is_read_from_pips_direct_url_record(record, expected):
    assert install_source(json.dumps(record)) == expected


def test_install_source_without_or_with_a_damaged_record_is_unknown():
    assert install_source(None) is None
    assert install_source("{not json") is None


def test_a_runwayc_installed_from_git_fills_in_its_own_source(tmp_path, monkeypatch):
    import compiler.io.scaffold as scaffold

    source = InstallSource("https://github.com/acme/runwayc", COMMIT)
    monkeypatch.setattr(scaffold, "own_install_source", lambda: source)
    result = run_cli("init", tmp_path / "models")
    assert result.exit_code == 0, result.stderr
    assert "set RUNWAYC_REPO" not in result.stderr
    repo = tmp_path / "models"
    hooks = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())
    assert hooks["repos"] == [
        {
            "repo": source.repository,
            "rev": COMMIT,
            "hooks": [{"id": "runwayc-check"}, {"id": "runwayc-compile"}],
        }
    ]
    for workflow in (repo / ".github/workflows").glob("*.yml"):
        env = yaml.safe_load(workflow.read_text())["env"]
        assert env == {"RUNWAYC_REPO": source.repository, "RUNWAYC_COMMIT": COMMIT}


def test_the_hooks_are_runwaycs_own(tmp_path, not_from_git):
    repo = init(tmp_path / "models")
    (entry,) = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())["repos"]
    assert (entry["repo"], entry["rev"]) == (UNKNOWN_SOURCE.repository, UNKNOWN_SOURCE.commit)
    ours = {hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert {hook["id"] for hook in entry["hooks"]} <= ours


# --- the workflows init writes -----------------------------------------------------------------


def init_workflows(tmp_path: Path) -> dict[str, Path]:
    repo = init(tmp_path / "models")
    return {p.name: p for p in sorted((repo / ".github/workflows").glob("*.yml"))}


def test_the_workflows_lint_clean_and_cover_every_environment(tmp_path, monkeypatch, not_from_git):
    zizmor = needs_binary("zizmor")
    checker = needs_binary("check-jsonschema")
    workflows = init_workflows(tmp_path)
    monkeypatch.chdir(tmp_path / "models")  # where the workflows run: REPO is found there
    assert sorted(workflows) == ["runwayc-publish.yml", "runwayc-pull-request.yml"]
    for path in workflows.values():
        linted = subprocess.run(
            [zizmor, "--offline", "--no-progress", "--persona", "pedantic", str(path)],
            capture_output=True,
            text=True,
        )
        assert linted.returncode == 0, linted.stdout + linted.stderr
        schema = subprocess.run(
            [checker, "--builtin-schema", "vendor.github-workflows", str(path)],
            capture_output=True,
            text=True,
        )
        assert schema.returncode == 0, schema.stdout + schema.stderr
        workflow = yaml.safe_load(path.read_text())
        for job in workflow["jobs"].values():
            if "strategy" in job:
                assert job["strategy"]["matrix"]["env"] == ENVIRONMENTS
            for step in job["steps"]:
                for line in step.get("run", "").splitlines():
                    line = line.strip()
                    if line.startswith("runwayc "):
                        words = line.split(">", 1)[0].replace('"$ENV"', "dev")
                        words = words.replace('"origin/$BASE_REF"', "origin/main").split()
                        assert words[1] in main.commands, line
                        main.commands[words[1]].make_context(words[1], words[2:])


def test_the_install_step_refuses_the_unfilled_placeholder(tmp_path, not_from_git):
    workflows = init_workflows(tmp_path)
    workflow = yaml.safe_load(workflows["runwayc-publish.yml"].read_text())
    (install,) = [
        s for s in workflow["jobs"]["publish"]["steps"] if s.get("name") == "Install runwayc"
    ]
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", install["run"]],
        env={**os.environ, **workflow["env"]},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "::error::RUNWAYC_COMMIT must be the full 40-character commit" in done.stdout


# --- init -> check -> lock -> compile -> bootstrap, everything validated ------------------------


@cache
def validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    version = api_version.rpartition("/")[2]
    return crd_validator(FIXTURES / "crds" / CRDS[api_version, kind], kind, version)


def validate(obj: dict[str, Any]) -> None:
    """Against the upstream CRD of its kind, or Kubernetes' own schema for a built-in kind."""
    key = (obj["apiVersion"], obj["kind"])
    if key in CRDS:
        errors = sorted(str(e.message) for e in validator(*key).iter_errors(obj))
        assert not errors, (key, obj["metadata"]["name"], errors)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_init_check_lock_compile_bootstrap_end_to_end(tmp_path, registry, not_from_git):
    # 1. init, then point the two images at the local registry: the registries init's specs
    #    name (Docker Hub, ghcr.io) are off this machine. This is the only edit.
    repo = init(tmp_path / "models")
    pushed = {}
    for original, local in IMAGES.items():
        repository, _, tag = local.rpartition(":")
        pushed[f"{registry.host}/{local}"] = registry.push_image(repository, tag)
        for source in (repo / "deployments").glob("*.yaml"):
            text = source.read_text()
            source.write_text(text.replace(f"image: {original}", f"image: {registry.host}/{local}"))
    assert all(
        registry.host in (repo / "deployments" / n).read_text()
        for n in ("qwen.yaml", "llama-cpu.yaml")
    )

    # 2. check: passes, and says only that nothing is pinned yet.
    checked = run_cli("check", repo)
    assert checked.exit_code == 0, checked.stderr
    assert "error[" not in checked.stderr

    # 3. lock: a provider (and engine) for each model, a digest for each image.
    locked = run_cli("lock", repo)
    assert locked.exit_code == 0, locked.stderr
    lock = yaml.safe_load((repo / "runway.lock").read_text())
    assert {ref: pin["digest"] for ref, pin in lock["images"].items()} == pushed
    providers = {key: pin["name"] for key, pin in lock["providers"].items()}
    # Keyed by the source's namespace (runway.yaml's), which every environment shares.
    assert providers == {"models/llama-cpu": "kaito", "models/qwen": "vllm"}
    assert lock["providers"]["models/llama-cpu"]["engine"] == "llamacpp"
    assert run_cli("check", repo, "--locked").exit_code == 0

    # 4. compile --locked, as CI does: no warning, every image by digest, kustomize builds it.
    kubectl = needs_binary("kubectl")
    for env in ENVIRONMENTS:
        compiled = run_cli("compile", repo, "--env", env, "--locked")
        assert compiled.exit_code == 0, compiled.stderr
        assert "warning[" not in compiled.stderr
        tree = repo / "rendered" / env
        built = [
            doc
            for path in sorted(tree.rglob("*.yaml"))
            if path.name != "kustomization.yaml"
            for doc in documents(path.read_text())
        ]
        assert {o["kind"] for o in built} >= {
            "ModelDeployment",
            "Deployment",
            "Service",
            "Workspace",
        }
        images = set()
        for obj in built:
            validate(obj)
            for container in _containers(obj):
                images.add(container["image"])
        # Every kustomization in the tree builds, as Argo CD and Flux will build it.
        for kustomization in tree.rglob("kustomization.yaml"):
            subprocess.run(
                [kubectl, "kustomize", str(kustomization.parent)], capture_output=True, check=True
            )
        assert images == {f"{ref.rpartition(':')[0]}@{digest}" for ref, digest in pushed.items()}

    # 5. the repository in Git, as the README's section has it; then bootstrap each side.
    needs_binary("git")
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    commit_all(repo, "models")
    git(repo, "remote", "add", "origin", "https://github.com/acme/models.git")
    for tool in ("--argocd", "--flux"):
        result = run_cli("bootstrap", repo, tool)
        assert result.exit_code == 0, result.stderr
        synced = documents(result.stdout)
        assert synced
        for obj in synced:
            validate(obj)
        assert "https://github.com/acme/models.git" in result.stdout
    cluster = run_cli("bootstrap", repo, "--cluster", "--agent-image", AGENT_IMAGE)
    assert cluster.exit_code == 0, cluster.stderr
    objects = documents(cluster.stdout)
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    # The compiled ModelDeployments are what the CRD bootstrap installs accepts.
    (crd,) = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    ours = jsonschema.Draft7Validator(
        strict_crd_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    )
    for manifest in (repo / "rendered").rglob("manifest.yaml"):
        for obj in documents(manifest.read_text()):
            if obj["kind"] == "ModelDeployment":
                assert not sorted(e.message for e in ours.iter_errors(obj)), manifest


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj["kind"] == "Deployment":
        return list(obj["spec"]["template"]["spec"]["containers"])
    if obj["kind"] == "Workspace":
        return list(obj["inference"]["template"]["spec"]["containers"])
    return []
