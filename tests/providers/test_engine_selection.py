"""Engine auto-selection as AI Runway's selectEngine does it, recorded once in runway.lock.

No `spec.engine.type`: the highest-preference engine (policies/providers.yaml
`enginePreference`) that a provider offers for the spec's GPU/CPU need and serving mode.
The choice is kept once recorded (AI Runway never recomputes status.engine) until
`lock --forget`; a lock written before engines were recorded still reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.core.model import ModelDeployment, ProviderCatalog
from compiler.core.pipeline import SourceFile
from compiler.core.providers.selection import select_engine
from compiler.io import workspace
from tests.conftest import ROOT, run_cli

CATALOG_TEXT = (ROOT / "policies" / "providers.yaml").read_text()
CATALOG = ProviderCatalog.model_validate(yaml.safe_load(CATALOG_TEXT), by_alias=True)
DIGEST = "sha256:" + "a" * 64
LLAMA_IMAGE = f"ghcr.io/kaito-project/aikit/llama3.2@{DIGEST}"
NO_KAITO_ADVERTISED = "map[dynamo:[vllm sglang trtllm] kuberay:[vllm] llmd:[vllm] vllm:[vllm]]"


def md(**spec: Any) -> ModelDeployment:
    doc = {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "m"},
        "spec": {"model": {"source": "custom"}, **spec},
    }
    return ModelDeployment.model_validate(doc, by_alias=True)


def md_text(**spec: Any) -> str:
    doc = {
        "apiVersion": "airunway.ai/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "m", "namespace": "team-a"},
        "spec": {"model": {"source": "custom"}, "image": LLAMA_IMAGE, **spec},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def without_kaito() -> ProviderCatalog:
    return CATALOG.model_copy(
        update={"providers": [p for p in CATALOG.providers if p.name != "kaito"]}
    )


KAITO_LLAMACPP = ("llamacpp", "auto-selected from provider kaito capabilities")
DYNAMO_VLLM = ("vllm", "auto-selected from provider dynamo capabilities")
EXPLICIT = "explicit engine selection"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"resources": {"cpu": "4"}}, KAITO_LLAMACPP),
        ({}, KAITO_LLAMACPP),
        ({"resources": {"gpu": {"count": 0}}}, KAITO_LLAMACPP),
        ({"resources": {"gpu": {"count": 1}}}, DYNAMO_VLLM),
        ({"serving": {"mode": "disaggregated"}}, DYNAMO_VLLM),
        ({"engine": {"type": "sglang"}}, ("sglang", EXPLICIT)),
        ({"engine": {"type": "vllm"}, "resources": {"cpu": "4"}}, ("vllm", EXPLICIT)),
    ],
    ids=["cpu", "no-resources", "gpu-0", "gpu-1", "disaggregated-no-gpu", "explicit",
         "explicit-cpu"],
)  # fmt: skip
def test_ai_runway_engine_choice(spec, expected):
    choice = select_engine(CATALOG, md(**spec))
    assert (choice.engine, choice.reason, choice.failure) == (*expected, None)


def test_the_preference_order_is_the_catalogs():
    reordered = CATALOG.model_copy(
        update={"engine_preference": ["llamacpp", "trtllm", "sglang", "vllm"]}
    )
    choice = select_engine(reordered, md(resources={"gpu": {"count": 1}}))
    assert (choice.engine, choice.reason) == (
        "llamacpp",
        "auto-selected from provider kaito capabilities",
    )


def test_no_engine_for_the_spec_is_ai_runways_message():
    choice = select_engine(without_kaito(), md(resources={"cpu": "4"}))
    assert choice.engine is None
    assert choice.failure == (
        "no engines available from registered providers (hasGPU=false, "
        f"servingMode=aggregated, advertised={NO_KAITO_ADVERTISED})"
    )


# --- end to end: the lock, the stamp, stickiness ----------------------------------------------


def use_catalog(monkeypatch: pytest.MonkeyPatch, catalog: ProviderCatalog) -> None:
    """runwayc's built-in catalog replaced (it is no user file, so a test patches it)."""
    text = yaml.safe_dump(catalog.model_dump(mode="json", by_alias=True, exclude_none=True))
    path = workspace.builtin_catalog().path
    monkeypatch.setattr(workspace, "builtin_catalog", lambda: SourceFile(path, text))


def stamped(out: Path) -> dict[str, str]:
    objects = yaml.safe_load_all((out / "team-a" / "m" / "manifest.yaml").read_text())
    (model,) = [o for o in objects if o["kind"] == "ModelDeployment"]
    facts = model["metadata"]["annotations"]
    return {k.removeprefix("runwayc.dev/"): v for k, v in facts.items() if "engine" in k}


def pin(repo: Path) -> dict[str, str]:
    """The model's provider pin, without its update-time record (tests/cli/test_update_rules.py
    covers that)."""
    pins: dict[str, dict[str, str]] = yaml.safe_load((repo / "runway.lock").read_text())[
        "providers"
    ]
    found = dict(pins["team-a/m"])
    found.pop("immutable", None)
    return found


def test_a_cpu_spec_without_an_engine_is_ai_runways_e2e_result(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_text(resources={"cpu": "4"})})
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    assert pin(repo) == {
        "name": "kaito",
        "reason": "matched capabilities: engine=llamacpp, gpu=0, mode=aggregated; priority 100",
        "engine": "llamacpp",
        "engineReason": "auto-selected from provider kaito capabilities",
    }
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert stamped(tmp_path / "out") == {
        "engine": "llamacpp",
        "engine-reason": "auto-selected from provider kaito capabilities",
    }


def test_a_recorded_engine_is_kept_when_a_gpu_is_added(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_text(resources={"cpu": "4"})})
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    (repo / "deployments" / "a.yaml").write_text(md_text(resources={"gpu": {"count": 1}}))
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    # A new model with this spec would get vllm on dynamo; this one keeps what it has.
    assert stamped(tmp_path / "out")["engine"] == "llamacpp"
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    assert pin(repo)["engine"] == "llamacpp"
    assert run_cli("lock", repo, "--skip-images", "--forget", "team-a/m").exit_code == 0
    assert (pin(repo)["name"], pin(repo)["engine"]) == ("dynamo", "vllm")


def test_a_recorded_engine_is_kept_when_the_catalog_changes(make_repo, tmp_path, monkeypatch):
    repo = make_repo({"deployments/a.yaml": md_text(resources={"gpu": {"count": 1}})})
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    assert pin(repo)["engine"] == "vllm"
    use_catalog(
        monkeypatch,
        CATALOG.model_copy(update={"engine_preference": ["llamacpp", "vllm", "sglang", "trtllm"]}),
    )
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert stamped(tmp_path / "out")["engine"] == "vllm"
    assert run_cli("lock", repo, "--skip-images", "--forget", "team-a/m").exit_code == 0
    assert pin(repo)["engine"] == "llamacpp"


def test_an_explicit_engine_wins_over_a_recorded_one(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_text(resources={"cpu": "4"})})
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    explicit = md_text(resources={"cpu": "4"}, engine={"type": "llamacpp"})
    (repo / "deployments" / "a.yaml").write_text(explicit)
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    assert pin(repo)["engineReason"] == "explicit engine selection"


def test_a_lock_without_engines_still_reads_and_lock_adds_them(make_repo, tmp_path):
    repository = LLAMA_IMAGE.split("@")[0]
    old_lock = (
        "version: 1\n"
        "images:\n"
        f"  {LLAMA_IMAGE}:\n"
        f"    requested: {LLAMA_IMAGE}\n"
        f"    repository: {repository}\n"
        f"    digest: {DIGEST}\n"
        f"    resolved: {LLAMA_IMAGE}\n"
        "providers:\n"
        "  team-a/m:\n"
        "    name: kaito\n"
        "    reason: 'matched capabilities: engine=llamacpp, gpu=0, mode=aggregated; "
        "priority 100'\n"
    )
    repo = make_repo(
        {"deployments/a.yaml": md_text(resources={"cpu": "4"}), "runway.lock": old_lock}
    )
    result = run_cli("compile", repo, "--locked", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert stamped(tmp_path / "out")["engine"] == "llamacpp"
    assert run_cli("lock", repo, "--skip-images").exit_code == 0
    assert pin(repo)["engine"] == "llamacpp"
    assert pin(repo)["reason"].endswith("priority 100")


def test_no_engine_available_is_refused_with_ai_runways_words(make_repo, tmp_path, monkeypatch):
    use_catalog(monkeypatch, without_kaito())
    repo = make_repo({"deployments/a.yaml": md_text(resources={"cpu": "4"})})
    result = run_cli("compile", repo, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert (
        "deployments/a.yaml:6:1: error[NO_ENGINE]: spec: no engines available from registered "
        "providers (hasGPU=false, servingMode=aggregated, "
        f"advertised={NO_KAITO_ADVERTISED})"
    ) in result.stderr
