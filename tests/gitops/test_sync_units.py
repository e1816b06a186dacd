"""Sync units: each environment is synced one namespace at a time, never as one build.

Reproductions from issue 26: the rendered tree had no Namespace objects (the first sync failed
on a missing namespace), Argo CD and Flux synced the whole environment through one
kustomization listing every manifest (46 s at 1,000 models, minutes at 2,000), and the
ApplicationSet failed its dry run on kinds whose CRD arrived in the same sync."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from compiler.core.errors import ConfigError
from compiler.core.gitops import bootstrap as gitops
from compiler.core.gitops.units import BUILT_IN_NAMESPACES
from tests.conftest import QUICKSTART, needs_binary, run_cli
from tests.gitops.conftest import commit_all, git
from tests.gitops.test_bootstrap import ENVS, UNITS, URL, bootstrap, crd_errors
from tests.harness import Repo
from tests.helpers import (
    compile_example,
    kustomize_unit,
    md_yaml,
    object_label,
    path_match,
    tree_objects,
    write_tree,
)

KUBERNETES_VERSION = "1.30.0"
PROJECT = """\
apiVersion: runwayc.dev/v1alpha1
kind: Project
environments: {dev: {}}
"""


def fleet(per_namespace: dict[str, int]) -> Repo:
    files = {"runway.yaml": PROJECT}
    for namespace, count in per_namespace.items():
        for i in range(count):
            files[f"deployments/{namespace}/m{i}.yaml"] = md_yaml(f"m{i}", namespace=namespace)
    return Repo(files)


def test_every_namespace_is_a_unit_and_no_kustomization_spans_the_environment():
    """The old tree had one rendered/<env>/kustomization.yaml over every manifest: what made
    a fleet's sync grow much faster than linearly. Each unit lists its own namespace only."""
    result = fleet({"team-a": 3, "team-b": 2, "default": 1}).compile("dev")
    assert result.ok, result.text
    assert "kustomization.yaml" not in result.files
    assert sorted(n for n in result.files if n.endswith("kustomization.yaml")) == [
        "default/kustomization.yaml",
        "team-a/kustomization.yaml",
        "team-b/kustomization.yaml",
    ]
    units = {
        name.split("/")[0]: yaml.safe_load(content)
        for name, content in result.files.items()
        if name.endswith("/kustomization.yaml")
    }
    assert units["team-a"]["resources"] == [
        "m0/manifest.yaml",
        "m1/manifest.yaml",
        "m2/manifest.yaml",
        "namespace.yaml",
    ]
    assert units["team-b"]["resources"] == [
        "m0/manifest.yaml",
        "m1/manifest.yaml",
        "namespace.yaml",
    ]
    # `default` exists in every cluster: runwayc neither creates nor claims it.
    assert units["default"]["resources"] == ["m0/manifest.yaml"]
    assert "default/namespace.yaml" not in result.files


def test_namespace_objects_validate_and_are_never_pruned_or_deleted():
    """A Namespace pruned by Argo CD or Flux takes everything in it, whoever created it: the
    object is marked so neither tool ever deletes it, on prune or on deletion of its unit."""
    files = compile_example(QUICKSTART, "dev").files
    namespaces = [o for o in tree_objects(files) if o["kind"] == "Namespace"]
    assert sorted(o["metadata"]["name"] for o in namespaces) == UNITS["dev"]
    for namespace in namespaces:
        kubernetes_validate.validate(namespace, KUBERNETES_VERSION, strict=True)
        annotations = namespace["metadata"]["annotations"]
        options = {o.strip() for o in annotations["argocd.argoproj.io/sync-options"].split(",")}
        assert options == {"Prune=false", "Delete=false"}
        assert annotations["kustomize.toolkit.fluxcd.io/prune"] == "disabled"


def test_built_in_namespaces_get_no_namespace_object():
    result = fleet(dict.fromkeys(sorted(BUILT_IN_NAMESPACES), 1)).compile("dev")
    assert result.ok, result.text
    assert not [name for name in result.files if name.endswith("namespace.yaml")]


def test_each_unit_builds_with_kubectl_kustomize_and_holds_only_its_namespace(tmp_path: Path):
    kubectl = needs_binary("kubectl")
    files = compile_example(QUICKSTART, "prod").files
    write_tree(files, tmp_path)
    built: list[Any] = []
    for unit in UNITS["prod"]:
        objects = kustomize_unit(kubectl, tmp_path / unit)
        assert objects[0]["kind"] == "Namespace"  # kustomize orders it first
        assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objects} == {unit}
        built += objects
    assert sorted(map(object_label, built)) == sorted(map(object_label, tree_objects(files)))


# --- the ApplicationSet, rendered as its controller would ----------------------------------

_EXPRESSION = re.compile(r"\{\{(.*?)\}\}")


def _lookup(params: dict[str, Any], expression: str) -> Any:
    """The few Go template expressions runwayc's templates use; anything else fails."""
    words = expression.split()
    if len(words) == 3 and words[0] == "index":
        return _lookup(params, words[1])[int(words[2])]
    assert len(words) == 1, expression
    assert words[0].startswith("."), expression
    value: Any = params
    for key in words[0][1:].split("."):
        value = value[key]  # missingkey=error
    return value


def _render(template: Any, params: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        return {k: _render(v, params) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, params) for v in template]
    if isinstance(template, str):
        return _EXPRESSION.sub(lambda m: str(_lookup(params, m.group(1).strip())), template)
    return template


def generated_applications(appset: dict[str, Any], tree_of) -> list[dict[str, Any]]:
    """Applications the git directory generators make: `tree_of(revision)` lists the
    directories at a revision; parameters as Argo CD's git generator sets them."""
    applications = []
    for generator in appset["spec"]["generators"]:
        config = generator["git"]
        directories = tree_of(config["revision"])
        for entry in config["directories"]:
            for directory in sorted(d for d in directories if path_match(entry["path"], d)):
                params = {
                    "path": {
                        "path": directory,
                        "basename": directory.rsplit("/", 1)[-1],
                        "segments": directory.split("/"),
                    },
                    "values": config.get("values", {}),
                }
                applications.append(
                    {
                        "apiVersion": "argoproj.io/v1alpha1",
                        "kind": "Application",
                        "metadata": {
                            **_render(appset["spec"]["template"]["metadata"], params),
                            "namespace": appset["metadata"]["namespace"],
                        },
                        "spec": _render(appset["spec"]["template"]["spec"], params),
                    }
                )
    return applications


def _check_applications(apps, checkout: Path, kubectl: str) -> None:
    """Each Application is a valid one and its path a unit of its environment that builds."""
    for app in apps:
        assert crd_errors(app) == [], app
        env = app["metadata"]["labels"]["runwayc.dev/environment"]
        unit = app["spec"]["destination"]["namespace"]
        assert app["metadata"]["name"] == f"runwayc-{env}.{unit}"
        assert app["metadata"]["labels"]["runwayc.dev/namespace"] == unit
        objects = kustomize_unit(kubectl, checkout / env / app["spec"]["source"]["path"])
        assert {o["kind"] for o in objects} >= {"Namespace", "ModelDeployment"}


def test_applicationset_makes_one_application_per_committed_unit(source, tmp_path: Path):
    kubectl = needs_binary("kubectl")
    for env in ENVS:
        assert run_cli("compile", source, "--env", env, "--locked").exit_code == 0
    commit_all(source, "rendered")
    (appset,) = bootstrap(source, "--argocd")

    def tree_of(revision: str) -> list[str]:
        return git(source, "ls-tree", "-d", "-r", "--name-only", revision).splitlines()

    apps = generated_applications(appset, tree_of)
    assert sorted(a["metadata"]["name"] for a in apps) == sorted(
        f"runwayc-{env}.{unit}" for env in ENVS for unit in UNITS[env]
    )
    for env in ENVS:  # the checkout, per environment so _check_applications finds it
        (tmp_path / env).symlink_to(source)
    for app in apps:
        assert app["spec"]["source"]["targetRevision"] == "main"
    _check_applications(apps, tmp_path, kubectl)


def test_published_units_are_what_publish_pushes(source, remote, tmp_path: Path):
    """publish writes the same units at the root of environments/<env>: each generator reads
    its own branch, and --applications and --flux name exactly its units."""
    kubectl = needs_binary("kubectl")
    git(source, "remote", "set-url", "origin", str(remote))
    for env in ENVS:
        result = run_cli("publish", source, "--env", env)
        assert result.exit_code == 0, result.stderr
    for env in ENVS:
        git(tmp_path, "clone", "-q", "-b", f"environments/{env}", str(remote), str(tmp_path / env))
        assert not (tmp_path / env / "kustomization.yaml").exists()

    def tree_of(revision: str) -> list[str]:
        return git(remote, "ls-tree", "-d", "-r", "--name-only", revision).splitlines()

    (appset,) = bootstrap(source, "--argocd", "--published", "--repo-url", URL)
    apps = generated_applications(appset, tree_of)
    _check_applications(apps, tmp_path, kubectl)
    listed = bootstrap(source, "--argocd", "--applications", "--published", "--repo-url", URL)
    assert sorted(a["metadata"]["name"] for a in listed) == sorted(
        a["metadata"]["name"] for a in apps
    )
    flux = bootstrap(source, "--flux", "--published", "--repo-url", URL)
    for kustomization in (o for o in flux if o["kind"] == "Kustomization"):
        env = kustomization["metadata"]["labels"]["runwayc.dev/environment"]
        assert kustomization["spec"]["sourceRef"]["name"] == f"runwayc-{env}"
        kustomize_unit(kubectl, tmp_path / env / kustomization["spec"]["path"])


@pytest.fixture
def source(clone) -> Path:
    path = clone("source")
    git(path, "remote", "set-url", "origin", URL)
    return path


# --- what bootstrap refuses ------------------------------------------------------------------


def test_unit_names_never_collide():
    """With a dash between them, environment `a-b` + namespace `c` and `a` + `b-c` were one."""
    assert gitops.unit_name("a-b", "c") != gitops.unit_name("a", "b-c")


def test_a_unit_name_too_long_for_a_label_is_refused():
    namespace = "n" * 60
    with pytest.raises(ConfigError, match=f'namespace "{namespace}" in prod would be named'):
        gitops.check_units({"prod": [namespace]})


def test_flux_bootstrap_refuses_an_environment_that_does_not_compile(source):
    (source / "deployments" / "broken.yaml").write_text(
        md_yaml("broken", resources={"gpu": {"count": 0}})
    )
    result = run_cli("bootstrap", source, "--flux", "--env", "dev")
    assert result.exit_code == 1
    assert "error[NOT_COMPILED]" in result.stderr
    assert "dev does not compile, so the namespaces to sync are not known" in result.stderr
    assert result.stdout == ""


def test_flux_says_an_environment_without_models_is_not_synced(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "deployments").mkdir(parents=True)
    (repo / "runway.yaml").write_text(PROJECT)
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    result = run_cli("bootstrap", repo, "--flux", "--repo-url", URL)
    assert result.exit_code == 0, result.stderr
    assert "dev compiles to no namespace, so nothing of it is synced" in result.stderr
    assert [o["kind"] for o in yaml.safe_load_all(result.stdout) if o] == ["GitRepository"]
