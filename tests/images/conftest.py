from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import needs_binary
from tests.images.registry import Registry, run_registry


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    binary = needs_binary("docker-registry")
    with run_registry(binary, tmp_path / "registry") as running:
        yield running
