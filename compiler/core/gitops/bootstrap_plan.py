"""What `runwayc bootstrap --argocd/--flux` decides from its flags and what git said (pure).

The edge asks git (origin's URL, the repository prefix, origin's HEAD, whether rendered/ is
committed); these turn the answers and the flags into a `Source` and the objects to print.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.core.gitops import bootstrap

CREDENTIALS_LEFT_OUT = (
    "the credentials in the repository URL were left out; give the cluster "
    "its own (an Argo CD repository Secret, or --secret-ref for Flux)"
)
RENDERED_NOT_COMMITTED = (
    "rendered/ is not committed here; if CI runs `runwayc publish`, bootstrap with --published"
)


@dataclass(frozen=True, slots=True)
class GitFacts:
    """What git said about the repository (None where it was not asked)."""

    prefix: str  # the repo-relative path of REPO, with a trailing slash ("" at the top)
    default_branch: str | None = None  # origin's HEAD, as the last fetch recorded it
    tracks_rendered: bool | None = None  # whether the index holds anything under rendered/


def selected_environments(wanted: Sequence[str], known: Sequence[str]) -> list[str]:
    """`--env` (deduplicated, sorted), else every environment."""
    return sorted(set(wanted)) if wanted else list(known)


def resolve_source(
    url: str,
    facts: GitFacts,
    *,
    published: bool,
    branch: str | None,
    path: str | None,
) -> tuple[bootstrap.Source, list[str]]:
    """The source to sync, and the notices to print about it (in order)."""
    notices = []
    public = bootstrap.public_url(url)
    if public.had_credentials:
        notices.append(CREDENTIALS_LEFT_OUT)
    if published:
        default_branch, default_path = bootstrap.PUBLISHED_BRANCH, "."
    else:
        default_branch = facts.default_branch or bootstrap.DEFAULT_BRANCH
        default_path = facts.prefix + bootstrap.RENDERED_PATH
        if path is None and not facts.tracks_rendered:
            notices.append(RENDERED_NOT_COMMITTED)
    source = bootstrap.Source(
        public,
        branch or default_branch,
        (path if path is not None else default_path).strip("/").removeprefix("./") or ".",
    )
    return source, notices


def needs_units(tool: str, applications: bool) -> bool:
    """Whether the objects name each unit, so the environments must be compiled to find their
    namespaces: Flux and `--applications` do; the ApplicationSet's generators find them."""
    return tool == "flux" or applications


def empty_environments(units: Mapping[str, Sequence[str]]) -> list[str]:
    """Notices for environments with no unit: nothing of theirs is synced until bootstrap runs
    again after they have models."""
    return [
        f"{env} compiles to no namespace, so nothing of it is synced; run bootstrap "
        "again once it has models"
        for env, namespaces in sorted(units.items())
        if not namespaces
    ]


def objects_for(
    tool: str,
    source: bootstrap.Source,
    selected: Sequence[str],
    *,
    all_environments: bool,
    applications: bool,
    namespace: str | None,
    destination: str,
    secret_ref: str | None,
    units: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """The Argo CD or Flux objects for `selected`, after checking the source fits them.
    `units` (environment -> its namespaces) is required where `needs_units` says so."""
    bootstrap.check_source(source, selected)
    if needs_units(tool, applications):
        if units is None:
            raise ValueError("the units of each environment are needed for these objects")
        chosen = {env: list(units.get(env, ())) for env in selected}
        if tool == "flux":
            return bootstrap.flux_objects(
                source,
                chosen,
                namespace=namespace or bootstrap.FLUX_NAMESPACE,
                secret_ref=secret_ref,
            )
        return bootstrap.argocd_applications(
            source,
            chosen,
            namespace=namespace or bootstrap.ARGOCD_NAMESPACE,
            destination=destination,
        )
    return [
        bootstrap.argocd_applicationset(
            source,
            selected,
            all_environments=all_environments,
            namespace=namespace or bootstrap.ARGOCD_NAMESPACE,
            destination=destination,
        )
    ]
