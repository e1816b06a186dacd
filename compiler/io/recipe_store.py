"""The pinned recipe store: `recipes/<org>/<model>.json` and the renderings used, each file's
sha256 in runway.lock. The file-system edge of `runwayc recipe pull` and `apply`.

Files are the exact bytes the API sent (the pin is of what was reviewed, not of a
re-serialisation). Paths mirror the API's (`/Qwen/X/hw/a100.json` -> `recipes/Qwen/X/hw/
a100.json`); they passed `recipes.document_url`, so they are plain relative segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from compiler.core.lockfile import LockFile, RecipePin
from compiler.core.recipes import RECIPES_DIR
from compiler.core.recipes import content_sha256 as sha256
from compiler.io.recipe_client import Fetched
from compiler.io.workspace import write_bytes_atomic


def store_path(api_path: str) -> str:
    return RECIPES_DIR + api_path


def vendor(
    root: Path, model_id: str, fetched: Sequence[Fetched], lock: LockFile, source: str
) -> LockFile:
    """Write the fetched documents under `root/recipes/` and pin them; returns the new lock.

    Renderings pinned earlier for the same recipe revision are kept (an apply for another
    hardware adds to them); a new revision of the recipe drops them, since they were rendered
    from the old one."""
    base, *renderings = fetched
    for document in fetched:
        path = root / store_path(document.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, document.content)
    revision = sha256(base.content)
    previous = lock.recipes.get(model_id)
    files = dict(previous.files) if previous is not None and previous.sha256 == revision else {}
    files.update({store_path(d.path): sha256(d.content) for d in renderings})
    pin = RecipePin(
        path=store_path(base.path),
        sha256=revision,
        source=source,
        revision=revision,
        files=dict(sorted(files.items())),
    )
    return lock.model_copy(update={"recipes": {**lock.recipes, model_id: pin}})
