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
    split = re.fullmatch(r'index \(splitList "(.)" (\S+)\) (\d+)', expression)
    if split:  # sprig's splitList is Go's strings.Split
        return _lookup(params, split[2]).split(split[1])[int(split[3])]
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


def committed_applications(source: Path) -> list[dict[str, Any]]:
    """Every environment compiled and committed on main, then the Applications the
    ApplicationSet's directory generators make from git's own tree of that commit."""
    for env in ENVS:
        assert run_cli("compile", source, "--env", env, "--locked").exit_code == 0
    commit_all(source, "rendered")
    (appset,) = bootstrap(source, "--argocd")

    def tree_of(revision: str) -> list[str]:
        return git(source, "ls-tree", "-d", "-r", "--name-only", revision).splitlines()

    return generated_applications(appset, tree_of)


def test_applicationset_makes_one_application_per_committed_unit(source, tmp_path: Path):
    kubectl = needs_binary("kubectl")
    apps = committed_applications(source)
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
    with pytest.raises(ConfigError, match=f'the sync unit "{namespace}" in prod would be named'):
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


# --- sharded namespaces ------------------------------------------------------------------------


def sharded(per_namespace: dict[str, int], shards: dict[str, int]) -> Repo:
    repo = fleet(per_namespace)
    listed = ", ".join(f"{namespace}: {count}" for namespace, count in shards.items())
    repo.files["runway.yaml"] = PROJECT + f"syncUnits: {{shards: {{{listed}}}}}\n"
    return repo


def shard_members(files: dict[str, bytes]) -> dict[str, list[str]]:
    return {
        name.split("/")[0]: yaml.safe_load(content)["resources"]
        for name, content in files.items()
        if ".shard-" in name and name.endswith("/kustomization.yaml")
    }


def test_a_sharded_namespace_lists_each_model_in_exactly_one_shard():
    """The namespace's own unit keeps its Namespace object alone; every shard is written,
    the empty ones too, so the set of units changes only with the count."""
    result = sharded({"team-a": 12, "team-b": 2}, {"team-a": 4}).compile("dev")
    assert result.ok, result.text
    files = result.files
    assert yaml.safe_load(files["team-a/kustomization.yaml"])["resources"] == ["namespace.yaml"]
    members = shard_members(files)
    assert sorted(members) == [f"team-a.shard-{k}" for k in range(4)]
    listed = sorted(m for ms in members.values() for m in ms)
    assert listed == sorted(f"../team-a/m{i}" for i in range(12))
    # A shard loads each model's directory, which holds a kustomization of its own...
    for i in range(12):
        model = yaml.safe_load(files[f"team-a/m{i}/kustomization.yaml"])
        assert model["resources"] == ["manifest.yaml"]
    # ...and a namespace not split keeps today's unit, with no per-model kustomization.
    assert "team-b/m0/kustomization.yaml" not in files
    assert yaml.safe_load(files["team-b/kustomization.yaml"])["resources"] == [
        "m0/manifest.yaml",
        "m1/manifest.yaml",
        "namespace.yaml",
    ]
    few = sharded({"team-a": 1}, {"team-a": 4}).compile("dev")
    assert sorted(shard_members(few.files)) == [f"team-a.shard-{k}" for k in range(4)]


def test_adding_or_removing_a_model_moves_no_other_between_shards():
    """A move between units is a move between Argo CD Applications, one of which prunes: a
    model's shard depends on its own name only."""

    def unit_of(files: dict[str, bytes]) -> dict[str, str]:
        return {m: unit for unit, ms in shard_members(files).items() for m in ms}

    before = unit_of(sharded({"team-a": 30}, {"team-a": 5}).compile("dev").files)
    grown = unit_of(sharded({"team-a": 60}, {"team-a": 5}).compile("dev").files)
    shrunk = unit_of(sharded({"team-a": 10}, {"team-a": 5}).compile("dev").files)
    assert {m: grown[m] for m in before} == before
    assert {m: before[m] for m in shrunk} == shrunk
    assert len(set(before.values())) == 5  # the hash spreads 30 names over every shard


def test_a_sharded_built_in_namespace_gets_no_namespace_object():
    result = sharded({"default": 3}, {"default": 2}).compile("dev")
    assert result.ok, result.text
    assert "default/namespace.yaml" not in result.files
    assert yaml.safe_load(result.files["default/kustomization.yaml"])["resources"] == []


def test_shards_build_with_kubectl_kustomize_to_every_object_once(tmp_path: Path):
    kubectl = needs_binary("kubectl")
    files = sharded({"team-a": 9, "team-b": 2}, {"team-a": 3}).compile("dev").files
    write_tree(files, tmp_path)
    built: list[Any] = []
    for unit in ["team-a", "team-b", *(f"team-a.shard-{k}" for k in range(3))]:
        objects = kustomize_unit(kubectl, tmp_path / unit)
        namespace = unit.split(".")[0]
        assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objects} == {
            namespace
        }
        if "." in unit:
            assert "Namespace" not in {o["kind"] for o in objects}
        built += objects
    assert sorted(map(object_label, built)) == sorted(map(object_label, tree_objects(files)))


def test_argocd_and_flux_sync_each_shard_into_its_namespace(source, tmp_path: Path):
    """Committed and walked as Argo CD's directory generator walks it: a shard's Application
    targets the namespace (not the directory's name), every Application validates and builds,
    and together they build each object once. Flux's shards wait for their namespace's unit."""
    kubectl = needs_binary("kubectl")
    project = source / "runway.yaml"
    project.write_text(project.read_text() + "syncUnits:\n  shards:\n    team-a: 3\n")
    apps = committed_applications(source)
    expected = {
        f"runwayc-{env}.{unit}"
        for env in ENVS
        for unit in [*UNITS[env], *(f"team-a.shard-{k}" for k in range(3))]
    }
    assert {a["metadata"]["name"] for a in apps} == expected
    for env in ENVS:
        built: list[Any] = []
        for app in (a for a in apps if a["metadata"]["labels"]["runwayc.dev/environment"] == env):
            assert crd_errors(app) == [], app
            unit = app["spec"]["source"]["path"].rsplit("/", 1)[-1]
            namespace = unit.split(".")[0]
            assert app["spec"]["destination"]["namespace"] == namespace
            assert app["metadata"]["labels"]["runwayc.dev/namespace"] == namespace
            built += kustomize_unit(kubectl, source / app["spec"]["source"]["path"])
        rendered = {
            str(p.relative_to(source / "rendered" / env)): p.read_bytes()
            for p in (source / "rendered" / env).rglob("*")
            if p.is_file()
        }
        assert sorted(map(object_label, built)) == sorted(map(object_label, tree_objects(rendered)))
    flux = [o for o in bootstrap(source, "--flux") if o["kind"] == "Kustomization"]
    assert {o["metadata"]["name"] for o in flux} == expected
    for kustomization in flux:
        assert crd_errors(kustomization) == []
        name = kustomization["metadata"]["name"]
        env, unit = name.removeprefix("runwayc-").split(".", 1)
        if ".shard-" in unit:
            home = f"runwayc-{env}.{unit.split('.')[0]}"
            assert kustomization["spec"]["dependsOn"] == [{"name": home}]
        else:
            assert "dependsOn" not in kustomization["spec"]


def test_listed_applications_send_a_shard_to_its_namespace():
    """`--applications` and Flux name each unit; a shard's directory is not a namespace."""
    source = gitops.Source(gitops.public_url(URL))
    units = {"prod": ["team-a", "team-a.shard-0", "team-a.shard-1"]}
    apps = gitops.argocd_applications(source, units)
    assert [a["metadata"]["name"] for a in apps] == [
        "runwayc-prod.team-a",
        "runwayc-prod.team-a.shard-0",
        "runwayc-prod.team-a.shard-1",
    ]
    for app in apps:
        assert crd_errors(app) == []
        assert app["spec"]["destination"]["namespace"] == "team-a"
        assert app["metadata"]["labels"]["runwayc.dev/namespace"] == "team-a"
        assert app["spec"]["syncPolicy"]["retry"]["limit"] == 5
    assert apps[1]["spec"]["source"]["path"] == "rendered/prod/team-a.shard-0"
