"""One environment's hydrated tree as a single YAML stream: `compile --out -`.

What `helm template` and `kustomize build` print, for `kubectl apply -f -`, a review, or a
pipe into another tool: every object the tree holds, each document after `---`, kinds in the
tree's rank order (a Namespace before what lives in it), then in path order. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from compiler.core.emit import RANK_ORDER

# Files of a tree that are not objects to apply: kustomize's own, and the non-YAML ones
# (README.md, hydrator.metadata, .gitattributes) are left out by their suffix.
_NOT_OBJECTS = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
_OBJECT_SUFFIXES = (".yaml", ".yml")
_RANK = {kind: index for index, kind in enumerate(RANK_ORDER)}
# runwayc's emitter writes top-level keys at column 0 and everything nested indented, so the
# one `kind:` at column 0 of a document is the object's kind and a `---` line starts one.
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_KIND = re.compile(r"^kind:[ \t]*['\"]?([^'\"\s]+)", re.MULTILINE)


def object_files(files: Mapping[str, bytes]) -> list[str]:
    """The paths of the tree's files that hold objects, in path order."""
    return sorted(
        path
        for path in files
        if path.endswith(_OBJECT_SUFFIXES) and path.rsplit("/", 1)[-1] not in _NOT_OBJECTS
    )


def _documents(text: str) -> list[str]:
    documents = []
    for part in _SEPARATOR.split(text):
        if not part.strip():
            continue
        # The newline that ended the `---` line goes; the document's own (a kept block
        # scalar's trailing lines) stay as written.
        document = part.removeprefix("\n")
        documents.append(document if document.endswith("\n") else document + "\n")
    return documents


def _order(document: str) -> tuple[int, str]:
    found = _KIND.search(document)
    kind = found.group(1) if found else ""
    return (_RANK.get(kind, len(RANK_ORDER)), kind)


def environment_stream(files: Mapping[str, bytes]) -> str:
    """Every object of a hydrated tree (relative path -> bytes) as one multi-document YAML
    stream; empty for a tree without objects."""
    documents = [
        document
        for path in object_files(files)
        for document in _documents(files[path].decode("utf-8"))
    ]
    documents.sort(key=_order)  # stable: path order within a kind
    return "".join(f"---\n{document}" for document in documents)
