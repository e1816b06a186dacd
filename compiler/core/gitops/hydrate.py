"""The per-application files of a hydrated tree, in the layout Argo CD's Source Hydrator uses.

Each application directory (`<namespace>/<name>/`) holds `manifest.yaml`, a `README.md` that
says where the manifests came from and how to reproduce them, and `hydrator.metadata`: JSON
with the commands that produced the directory and, once published, the source ("dry") commit.
`compile` cannot know the commit its own output will land in, so it writes no `drySha`;
`publish` adds it, and only to applications whose manifests changed in that commit, so each
one names the commit that last changed it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache

METADATA = "hydrator.metadata"
README = "README.md"
MANIFEST = "manifest.yaml"


def compile_command(env: str) -> str:
    return f"runwayc compile --env {env} --locked"


def metadata(env: str, dry_sha: str | None = None) -> bytes:
    document: dict[str, object] = {"commands": [compile_command(env)]}
    if dry_sha is not None:
        document["drySha"] = dry_sha
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def readme(env: str, namespace: str, name: str, source: str) -> bytes:
    text = f"""# {namespace}/{name} ({env})

Hydrated manifests of the ModelDeployment `{namespace}/{name}`, compiled by runwayc from
`{source}` for the `{env}` environment. Do not edit them here: the next compile or publish
overwrites them. Change the source and let CI publish.

To reproduce this directory, check out its source commit (`drySha` in `{METADATA}` once
published; the same commit when this tree sits beside its source) and run:

```shell
{compile_command(env)}
```
"""
    return text.encode("utf-8")


def app_files(
    env: str, namespace: str, name: str, source: str, manifest: bytes
) -> Mapping[str, bytes]:
    """The files of one application directory, relative to it."""
    return {
        MANIFEST: manifest,
        README: readme(env, namespace, name, source),
        METADATA: _compile_metadata(env),
    }


@cache
def _compile_metadata(env: str) -> bytes:
    # The same for every application of a compile; json.dumps with `indent` runs the
    # pure-Python encoder, which made this a tenth of a 10,000-model no-change compile.
    return metadata(env)


def environment_of(content: bytes) -> str | None:
    """The environment a `hydrator.metadata` was written for, read back from its compile
    command (None: not one runwayc wrote)."""
    try:
        document = json.loads(content)
    except ValueError:
        return None
    commands = document.get("commands") if isinstance(document, dict) else None
    if not isinstance(commands, list) or len(commands) != 1 or not isinstance(commands[0], str):
        return None
    words = commands[0].split()
    if len(words) != 5 or words[:3] != ["runwayc", "compile", "--env"]:
        return None
    return words[3] if compile_command(words[3]) == commands[0] else None
