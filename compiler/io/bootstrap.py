"""`bootstrap` at the edge: what git and the repository say, for the objects to print."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compiler.core.diagnostics import Diagnostic, Location, error
from compiler.core.errors import ConfigError, FlagError
from compiler.core.gitops import bootstrap_plan
from compiler.core.gitops.units import unit_directories as units_of
from compiler.io.workspace import (
    POLICIES_DIR,
    PROJECT_FILE,
    Workspace,
    compile_env,
    environments,
    merged_policy,
    policy_sources,
    require_environments,
)


def gitops_manifest(
    repo: Path,
    tool: str,
    *,
    envs: Sequence[str] = (),
    repo_url: str | None = None,
    published: bool = False,
    branch: str | None = None,
    path: str | None = None,
    namespace: str | None = None,
    destination: str,
    secret_ref: str | None = None,
    applications: bool = False,
    report: Callable[[Sequence[Diagnostic]], None],
    notice: Callable[[str], None],
) -> list[dict[str, Any]]:
    """The Argo CD (`tool` "argocd") or Flux objects that sync `repo`'s environments (`envs`,
    else every one). runway.yaml's problems go to `report` and notices to `notice` as they
    are found, before anything that can still fail."""
    from compiler.io.git import Git

    workspace = Workspace(repo)
    names, problems = environments(workspace, None)
    report(problems)
    require_environments(workspace, envs)
    selected = bootstrap_plan.selected_environments(envs, names)
    git = Git(repo)
    url = repo_url or git.remote_url("origin")
    if url is None:
        raise FlagError("no remote origin here to read the URL from: pass --repo-url")
    facts = bootstrap_plan.GitFacts(
        prefix=git.prefix(),  # the default path is repo-relative: REPO may be a subdirectory
        default_branch=None if published else git.default_branch("origin"),
        tracks_rendered=None if published or path is not None else git.tracks("rendered"),
    )
    source, notices = bootstrap_plan.resolve_source(
        url, facts, published=published, branch=branch, path=path
    )
    for text in notices:
        notice(text)
    units = None
    if bootstrap_plan.needs_units(tool, applications):
        units = {env: environment_units(repo, env) for env in selected}
        for text in bootstrap_plan.empty_environments(units):
            notice(text)
    return bootstrap_plan.objects_for(
        tool,
        source,
        selected,
        all_environments=not envs,
        applications=applications,
        namespace=namespace,
        destination=destination,
        secret_ref=secret_ref,
        units=units,
    )


def environment_units(repo: Path, env: str) -> list[str]:
    """The sync units (namespaces) `env` compiles to now, from the working tree, borrowing the
    compile cache without storing anything in it. An environment that does not compile is
    refused: its namespaces are not known."""
    from compiler.core.pipeline import CompileOptions
    from compiler.io.cache_store import CacheStore

    borrowed = CacheStore.for_repo(repo, env, writable=False)
    result = compile_env(Workspace(repo), env, CompileOptions(env=env), store=borrowed)
    errors = [d for d in result.diagnostics if d.is_error]
    if errors:
        message = (
            f"{env} does not compile, so the namespaces to sync are not known; "
            "fix the errors above and run bootstrap again"
        )
        refusal = error("NOT_COMPILED", message, Location(PROJECT_FILE))
        raise ConfigError(message, [*errors, refusal])
    return units_of(result.files)


def cluster_manifest(
    repo: Path,
    *,
    namespace: str | None,
    image: str | None,
    saturation: bool,
    allow_tag: bool = False,
) -> list[dict[str, Any]]:
    """The cluster side (CRD, admission policy, RBAC, the agent) with `repo`'s policies, as
    `compile` applies them; the agent's image by digest (a tag only with `allow_tag`)."""
    from compiler.core.cluster import DEFAULT_NAMESPACE, agent_image, cluster_objects

    pinned = agent_image(image, allow_tag=allow_tag)  # refused before anything is read

    sources = policy_sources(repo / POLICIES_DIR, Workspace(repo).real_root)
    policy = merged_policy(sources)  # the repository's rules, as `compile` applies them
    files = {Path(source.path).name: source.text for source in sources}
    return cluster_objects(
        policy,
        namespace=namespace or DEFAULT_NAMESPACE,
        image=pinned,
        policy_files=files,
        saturation=saturation,
    )
