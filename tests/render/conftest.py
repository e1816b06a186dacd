"""Snapshot files under the top-level snapshots/ directory, one YAML file per snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from tests.conftest import ROOT


class YAMLSnapshotExtension(SingleFileSnapshotExtension):
    """Reviewers read a snapshot diff like a manifest diff."""

    _write_mode = WriteMode.TEXT
    file_extension = "yaml"

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(Path(ROOT, "snapshots", test_location.basename))


@pytest.fixture
def yaml_snapshot(snapshot: Any) -> Any:
    return snapshot.use_extension(YAMLSnapshotExtension)
