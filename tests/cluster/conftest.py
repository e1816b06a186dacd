"""The objects `runwayc bootstrap --cluster` prints for the quickstart repository."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import QUICKSTART, run_cli
from tests.render.conftest import YAMLSnapshotExtension

# The agent's image as bootstrap --cluster takes it: by digest (any 64 hex digits will do here).
AGENT_IMAGE = "ghcr.io/acme/runwayc@sha256:" + "a1" * 32


@pytest.fixture(scope="session")
def cluster_text() -> str:
    result = run_cli("bootstrap", "--cluster", "--agent-image", AGENT_IMAGE, QUICKSTART)
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def cluster(cluster_text: str) -> dict[str, dict[str, Any]]:
    """Objects by kind (each kind appears once)."""
    objects = [o for o in yaml.safe_load_all(cluster_text) if o]
    by_kind = {o["kind"]: o for o in objects}
    assert len(by_kind) == len(objects)
    return by_kind


@pytest.fixture
def yaml_snapshot(snapshot: Any) -> Any:
    return snapshot.use_extension(YAMLSnapshotExtension)
