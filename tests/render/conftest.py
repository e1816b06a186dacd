"""Snapshot files under the top-level snapshots/ directory, one YAML file per snapshot."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SnapshotFileExtension


class YAMLSnapshotExtension(SnapshotFileExtension):
    """Reviewers read a snapshot diff like a manifest diff."""

    file_extension = "yaml"


@pytest.fixture
def yaml_snapshot(snapshot: Any) -> Any:
    return snapshot.use_extension(YAMLSnapshotExtension)
