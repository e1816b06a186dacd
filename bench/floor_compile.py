"""The floor under any compile of a fleet: read, parse, hash and write, and nothing else.

    python bench/floor_compile.py REPO OUT

Reads runway.yaml, runway.lock and every source under deployments/, parses each with a Rust
YAML parser (yaml-rs, from PyPI), takes the sha256 of every input, and writes a tree of the
shape runwayc writes: per model a directory with manifest.yaml (`json.dumps` of the model's
document three times over, about the bytes of its three rendered objects), README.md and
hydrator.metadata, plus kustomization.yaml. No Python work per node: what is left is the
interpreter's start-up, the file system and the C/Rust libraries. bench/compile_bench.py
prints it beside runwayc.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import yaml_rs


def main() -> None:
    repo, out = sys.argv[1], sys.argv[2]
    digests = hashlib.sha256()
    inputs = [os.path.join(repo, "runway.yaml"), os.path.join(repo, "runway.lock")]
    for root, _dirs, files in os.walk(os.path.join(repo, "deployments")):
        inputs.extend(os.path.join(root, name) for name in files if name.endswith(".yaml"))
    resources = []
    for path in sorted(inputs):
        with open(path, "rb") as handle:
            content = handle.read()
        digests.update(hashlib.sha256(content).digest())
        doc = yaml_rs.loads(content.decode("utf-8"))
        if not path.endswith(".yaml") or "/deployments/" not in path:
            continue
        meta = doc["metadata"]
        directory = os.path.join(out, meta["namespace"], meta["name"])
        os.makedirs(directory, exist_ok=True)
        manifest = json.dumps([doc, doc, doc]).encode("utf-8")
        for name, data in (
            ("manifest.yaml", manifest),
            ("README.md", digests.hexdigest().encode()),
            ("hydrator.metadata", json.dumps(meta).encode()),
        ):
            with open(os.path.join(directory, name), "wb") as handle:
                handle.write(data)
        resources.append(f"{meta['namespace']}/{meta['name']}/manifest.yaml")
    Path(out, "kustomization.yaml").write_text(json.dumps({"resources": sorted(resources)}))


if __name__ == "__main__":
    main()
