"""AI Runway's update-time rules (its webhook's `validateImmutableFields`), checked against
what `runwayc lock` recorded: the webhook's Go test cases, through `lock` and `compile` on a
real repository."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import run_cli
from tests.helpers import line_col, md_yaml

MODEL_ID = "model.id is immutable (changing it requires delete and recreate)"
ENGINE = "engine.type is immutable (changing it requires delete and recreate)"
MODE = "serving.mode is immutable (changing it requires delete and recreate)"
SOURCE = "model.source is immutable (changing it requires delete and recreate)"
CHANGED = (
    "managed storage volume is immutable once created (delete the ModelDeployment to change "
    "managed storage configuration)"
)


def removed(name: str) -> str:
    return (
        f'managed storage volume "{name}" cannot be removed (it has an associated PVC; delete '
        "the ModelDeployment to clean up managed storage)"
    )


def volume(**fields: Any) -> dict[str, Any]:
    return {"name": "cache", "purpose": "modelCache", "size": "10Gi", **fields}


def storage(*volumes: dict[str, Any]) -> dict[str, Any]:
    return {"id": "Qwen/Qwen2.5-0.5B-Instruct", "storage": {"volumes": list(volumes)}}


def locked_then(make_repo, before: str, after: str):
    """Lock `before`, then write `after` in its place: (repo, text)."""
    repo = make_repo({"deployments/a.yaml": before})
    result = run_cli("lock", repo, "--skip-images")
    assert result.exit_code == 0, result.stderr
    (repo / "deployments" / "a.yaml").write_text(after)
    return repo


def compile_(repo, tmp_path, *args: str):
    return run_cli("compile", repo, "--out", tmp_path / "out", *args)


def record(repo) -> dict[str, Any]:
    pin: dict[str, Any] = yaml.safe_load((repo / "runway.lock").read_text())["providers"][
        "team-a/m"
    ]
    return pin["immutable"]


def test_lock_records_the_managed_volume_after_defaulting(make_repo):
    repo = make_repo({"deployments/a.yaml": md_yaml(model=storage(volume()))})
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    assert record(repo) == {
        "modelId": "Qwen/Qwen2.5-0.5B-Instruct",
        "modelSource": "huggingface",
        "engineType": "vllm",
        "servingMode": "aggregated",
        "managedVolumes": [
            {
                "name": "cache",
                "claimName": "m-cache",
                "mountPath": "/model-cache",
                "purpose": "modelCache",
                "readOnly": False,
                "accessMode": "ReadWriteMany",
                "size": "10Gi",
            }
        ],
    }


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"size": "20Gi"}, "size: 20Gi"),
        ({"storageClassName": "fast"}, "storageClassName: fast"),
        ({"storageClassName": ""}, "storageClassName: ''"),
        ({"accessMode": "ReadWriteOnce"}, "accessMode: ReadWriteOnce"),
        ({"mountPath": "/cache"}, "mountPath: /cache"),
        ({"purpose": "custom", "mountPath": "/model-cache"}, "purpose: custom"),
    ],
    ids=[
        "size",
        "storage-class-set",
        "storage-class-empty",
        "access-mode",
        "mount-path",
        "purpose",
    ],
)
def test_changing_a_managed_volume_is_refused(make_repo, tmp_path, change, needle):
    after = md_yaml(model=storage(volume(**change)))
    repo = locked_then(make_repo, md_yaml(model=storage(volume())), after)
    result = compile_(repo, tmp_path)
    assert result.exit_code == 1, result.stderr
    line, col = line_col(after, "- name: cache")
    assert (
        f"deployments/a.yaml:{line}:{col + 2}: error[STORAGE_IMMUTABLE]: "
        f'spec.model.storage.volumes[0]: Invalid value: "cache": {CHANGED}'
    ) in result.stderr
    # lock does not launder the change: the record stays as it was.
    assert run_cli("lock", repo, "--skip-images").exit_code == 1
    assert record(repo)["managedVolumes"][0] == {
        "name": "cache", "claimName": "m-cache", "mountPath": "/model-cache",
        "purpose": "modelCache", "readOnly": False, "accessMode": "ReadWriteMany", "size": "10Gi",
    }  # fmt: skip


def test_dropping_size_of_a_managed_volume_is_a_change(make_repo, tmp_path):
    after = md_yaml(model=storage({"name": "cache", "claimName": "m-cache"}))
    repo = locked_then(make_repo, md_yaml(model=storage(volume())), after)
    result = compile_(repo, tmp_path)
    assert result.exit_code == 1
    assert f'spec.model.storage.volumes[0]: Invalid value: "cache": {CHANGED}' in result.stderr


def test_a_size_equal_by_value_is_no_change(make_repo, tmp_path):
    repo = locked_then(
        make_repo,
        md_yaml(model=storage(volume(size="1Gi"))),
        md_yaml(model=storage(volume(size="1024Mi"))),
    )
    result = compile_(repo, tmp_path)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    "after",
    [
        storage({"name": "other", "claimName": "pvc"}),
        {"id": "Qwen/Qwen2.5-0.5B-Instruct"},
    ],
    ids=["volume-removed", "storage-removed"],
)
def test_removing_a_managed_volume_is_forbidden(make_repo, tmp_path, after):
    text = md_yaml(model=after)
    repo = locked_then(make_repo, md_yaml(model=storage(volume())), text)
    result = compile_(repo, tmp_path)
    assert result.exit_code == 1
    assert (
        f"error[STORAGE_IMMUTABLE]: spec.model.storage.volumes: Forbidden: {removed('cache')}"
    ) in result.stderr


def test_unmanaged_volumes_may_change_and_volumes_may_be_added(make_repo, tmp_path):
    pvc = {"name": "data", "claimName": "pvc-a", "mountPath": "/data"}
    before = md_yaml(model=storage(volume(), pvc))
    after = md_yaml(
        model=storage(
            volume(),
            {"name": "data", "mountPath": "/data2", "size": "5Gi"},
            volume(name="extra", purpose="compilationCache"),
        )
    )
    repo = locked_then(make_repo, before, after)
    result = compile_(repo, tmp_path)
    assert result.exit_code == 0, result.stderr
    # The next lock records them: from now on they are managed too.
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    assert [v["name"] for v in record(repo)["managedVolumes"]] == ["cache", "data", "extra"]


@pytest.mark.parametrize(
    ("before", "after", "path", "value", "message"),
    [
        ({}, {"model": {"id": "Qwen/Qwen3-0.6B"}}, "spec.model.id", '"Qwen/Qwen3-0.6B"', MODEL_ID),
        (
            {"provider": {"name": "dynamo"}},
            {"provider": {"name": "dynamo"}, "engine": {"type": "sglang"}},
            "spec.engine.type",
            '"sglang"',
            ENGINE,
        ),
        (
            {"provider": {"name": "dynamo"}},
            {
                "provider": {"name": "dynamo"},
                "serving": {"mode": "disaggregated"},
                "resources": {},
                "scaling": {"prefill": {"gpu": {"count": 1}}, "decode": {"gpu": {"count": 1}}},
            },
            "spec.serving.mode",
            '"disaggregated"',
            MODE,
        ),
        (
            {"image": "ghcr.io/acme/server:1", "provider": {"name": "vllm"}},
            {
                "image": "ghcr.io/acme/server:1",
                "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct", "source": "custom"},
            },
            "spec.model.source",
            '"custom"',
            SOURCE,
        ),
    ],
    ids=["model-id", "engine-type", "serving-mode", "model-source"],
)
def test_identity_fields_are_immutable(make_repo, tmp_path, before, after, path, value, message):
    repo = locked_then(make_repo, md_yaml(**before), md_yaml(**after))
    result = compile_(repo, tmp_path)
    assert result.exit_code == 1
    assert f"{path}: Invalid value: {value}: {message}" in result.stderr
    assert run_cli("check", repo).exit_code == 1


@pytest.mark.parametrize(
    ("before", "after"),
    [({"engine": {}}, {"engine": {"type": "vllm"}}), ({}, {"engine": {}})],
    ids=["set-an-engine", "clear-the-engine"],
)
def test_setting_or_clearing_engine_type_is_allowed(make_repo, tmp_path, before, after):
    repo = locked_then(make_repo, md_yaml(**before), md_yaml(**after))
    result = compile_(repo, tmp_path)
    assert result.exit_code == 0, result.stderr


def test_forget_starts_over(make_repo, tmp_path):
    repo = locked_then(
        make_repo, md_yaml(model=storage(volume())), md_yaml(model=storage(volume(size="20Gi")))
    )
    assert compile_(repo, tmp_path).exit_code == 1
    result = run_cli("lock", repo, "--skip-images", "--forget", "team-a/m")
    assert result.exit_code == 0, result.stderr
    assert record(repo)["managedVolumes"][0]["size"] == "20Gi"
    assert compile_(repo, tmp_path).exit_code == 0


def test_a_lock_from_before_the_record_reads_and_the_next_lock_fills_it(make_repo, tmp_path):
    old = (
        "version: 1\n"
        "providers:\n"
        "  team-a/m:\n"
        "    name: vllm\n"
        "    reason: 'explicit: spec.provider.name'\n"
    )
    repo = make_repo({"deployments/a.yaml": md_yaml(), "runway.lock": old})
    assert compile_(repo, tmp_path).exit_code == 0
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    assert record(repo)["modelId"] == "Qwen/Qwen2.5-0.5B-Instruct"


def test_compile_locked_refuses_a_record_the_spec_has_moved_past(make_repo, tmp_path):
    """An allowed change (a new managed volume) makes the record stale: under --locked the
    lock must say what the next change is checked against."""
    repo = locked_then(make_repo, md_yaml(), md_yaml(model=storage(volume())))
    assert compile_(repo, tmp_path).exit_code == 0  # not --locked: lock will record it
    result = run_cli("compile", repo, "--locked", "--out", tmp_path / "o")
    assert "error[LOCK_STALE]: spec: runway.lock records team-a/m as it was" in result.stderr
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    again = run_cli("compile", repo, "--locked", "--out", tmp_path / "o")
    assert "LOCK_STALE" not in again.stderr


def test_a_dotted_name_is_refused_the_kubernetes_way(make_repo, tmp_path):
    text = md_yaml("my.model")
    result = compile_(make_repo({"deployments/a.yaml": text}), tmp_path)
    assert result.exit_code == 1
    assert (
        'error[INVALID_NAME]: metadata.name: Invalid value: "my.model": name must not contain '
        "dots (dots are invalid in derived Kubernetes volume and service names)\n"
    ) in result.stderr


def test_a_recorded_dotted_name_says_why_it_is_refused_on_update(make_repo, tmp_path):
    old = "version: 1\nproviders:\n  team-a/my.model:\n    name: vllm\n    reason: explicit\n"
    repo = make_repo({"deployments/a.yaml": md_yaml("my.model"), "runway.lock": old})
    result = compile_(repo, tmp_path)
    assert result.exit_code == 1
    assert (
        'metadata.name: Invalid value: "my.model": name must not contain dots (dots are invalid '
        "in derived Kubernetes volume and service names); AI Runway checks this on create only, "
        "but the Service named after this ModelDeployment is refused by Kubernetes"
    ) in result.stderr
