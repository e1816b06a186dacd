"""What `runwayc init` writes: a models repository that checks, compiles and syncs as created.

The files are templates (`compiler/templates/init`, read by `compiler.io.scaffold`) plus the
JSON Schemas their `yaml-language-server` modelines point at, so an editor validates each file
against the runwayc that wrote it, offline. Pure: template texts in, file texts out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from compiler.core.schema import json_schemas

SCHEMAS_DIR = "schemas"
_PLACEHOLDER = re.compile(r"@([A-Z][A-Z_]*)@")
_COMMIT = re.compile(r"[0-9a-f]{40}")
# chezmoi's spelling for a file whose name starts with a dot: `dot_github` is `.github`. The
# templates keep no hidden names, which packaging tools may leave out of a wheel.
_DOT = "dot_"


@dataclass(frozen=True, slots=True)
class InstallSource:
    """Where the workflows and the pre-commit hook install runwayc from: its Git repository at
    one commit (runwayc is on no package index)."""

    repository: str
    commit: str


# What the user fills in when init cannot tell: a host that never resolves (example.com is
# reserved) and a commit the workflows' install step refuses with a message naming it.
UNKNOWN_SOURCE = InstallSource(
    "https://git.example.com/runwayc.git", "set-this-to-a-full-commit-sha"
)


def install_source(direct_url: str | None) -> InstallSource | None:
    """The Git repository and commit runwayc itself was installed from, read from the
    `direct_url.json` pip records (PEP 610), or None: not installed from Git at a known commit
    (an index, a wheel, a local or editable checkout), or a record that cannot be read."""
    if direct_url is None:
        return None
    try:
        record = json.loads(direct_url)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    vcs = record.get("vcs_info")
    url = record.get("url")
    if not isinstance(vcs, dict) or not isinstance(url, str) or vcs.get("vcs") != "git":
        return None
    commit = vcs.get("commit_id")
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
        return None
    # A local path (file://) is this machine's only, and credentials must never be written
    # into a repository: an https user (a token) or any password. ssh's `git@` is no secret.
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    user = host.rpartition("@")[0]
    if scheme not in ("https", "ssh") or ":" in user or (scheme == "https" and user):
        return None
    return InstallSource(url, commit)


def destination(template: str) -> str:
    """The path a template is written to: each `dot_x` component becomes `.x`."""
    return "/".join(
        f".{part.removeprefix(_DOT)}" if part.startswith(_DOT) else part
        for part in template.split("/")
    )


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace every `@NAME@`; a name with no value is a bug in the templates (KeyError)."""
    return _PLACEHOLDER.sub(lambda found: values[found[1]], text)


def repository_files(
    templates: Mapping[str, str], *, source: InstallSource | None, version: str
) -> dict[str, str]:
    """Repository path -> text of every file `runwayc init` writes."""
    chosen = source or UNKNOWN_SOURCE
    values = {
        "RUNWAYC_REPO": chosen.repository,
        "RUNWAYC_COMMIT": chosen.commit,
        "RUNWAYC_VERSION": version,
    }
    files = {destination(name): fill(text, values) for name, text in templates.items()}
    for name, text in json_schemas().items():
        files[f"{SCHEMAS_DIR}/{name}"] = text
    return dict(sorted(files.items()))
