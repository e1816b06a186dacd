"""The `runwayc` command line: thin click commands over the pure pipeline.

Each command checks its flags, reads the workspace, calls one core function and prints. A
RunwayError becomes its diagnostics and exit 1; bad usage is exit 2; nothing else is expected,
and a bug still surfaces as a traceback rather than being hidden.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from compiler.cli.tables import images_table
from compiler.core import recipes
from compiler.core.diagnostics import (
    Diagnostic,
    Location,
    error,
    format_json,
    format_sarif,
    format_text,
    has_errors,
    sort_diagnostics,
)
from compiler.core.emit import dump_document, dump_objects
from compiler.core.errors import RunwayError
from compiler.core.gitops import bootstrap as bootstrap_objects
from compiler.core.lockfile import LockFile, serialize_lock
from compiler.core.pins import image_needs, plan_image_lock, references_to_resolve
from compiler.core.pipeline import (
    CompileOptions,
    CompileResult,
    Settings,
    plan_provider_lock,
    read_project,
    resolve_settings,
)
from compiler.core.schema import json_schemas
from compiler.io.tree_writer import write_tree
from compiler.io.workspace import (
    LOCK_FILE,
    Workspace,
    cache_directory,
    compile_env,
    load_policy,
    merged_policy,
    policy_sources,
    repository_lock,
    tree_record_file,
    write_text_atomic,
)

if TYPE_CHECKING:  # the client imports httpx: only `recipe` commands pay for it, at run time
    from compiler.io.recipe_client import Fetched, RecipeClient

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE = 0, 1, 2
FORMATS = click.Choice(["text", "json", "sarif"])


def tool_version() -> str:
    try:
        return version("runwayc")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def report(diagnostics: Sequence[Diagnostic], output_format: str) -> None:
    """Print diagnostics: text to stderr (humans), json/sarif to stdout (machines)."""
    ordered = sort_diagnostics(diagnostics)
    if output_format == "json":
        click.echo(format_json(ordered), nl=False)
    elif output_format == "sarif":
        click.echo(format_sarif(ordered, tool_version()), nl=False)
    elif ordered:
        click.echo(format_text(ordered), nl=False, err=True)


def runway_errors(func: F) -> F:
    """The one place a RunwayError turns into printed diagnostics and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RunwayError as exc:
            output_format = kwargs.get("output_format", "text")
            found = list(exc.diagnostics) or [
                error("RUNWAY_ERROR", exc.message, Location(str(kwargs.get("repo", "."))))
            ]
            report(found, output_format)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def environments(workspace: Workspace, env: str | None) -> tuple[list[str], list[Diagnostic]]:
    """The environments a command covers: `--env`, else every one runway.yaml lists."""
    project, diagnostics = read_project(workspace.project())
    if env is not None:
        return [env], diagnostics
    if project is None:
        return ["dev"], diagnostics
    return sorted(project.environments), diagnostics


def default_environment(workspace: Workspace) -> str:
    project, _ = read_project(workspace.project())
    if project is not None and project.default_environment:
        return project.default_environment
    return "dev"


repo_argument = click.argument(
    "repo", type=click.Path(file_okay=False, path_type=Path), default=Path(".")
)
format_option = click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="text",
    show_default=True,
    help="Diagnostics as text (stderr), JSON or SARIF 2.1.0 (stdout).",
)


no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Compile every file afresh and leave the cache alone (default: reuse the outcome of "
    "files whose content hashes are unchanged; cache in .runwayc_cache/ or $RUNWAYC_CACHE_DIR).",
)
jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes for compiling many files (0: one per CPU; small repos run inline).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(tool_version(), prog_name="runwayc")
def main() -> None:
    """runwayc: compile AI Runway ModelDeployments into pinned, policy-checked manifests."""


@main.command("compile")
@repo_argument
@click.option("--env", "env", help="Environment to compile (default: runway.yaml's default).")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (default: <repo>/rendered/<env>).",
)
@click.option("--locked", is_flag=True, help="Fail on anything not pinned in runway.lock.")
@no_cache_option
@jobs_option
@format_option
@runway_errors
def compile_command(
    repo: Path,
    env: str | None,
    out: Path | None,
    locked: bool,
    no_cache: bool,
    jobs: int,
    output_format: str,
) -> None:
    """Render REPO's ModelDeployments for one environment."""
    workspace = Workspace(repo)
    env = env or default_environment(workspace)
    options = CompileOptions(env=env, locked=locked)
    result = compile_env(workspace, env, options, use_cache=not no_cache, jobs=jobs)
    report(result.diagnostics, output_format)
    if not result.ok:
        click.echo(f"runwayc: {env}: {_counts(result)}; nothing written", err=True)
        sys.exit(EXIT_DIAGNOSTICS)
    target = out or repo / "rendered" / env
    record = None if no_cache else tree_record_file(cache_directory(repo), env)
    changed = write_tree(target, result.files, record)
    state = "written to" if changed else "unchanged in"
    reused = f"; {result.reused} file(s) from cache" if result.reused else ""
    click.echo(
        f"runwayc: {env}: {len(result.deployments)} ModelDeployment(s) {state} {target}"
        f" ({_counts(result)}{reused})",
        err=True,
    )


@main.command("check")
@repo_argument
@click.option("--env", "env", help="Check one environment (default: every one in runway.yaml).")
@click.option("--locked", is_flag=True, help="Also fail on anything not pinned in runway.lock.")
@no_cache_option
@jobs_option
@format_option
@runway_errors
def check_command(
    repo: Path, env: str | None, locked: bool, no_cache: bool, jobs: int, output_format: str
) -> None:
    """Validate REPO without writing anything (but the cache)."""
    workspace = Workspace(repo)
    names, diagnostics = environments(workspace, env)
    for name in names:
        options = CompileOptions(env=name, locked=locked)
        result = compile_env(workspace, name, options, use_cache=not no_cache, jobs=jobs)
        diagnostics.extend(result.diagnostics)
    report(diagnostics, output_format)
    if has_errors(diagnostics):
        sys.exit(EXIT_DIAGNOSTICS)


@main.command("lock")
@repo_argument
@click.option(
    "--forget",
    "forget",
    multiple=True,
    metavar="NAMESPACE/NAME",
    help="Drop the recorded provider of a ModelDeployment (delete and recreate).",
)
@click.option(
    "--update",
    "update",
    multiple=True,
    metavar="IMAGE",
    help="Re-resolve this image reference even though it is pinned (the only way to move a pin).",
)
@click.option(
    "--skip-images", is_flag=True, help="Record providers only; leave image pins as they are."
)
@click.option("--env", "env", help="Environment whose policy applies (default: runway.yaml's).")
@format_option
@runway_errors
def lock_command(
    repo: Path,
    forget: tuple[str, ...],
    update: tuple[str, ...],
    skip_images: bool,
    env: str | None,
    output_format: str,
) -> None:
    """Record each ModelDeployment's provider and image digests in runway.lock."""
    for key in forget:
        if key.count("/") != 1 or not all(key.split("/")):
            raise click.BadParameter(f"{key!r} is not NAMESPACE/NAME", param_hint="--forget")
    workspace = Workspace(repo)
    env = env or default_environment(workspace)
    dropped = frozenset(forget)
    # One `lock` at a time per repository: a second one waits, then reads what the first
    # wrote, so neither loses the other's pins (the write itself is an atomic rename).
    with repository_lock(repo):
        _lock(workspace, env, dropped, frozenset(update), skip_images, output_format)


def _lock(
    workspace: Workspace,
    env: str,
    dropped: frozenset[str],
    update: frozenset[str],
    skip_images: bool,
    output_format: str,
) -> None:
    repo = workspace.root
    result = compile_env(workspace, env, CompileOptions(env=env), forget=dropped)
    lock = plan_provider_lock(result, dropped)
    diagnostics = list(result.diagnostics)
    if not skip_images and not _config_broken(result):
        lock, found = _lock_images(lock, result, update)
        diagnostics.extend(found)
    report(diagnostics, output_format)
    text = serialize_lock(lock)
    lock_path = repo / LOCK_FILE
    current = lock_path.read_text(encoding="utf-8") if lock_path.is_file() else None
    if text != current and not _config_broken(result):
        write_text_atomic(lock_path, text)
        click.echo(
            f"runwayc: {LOCK_FILE}: {len(lock.providers)} provider pin(s) recorded", err=True
        )
    if has_errors(diagnostics):
        sys.exit(EXIT_DIAGNOSTICS)


def _lock_images(
    lock: LockFile, result: CompileResult, update: frozenset[str]
) -> tuple[LockFile, list[Diagnostic]]:
    """Resolve what needs resolving over the network (the edge), then plan purely."""
    needs = image_needs(result.deployments)
    unknown = sorted(update - set(needs))
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} is not an image any ModelDeployment uses", param_hint="--update"
        )
    wanted = references_to_resolve(needs, lock, update)
    # Imported here: httpx costs ~60 ms at start-up, and only `lock` talks to registries.
    from compiler.io.registry import RegistryClient, load_docker_credentials

    client = RegistryClient(credentials=load_docker_credentials(docker_config_path()))
    answers: dict[str, str | Exception] = {}
    if wanted:
        with click.progressbar(
            length=len(wanted), label="resolving images", file=sys.stderr
        ) as bar:
            answers.update(client.resolve_many(wanted, progress=lambda: bar.update(1)))
    resolved_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lock, diagnostics, counts = plan_image_lock(lock, needs, answers, resolved_at)
    click.echo(
        f"runwayc: images: {counts['resolved']} resolved, {counts['reused']} reused "
        f"(ImageResolutionReused), {counts['failed']} failed",
        err=True,
    )
    return lock, diagnostics


@main.command("images")
@repo_argument
@click.option("--env", "env", help="Environment to read (default: runway.yaml's).")
@runway_errors
def images_command(repo: Path, env: str | None) -> None:
    """Table of image references: source, pinned digest, age, ModelDeployments using each."""
    workspace = Workspace(repo)
    env = env or default_environment(workspace)
    result = compile_env(workspace, env, CompileOptions(env=env))
    needs = image_needs(result.deployments)
    click.echo(images_table(result.lock, needs, datetime.now(UTC)), nl=False)


def docker_config_path() -> Path:
    """Where Docker keeps credentials: $DOCKER_CONFIG/config.json, else ~/.docker."""
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _config_broken(result: CompileResult) -> bool:
    """True when runway.lock or the configuration could not be read: never overwrite then."""
    return not result.deployments and has_errors(result.diagnostics)


@main.command("diff")
@repo_argument
@click.option("--base", required=True, help="Git revision to compare against (origin/main).")
@click.option("--head", help="Git revision to compare (default: the working tree).")
@click.option("--env", "env", help="One environment (default: every one in runway.yaml).")
@click.option(
    "--format",
    "diff_format",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="Plain text for terminals, Markdown for a pull-request comment, or JSON.",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything differs (like git diff).")
@runway_errors
def diff_command(
    repo: Path, base: str, head: str | None, env: str | None, diff_format: str, exit_code: bool
) -> None:
    """Per-resource diff of the rendered trees of two revisions."""
    from compiler.core.gitops import diff as tree_diff
    from compiler.io.publish import diff_refs

    names, problems = environments(Workspace(repo), env)
    report(problems, "text")
    diffs = []
    for name in names:
        result, old, new = diff_refs(repo, base, head, name)
        for side, label in ((old, base), (new, head or "the working tree")):
            if side.errors:
                click.echo(
                    f"runwayc: {name}: {label} does not compile ({side.errors} error(s)); "
                    "its tree counts as empty (run `runwayc check` there)",
                    err=True,
                )
        diffs.append(result)
    if diff_format == "markdown":
        click.echo(tree_diff.format_markdown(diffs), nl=False)
    elif diff_format == "json":
        click.echo(json.dumps(tree_diff.as_json(diffs), indent=2))
    else:
        click.echo(tree_diff.format_text(diffs), nl=False)
    if exit_code and any(d.differs for d in diffs):
        sys.exit(EXIT_DIAGNOSTICS)


@main.command("publish")
@repo_argument
@click.option("--env", "env", required=True, help="The environment to publish.")
@click.option("--remote", default="origin", show_default=True, help="Git remote to push to.")
@click.option(
    "--branch",
    help="Target branch (default: environments/<env>; with --path, the current branch).",
)
@click.option("--path", "path", help="Publish into this directory of the branch (Flux style).")
@click.option(
    "--pull-request",
    is_flag=True,
    help="Push a branch runwayc/<env>/<sha> instead and print a PR title and body.",
)
@runway_errors
def publish_command(
    repo: Path,
    env: str,
    remote: str,
    branch: str | None,
    path: str | None,
    pull_request: bool,
) -> None:
    """Commit HEAD's hydrated tree of ENV to the branch or path Argo CD or Flux syncs."""
    from compiler.core.gitops import diff as tree_diff
    from compiler.io.git import Git
    from compiler.io.publish import Target, publish, target_for

    target: Target = target_for(Git(repo), env, remote, branch, path)
    published = publish(repo, env, target, pull_request=pull_request)
    where = published.target.branch + (f":{target.path}" if target.path else "")
    if published.commit is None:
        click.echo(f"runwayc: {env}: nothing changed; {remote} {where} left as it is", err=True)
        return
    if pull_request:
        click.echo(f"runwayc: publish {env} from {published.source[:12]}")
        click.echo()
        click.echo(tree_diff.format_markdown([published.diff]), nl=False)
    click.echo(
        f"runwayc: {published.diff.summary()}; pushed {published.commit[:12]} to {remote} {where}",
        err=True,
    )


@main.command("bootstrap")
@repo_argument
@click.option("--argocd", "tool", flag_value="argocd", help="Argo CD: an ApplicationSet.")
@click.option("--flux", "tool", flag_value="flux", help="Flux: GitRepository + Kustomization.")
@click.option(
    "--cluster",
    "tool",
    flag_value="cluster",
    help="The cluster side: ModelDeployment CRD, admission policy, RBAC and the status agent.",
)
@click.option(
    "--agent-image",
    help="With --cluster: the agent's image (default: ghcr.io/runwayc/runwayc:<version>).",
)
@click.option(
    "--saturation",
    is_flag=True,
    help="With --cluster: the agent also runs the saturation analyzer (autoscaling mode wva), "
    "with ConfigMaps for its Prometheus and thresholds.",
)
@click.option(
    "--applications",
    is_flag=True,
    help="With --argocd: one Application per environment instead of the ApplicationSet.",
)
@click.option(
    "--env",
    "envs",
    multiple=True,
    help="Only this environment (repeatable; default: every one in runway.yaml).",
)
@click.option(
    "--repo-url",
    help="URL the cluster clones (default: origin's, with any credentials left out).",
)
@click.option(
    "--published",
    is_flag=True,
    help="Sync what `runwayc publish` pushes: the root of branch environments/{env}.",
)
@click.option("--branch", help="Branch to sync; {env} allowed (default: origin's HEAD, or main).")
@click.option("--path", "path", help="Directory to sync; {env} allowed (default: rendered/{env}).")
@click.option("--namespace", help="Namespace of the objects (default: argocd or flux-system).")
@click.option(
    "--destination",
    default=bootstrap_objects.IN_CLUSTER,
    show_default=True,
    help="Argo CD: the API server the Applications deploy to.",
)
@click.option("--secret-ref", help="Flux: the Secret holding the Git credentials.")
@runway_errors
def bootstrap_command(
    repo: Path,
    tool: str | None,
    applications: bool,
    envs: tuple[str, ...],
    repo_url: str | None,
    published: bool,
    branch: str | None,
    path: str | None,
    namespace: str | None,
    destination: str,
    secret_ref: str | None,
    agent_image: str | None,
    saturation: bool,
) -> None:
    """Print the Argo CD or Flux objects that sync REPO's hydrated environments, or with
    --cluster the objects that make ModelDeployments a real API in the cluster."""
    from compiler.io.git import Git

    if tool is None:
        raise click.UsageError("say which objects: --argocd, --flux or --cluster")
    if agent_image is not None and tool != "cluster":
        raise click.UsageError("--agent-image only applies to --cluster")
    if saturation and tool != "cluster":
        raise click.UsageError("--saturation only applies to --cluster")
    if tool == "cluster":
        given = [
            flag
            for flag, value in (
                ("--applications", applications),
                ("--env", envs),
                ("--repo-url", repo_url),
                ("--published", published),
                ("--branch", branch),
                ("--path", path),
                ("--secret-ref", secret_ref),
            )
            if value
        ]
        if given:
            raise click.UsageError(f"{', '.join(given)} only apply to --argocd or --flux")
        _bootstrap_cluster(repo, namespace, agent_image, saturation)
        return
    if applications and tool != "argocd":
        raise click.UsageError("--applications only applies to --argocd")
    if secret_ref is not None and tool != "flux":
        raise click.UsageError(
            "--secret-ref only applies to --flux (Argo CD keeps credentials in a repository Secret)"
        )
    names, problems = environments(Workspace(repo), None)
    report(problems, "text")
    unknown = sorted(set(envs) - set(names))
    if unknown:
        raise click.UsageError(f"no environment {', '.join(unknown)} in runway.yaml")
    selected = sorted(set(envs)) if envs else names
    git = Git(repo)
    url = repo_url or git.remote_url("origin")
    if url is None:
        raise click.UsageError("no remote origin here to read the URL from: pass --repo-url")
    public = bootstrap_objects.public_url(url)
    if public.had_credentials:
        click.echo(
            "runwayc: the credentials in the repository URL were left out; give the cluster "
            "its own (an Argo CD repository Secret, or --secret-ref for Flux)",
            err=True,
        )
    prefix = git.prefix()  # the default path is repo-relative: REPO may be a subdirectory
    if published:
        default_branch, default_path = bootstrap_objects.PUBLISHED_BRANCH, "."
    else:
        default_branch = git.default_branch("origin") or bootstrap_objects.DEFAULT_BRANCH
        default_path = prefix + bootstrap_objects.RENDERED_PATH
        if path is None and not git.tracks("rendered"):
            click.echo(
                "runwayc: rendered/ is not committed here; if CI runs `runwayc publish`, "
                "bootstrap with --published",
                err=True,
            )
    source = bootstrap_objects.Source(
        public,
        branch or default_branch,
        (path if path is not None else default_path).strip("/").removeprefix("./") or ".",
    )
    bootstrap_objects.check_source(source, selected)
    objects: list[dict[str, Any]]
    if tool == "flux":
        objects = bootstrap_objects.flux_objects(
            source,
            selected,
            namespace=namespace or bootstrap_objects.FLUX_NAMESPACE,
            secret_ref=secret_ref,
        )
    elif applications:
        objects = bootstrap_objects.argocd_applications(
            source,
            selected,
            namespace=namespace or bootstrap_objects.ARGOCD_NAMESPACE,
            destination=destination,
        )
    else:
        objects = [
            bootstrap_objects.argocd_applicationset(
                source,
                selected,
                all_environments=not envs,
                namespace=namespace or bootstrap_objects.ARGOCD_NAMESPACE,
                destination=destination,
            )
        ]
    click.echo(f"# Generated by `runwayc bootstrap --{tool}`; re-run it to change this file.")
    click.echo(dump_objects(objects), nl=False)


def _bootstrap_cluster(
    repo: Path, namespace: str | None, agent_image: str | None, saturation: bool
) -> None:
    from compiler.core.cluster import DEFAULT_NAMESPACE, IMAGE_REPOSITORY, cluster_objects

    policies = repo / "policies"
    sources = policy_sources(policies)
    policy = merged_policy(sources)  # the repository's rules, as `compile` applies them
    files = {Path(source.path).name: source.text for source in sources}
    objects = cluster_objects(
        policy,
        namespace=namespace or DEFAULT_NAMESPACE,
        image=agent_image or f"{IMAGE_REPOSITORY}:{tool_version()}",
        policy_files=files,
        saturation=saturation,
    )
    click.echo("# Generated by `runwayc bootstrap --cluster`; re-run it to change this file.")
    click.echo(dump_objects(objects), nl=False)


@main.command("agent")
@click.option("--namespace", help="Watch one namespace.")
@click.option("--all-namespaces", "-A", is_flag=True, help="Watch every namespace.")
@click.option(
    "--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), help="Out of cluster."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port of /healthz, /readyz and /metrics (0: none).",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=False,
    help="Write status only while holding the Lease (run two replicas).",
)
@click.option("--lease-namespace", default="runwayc-system", show_default=True)
@click.option(
    "--policies",
    "policies",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of extra policy files (the ConfigMap `bootstrap --cluster` renders).",
)
@click.option(
    "--resync",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds between re-checks of every ModelDeployment from the cache (no API calls).",
)
@click.option(
    "--saturation",
    is_flag=True,
    help="Run WVA's saturation analyzer on ModelDeployments in autoscaling mode wva: publish "
    "wva_desired_replicas and write Saturated/ScalingBlocked (Prometheus from PROMETHEUS_* "
    "variables, else --prometheus-config).",
)
@click.option(
    "--saturation-interval",
    type=click.FloatRange(min=1),
    default=30,
    show_default=True,
    help="Seconds between saturation analyses.",
)
@click.option(
    "--saturation-config",
    type=click.Path(file_okay=False, path_type=Path),
    help="Mounted saturation-scaling-config ConfigMap (key `default`); WVA's thresholds if unset.",
)
@click.option(
    "--prometheus-config",
    type=click.Path(file_okay=False, path_type=Path),
    default="/etc/runwayc/prometheus",
    show_default=True,
    help="Mounted ConfigMap with PROMETHEUS_* keys, read when the environment sets none.",
)
@runway_errors
def agent_command(
    namespace: str | None,
    all_namespaces: bool,
    kubeconfig: Path | None,
    metrics_port: int,
    leader_elect: bool,
    lease_namespace: str,
    policies: Path | None,
    resync: float,
    saturation: bool,
    saturation_interval: float,
    saturation_config: Path | None,
    prometheus_config: Path,
) -> None:
    """Watch ModelDeployments and write their status (what the agent Deployment runs)."""
    from compiler.io.agent.serve import AgentOptions, run_agent, saturation_options

    gc.enable()  # a long-lived process: `run` turned the collector off for one-shot commands

    if bool(namespace) == all_namespaces:
        raise click.UsageError("say where to watch: --namespace NS or --all-namespaces")
    analysis = None
    if saturation:
        analysis = saturation_options(saturation_config, prometheus_config, saturation_interval)
    run_agent(
        AgentOptions(
            namespace=namespace,
            kubeconfig=kubeconfig,
            metrics_port=metrics_port,
            leader_elect=leader_elect,
            lease_namespace=lease_namespace,
            policy=load_policy(policies),
            resync_seconds=resync,
            saturation=analysis,
        )
    )


@main.group("recipe")
def recipe_group() -> None:
    """vLLM recipes: list, show, pull into recipes/ (pinned), apply to a ModelDeployment."""


recipe_repo_option = click.option(
    "--repo",
    "-C",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The source repository (runway.yaml, runway.lock, recipes/).",
)
recipes_url_option = click.option(
    "--recipes-url",
    help="Recipes API base URL (default: $VLLM_RECIPES_BASE_URL, runway.yaml recipes.baseUrl, "
    "then https://recipes.vllm.ai).",
)


def selection_options(func: F) -> F:
    for option in reversed(
        [
            click.option("--hardware", help="Hardware rendering (default: the recommended)."),
            click.option(
                "--strategy", help="Strategy, e.g. single_node_tp (default: recommended)."
            ),
            click.option("--variant", help="Variant (default: the recommended)."),
            click.option(
                "--feature",
                "features",
                multiple=True,
                help="Opt-in feature, `name` or `name=mode` (repeatable).",
            ),
        ]
    ):
        func = option(func)
    return func


def _recipes_base_url(workspace: Workspace, flag: str | None) -> str:
    if flag:
        return flag
    from_env = os.environ.get(recipes.BASE_URL_ENV)
    if from_env:
        return from_env
    project, _ = read_project(workspace.project())
    if project is not None and project.recipes is not None and project.recipes.base_url:
        return project.recipes.base_url
    return recipes.DEFAULT_BASE_URL


def _recipe_client(workspace: Workspace, flag: str | None) -> RecipeClient:
    from compiler.io.recipe_client import RecipeClient

    return RecipeClient(_recipes_base_url(workspace, flag), user_agent=f"runwayc/{tool_version()}")


def _selection(
    hardware: str | None, strategy: str | None, variant: str | None, features: tuple[str, ...]
) -> recipes.Selection:
    # None: not given (the recommendation is used and recorded); "": given blank (the
    # recommendation is used, and its annotation left out).
    return recipes.Selection(hardware, strategy, variant, features)


def _resolve_recipe(
    workspace: Workspace, client: RecipeClient, model_id: str, selection: recipes.Selection
) -> tuple[recipes.Resolution, list[Fetched]]:
    recipe, fetched = client.rendering(model_id, selection)
    settings = _settings(workspace)
    resolution = recipes.resolve(
        recipe,
        selection,
        source=client.base_url,
        revision=recipes.content_sha256(fetched[0].content),
        reserved=settings.policy.reserved_networking,
        aliases=settings.policy.aliases,
    )
    for warning in resolution.warnings:
        click.echo(f"runwayc: warning: {warning}", err=True)
    return resolution, fetched


def _settings(workspace: Workspace) -> Settings:
    env = default_environment(workspace)
    settings, diagnostics = resolve_settings(workspace.inputs(env), CompileOptions(env=env))
    if settings is None:
        report(diagnostics, "text")
        sys.exit(EXIT_DIAGNOSTICS)
    return settings


def _pin(workspace: Workspace, model_id: str, fetched: list[Fetched], source: str) -> None:
    from compiler.io.recipe_store import vendor

    with repository_lock(workspace.root):
        settings = _settings(workspace)
        lock = vendor(workspace.root, model_id, fetched, settings.lock, source)
        text = serialize_lock(lock)
        lock_path = workspace.root / LOCK_FILE
        if not lock_path.is_file() or lock_path.read_text(encoding="utf-8") != text:
            write_text_atomic(lock_path, text)
    files = ", ".join(f"recipes{d.path}" for d in fetched)
    click.echo(f"runwayc: {model_id}: pinned {files} in {LOCK_FILE}", err=True)


@recipe_group.command("list")
@recipe_repo_option
@recipes_url_option
@click.option("--filter", "text", help="Only models whose ID or title contains this text.")
@runway_errors
def recipe_list_command(repo: Path, recipes_url: str | None, text: str | None) -> None:
    """The models the recipes API has recipes for."""
    with _recipe_client(Workspace(repo), recipes_url) as client:
        models = client.models()
    needle = (text or "").lower()
    for model in sorted(models, key=lambda m: m.hf_id.lower()):
        if needle in model.hf_id.lower() or needle in (model.title or "").lower():
            click.echo(f"{model.hf_id}\t{model.title or ''}")


@recipe_group.command("show")
@click.argument("model_id")
@recipe_repo_option
@recipes_url_option
@selection_options
@runway_errors
def recipe_show_command(
    model_id: str,
    repo: Path,
    recipes_url: str | None,
    hardware: str | None,
    strategy: str | None,
    variant: str | None,
    features: tuple[str, ...],
) -> None:
    """What a recipe resolves to: the spec fields `apply` would write."""
    workspace = Workspace(repo)
    selection = _selection(hardware, strategy, variant, features)
    with _recipe_client(workspace, recipes_url) as client:
        resolution, _ = _resolve_recipe(workspace, client, model_id, selection)
    shown = {
        "model": resolution.model_id,
        "image": resolution.image,
        "gpuCount": resolution.gpu_count,
        "args": resolution.args,
        "extraArgs": resolution.extra_args,
        "env": resolution.env,
        "annotations": resolution.annotations,
    }
    click.echo(dump_document(shown), nl=False)


@recipe_group.command("pull")
@click.argument("model_id")
@recipe_repo_option
@recipes_url_option
@click.option("--hardware", help="Also pin this hardware's rendering.")
@click.option("--strategy", help="Also pin this strategy's rendering.")
@runway_errors
def recipe_pull_command(
    model_id: str, repo: Path, recipes_url: str | None, hardware: str | None, strategy: str | None
) -> None:
    """Vendor a recipe into recipes/ and pin its sha256 in runway.lock."""
    workspace = Workspace(repo)
    model_id = recipes.check_model_id(model_id)
    with _recipe_client(workspace, recipes_url) as client:
        _, fetched = client.rendering(model_id, _selection(hardware, strategy, None, ()))
        _pin(workspace, model_id, fetched, client.base_url)


@recipe_group.command("apply")
@click.argument("model_id")
@recipe_repo_option
@recipes_url_option
@selection_options
@click.option("--name", required=True, help="The ModelDeployment's metadata.name.")
@click.option("--namespace", help="The ModelDeployment's metadata.namespace.")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Source file to create or update (relative to the repository).",
)
@runway_errors
def recipe_apply_command(
    model_id: str,
    repo: Path,
    recipes_url: str | None,
    hardware: str | None,
    strategy: str | None,
    variant: str | None,
    features: tuple[str, ...],
    name: str,
    namespace: str | None,
    output: Path,
) -> None:
    """Write (or update in place) a ModelDeployment from a recipe, pinning the recipe."""
    from compiler.core.recipe_apply import apply_recipe

    workspace = Workspace(repo)
    model_id = recipes.check_model_id(model_id)
    selection = _selection(hardware, strategy, variant, features)
    path = output if output.is_absolute() else repo / output
    with _recipe_client(workspace, recipes_url) as client:
        resolution, fetched = _resolve_recipe(workspace, client, model_id, selection)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        text = apply_recipe(current, name, namespace, resolution, str(output))
        _pin(workspace, model_id, fetched, client.base_url)
    if text != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    state = "unchanged" if text == current else ("updated" if current else "written")
    click.echo(f"runwayc: {output}: ModelDeployment {name} {state}", err=True)


@main.command("schema")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
)
def schema_command(out: Path) -> None:
    """Write the JSON Schemas of every input file."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in json_schemas().items():
        path = out / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_text_atomic(path, text)
    click.echo(f"runwayc: {len(json_schemas())} schema(s) in {out}", err=True)


def _counts(result: CompileResult) -> str:
    errors = sum(1 for d in result.diagnostics if d.is_error)
    warnings = len(result.diagnostics) - errors
    return f"{errors} error(s), {warnings} warning(s)"


def run() -> None:
    """The `runwayc` console script (and `python -m compiler.cli`).

    Every command but `agent` is one process that reads, compiles and exits. It allocates
    hundreds of thousands of short-lived containers (parsed YAML, decoded cache entries, the
    rendered tree's record) and frees almost all of them by reference counting, so the cyclic
    collector only walks the heap: at 10,000 models, one change, this script against `main`
    called directly, alternated in one run, 1.93 -> 1.54 s median, and peak RSS the same
    either way (it freed nothing that mattered). The heap built by the imports is frozen first,
    so `agent`, which turns the collector back on for its long life, never scans it either.
    Only the console script does this; library callers and the test process keep theirs.
    """
    gc.freeze()
    gc.disable()
    main()


if __name__ == "__main__":  # pragma: no cover - `python -m compiler.cli`
    run()
