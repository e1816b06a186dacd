"""Environments: one ModelDeployment, compiled differently per overlay, identically per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.core.model import ImageMirror
from compiler.core.overlay import mirrored_image
from tests.conftest import QUICKSTART, needs_binary
from tests.harness import Compiled, Repo
from tests.helpers import dedent, kustomize_build, line_col, md_yaml

PROJECT = dedent(
    """
    apiVersion: runwayc.dev/v1alpha1
    kind: Project
    defaultEnvironment: dev
    namespace: inference
    environments:
      dev: {}
      prod: {}
    """
)
DIGEST = "sha256:" + "ab" * 32
LOCK = dedent(
    f"""
    version: 1
    images:
      vllm/vllm-openai:v0.11.0:
        digest: {DIGEST}
        repository: docker.io/vllm/vllm-openai
        requested: vllm/vllm-openai:v0.11.0
        resolved: docker.io/vllm/vllm-openai@{DIGEST}
        resolvedAt: '2026-11-23T00:00:00Z'
        source: stable
        tag: v0.11.0
    """
)
OVERLAY = dedent(
    """
    apiVersion: runwayc.dev/v1alpha1
    kind: Overlay
    namespace: sandbox
    namespaces:
      team-a: team-a-dev
    labels:
      environment: dev
      team: shared
    annotations:
      example.com/cost-center: ml
    replicas:
      min: 1
      max: 2
    imageMirrors:
      - from: docker.io/vllm
        to: mirror.example.com:5000/hub/vllm
    """
)


def objects(result: Compiled, namespace: str, name: str) -> dict[str, dict]:
    return {o["kind"]: o for o in result.objects(namespace, name)}


def compiled(repo: Repo, env: str) -> Compiled:
    result = repo.compile(env)
    assert result.ok, result.text
    return result


@pytest.fixture
def repo() -> Repo:
    spec = {
        "engine": {"type": "vllm", "image": "vllm/vllm-openai:v0.11.0"},
        "scaling": {"replicas": 5},
    }
    return Repo.of(
        {
            "runway.yaml": PROJECT,
            "runway.lock": LOCK,
            "overlays/dev.yaml": OVERLAY,
            "deployments/a.yaml": md_yaml("m", "team-a", **spec),
            "deployments/b.yaml": md_yaml("n", None, **spec),
            "deployments/c.yaml": md_yaml("o", "team-c", **spec).replace(
                "  name: o\n", "  name: o\n  labels:\n    team: own\n"
            ),
        }
    )


def test_the_same_specs_compile_differently_per_environment(repo):
    dev_tree, prod_tree = compiled(repo, "dev"), compiled(repo, "prod")
    dev = objects(dev_tree, "team-a-dev", "m")
    prod = objects(prod_tree, "team-a", "m")

    # Namespace mapping applies to a named namespace, and to runway.yaml's default one only
    # when the overlay maps it; otherwise the overlay's default namespace applies.
    assert dev["Deployment"]["metadata"]["namespace"] == "team-a-dev"
    assert prod["Deployment"]["metadata"]["namespace"] == "team-a"
    assert "sandbox/n/manifest.yaml" in dev_tree.files
    assert "prod/n/manifest.yaml" in prod_tree.files

    # Replicas clamped into [1, 2] in dev, the spec's own in prod; the compiled MD agrees.
    assert dev["Deployment"]["spec"]["replicas"] == 2
    assert dev["ModelDeployment"]["spec"]["scaling"]["replicas"] == 2
    assert (
        dev["ModelDeployment"]["metadata"]["annotations"]["runwayc.dev/replicas-clamped"]
        == "replicas 5 -> 2 (overlay dev)"
    )
    assert prod["Deployment"]["spec"]["replicas"] == 5

    # The mirror serves the same digest.
    image = dev["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"mirror.example.com:5000/hub/vllm/vllm-openai@{DIGEST}"
    prod_image = prod["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert prod_image == f"docker.io/vllm/vllm-openai@{DIGEST}"

    # Default labels on every object and on the pod template, never on the selector.
    for obj in dev.values():
        assert obj["metadata"]["labels"]["environment"] == "dev"
        assert obj["metadata"]["annotations"]["example.com/cost-center"] == "ml"
    template_labels = dev["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert template_labels["environment"] == "dev"
    assert "environment" not in dev["Deployment"]["spec"]["selector"]["matchLabels"]
    assert "environment" not in dev["Service"]["spec"]["selector"]
    # prod has no overlay in this repo: the built-in overlays/prod.yaml applies.
    assert prod["Deployment"]["metadata"]["labels"]["environment"] == "prod"


def test_an_objects_own_labels_win_over_the_defaults(repo):
    md = objects(compiled(repo, "dev"), "team-c", "o")["ModelDeployment"]
    assert md["metadata"]["labels"] == {"environment": "dev", "team": "own"}


def test_environment_output_is_byte_identical_across_runs(repo):
    first, second = compiled(repo, "dev").files, compiled(Repo(repo.files), "dev").files
    files = sorted(first)
    assert files == sorted(second)
    for relative in files:
        assert first[relative] == second[relative]


def test_two_sources_mapped_onto_one_namespace_collide():
    overlay = OVERLAY.replace("team-a: team-a-dev", "team-a: shared\n  team-b: shared")
    repo = Repo.of(
        {
            "runway.yaml": PROJECT,
            "overlays/dev.yaml": overlay,
            "deployments/a.yaml": md_yaml("m", "team-a"),
            "deployments/b.yaml": md_yaml("m", "team-b"),
        }
    )
    result = repo.compile("dev")
    assert not result.ok
    assert "error[DUPLICATE_DEPLOYMENT]: metadata.name: ModelDeployment shared/m" in result.text


@pytest.mark.parametrize(
    ("change", "needle", "message"),
    [
        (
            ("min: 1\n  max: 2", "min: 3\n  max: 2"),
            "min: 3",
            "error[OVERLAY_INVALID]: replicas.min: replicas.min (3) is greater than "
            "replicas.max (2)",
        ),
        (
            ("from: docker.io/vllm", "from: vllm"),
            "from: vllm",
            'error[OVERLAY_INVALID]: imageMirrors[0].from: image mirror from "vllm": must start '
            "with a registry host",
        ),
        (
            ("to: mirror.example.com:5000/hub/vllm", "to: mirror.example.com/Hub"),
            "to: mirror.example.com/Hub",
            'error[OVERLAY_INVALID]: imageMirrors[0].to: image mirror to "mirror.example.com/Hub": '
            "repository path components are lower-case",
        ),
        (
            ("environment: dev", "environment: not a label value"),
            "environment: not",
            "error[INVALID_VALUE]: labels.environment: String should match pattern",
        ),
    ],
)
def test_a_bad_overlay_is_refused_with_its_position(change, needle, message):
    overlay = OVERLAY.replace(*change)
    repo = Repo.of(
        {
            "runway.yaml": PROJECT,
            "overlays/dev.yaml": overlay,
            "deployments/a.yaml": md_yaml("m", "team-a"),
        }
    )
    result = repo.compile("dev")
    assert not result.ok
    line, column = line_col(overlay, needle)
    assert f"overlays/dev.yaml:{line}:{column}: " in result.text
    assert message in result.text
    assert not result.files  # nothing to write


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("docker.io/vllm/vllm-openai:v1", "m.example.com/vllm/vllm-openai:v1"),
        ("vllm/vllm-openai@" + DIGEST, "m.example.com/vllm/vllm-openai@" + DIGEST),
        ("index.docker.io/vllm/x:v1", "m.example.com/vllm/x:v1"),
        ("docker.io/vllm-extra/x:v1", "docker.io/vllm-extra/x:v1"),  # whole components only
        ("docker.io/vllm/special/x:v1", "special.example.com/x:v1"),  # longest prefix wins
        ("ghcr.io/vllm/x:v1", "ghcr.io/vllm/x:v1"),
    ],
)
def test_mirror_prefixes_match_whole_components_longest_first(image, expected):
    mirrors = [
        ImageMirror.model_validate({"from": "docker.io/vllm", "to": "m.example.com/vllm"}),
        ImageMirror.model_validate({"from": "docker.io/vllm/special", "to": "special.example.com"}),
    ]
    assert mirrored_image(image, mirrors)[0] == expected


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_kubectl_kustomize_builds_every_example_environment(tmp_path: Path, env):
    result = Repo.read(QUICKSTART).compile(env, locked=True)
    assert result.ok, result.text
    built = kustomize_build(needs_binary("kubectl"), result.files, tmp_path)
    kinds = [doc["kind"] for doc in built]
    manifests = [name for name in result.files if name.rpartition("/")[2] == "manifest.yaml"]
    assert kinds.count("ModelDeployment") == len(manifests) == 4
    assert (QUICKSTART / "deployments").is_dir()
