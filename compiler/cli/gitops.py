"""`runwayc diff` and `runwayc publish`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from compiler.cli._common import (
    EXIT_DIAGNOSTICS,
    EXIT_USAGE,
    env_option,
    repo_argument,
    report,
    runway_errors,
    say,
)


@click.command("diff")
@repo_argument
@click.option("--base", required=True, help="Git revision to compare against (origin/main).")
@click.option("--head", help="Git revision to compare (default: the working tree).")
@env_option("One environment (default: every one in runway.yaml).")
@click.option(
    "--format",
    "diff_format",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="Plain text for terminals, Markdown for a pull-request comment, or JSON.",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything differs (like git diff).")
@click.option(
    "--locked",
    is_flag=True,
    help="Compile both sides from their runway.lock, as publish does (and as compile --locked "
    "caches them).",
)
@runway_errors
def diff_command(
    repo: Path,
    base: str,
    head: str | None,
    env: str | None,
    diff_format: str,
    exit_code: bool,
    locked: bool,
) -> None:
    """Per-resource diff of the rendered trees of two revisions.

    Exit 2 when a side does not compile (its diagnostics are printed, and shown in the
    Markdown comment); there is no diff to show for that environment then."""
    from compiler.core.gitops import diff as tree_diff
    from compiler.io.publish import diff_environments

    diffs: list[tree_diff.TreeDiff] = []
    broken: list[tree_diff.BrokenSide] = []
    with diff_environments(repo, base, head, env, locked=locked) as plan:
        report(plan.problems, "text")
        for one in plan.each():
            for revision in one.unlisted:
                say(
                    f"runwayc: {one.env}: runway.yaml at {revision.name} does not list it; "
                    "its tree there counts as empty"
                )
            for side in one.broken:
                click.echo(f"runwayc: {side.summary()}:", err=True)
                report(side.diagnostics, "text")
            broken.extend(one.broken)
            if one.diff is not None:
                diffs.append(one.diff)
    if diff_format == "markdown":
        click.echo(tree_diff.format_markdown(diffs, broken=broken), nl=False)
    elif diff_format == "json":
        click.echo(json.dumps(tree_diff.as_json(diffs, broken), indent=2))
    else:
        click.echo(tree_diff.format_text(diffs, broken), nl=False)
    if broken:
        sys.exit(EXIT_USAGE)
    if exit_code and any(d.differs for d in diffs):
        sys.exit(EXIT_DIAGNOSTICS)


@click.command("publish")
@repo_argument
@env_option("The environment to publish.", required=True)
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
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Publish HEAD although the working tree has uncommitted changes (they are left out).",
)
@click.option(
    "--allow-rollback",
    is_flag=True,
    help="Publish although ENV was last published from a newer (or unrelated) source commit.",
)
@click.option(
    "--allow-unit-moves",
    is_flag=True,
    help="Publish although models move between sync units (a changed syncUnits.shards).",
)
@runway_errors
def publish_command(
    repo: Path,
    env: str,
    remote: str,
    branch: str | None,
    path: str | None,
    pull_request: bool,
    allow_dirty: bool,
    allow_rollback: bool,
    allow_unit_moves: bool,
) -> None:
    """Commit HEAD's hydrated tree of ENV to the branch or path Argo CD or Flux syncs.

    Refused (exit 2): a target that would replace sources (the branch being published from
    at its top, or a path holding runway.yaml or files no publication of ENV wrote), an
    absolute --path or one with "..", uncommitted changes, and a source commit older than the
    one ENV was last published from, and models moving between sync units."""
    from compiler.core.gitops import diff as tree_diff
    from compiler.io.publish import Overrides, publish_env

    published = publish_env(
        repo,
        env,
        remote=remote,
        branch=branch,
        path=path,
        pull_request=pull_request,
        overrides=Overrides(
            allow_dirty=allow_dirty,
            allow_rollback=allow_rollback,
            allow_unit_moves=allow_unit_moves,
        ),
    )
    target = published.target
    if published.uncommitted:
        say(
            f"runwayc: {env}: --allow-dirty: publishing HEAD ({published.source[:12]}); "
            f"{len(published.uncommitted)} uncommitted change(s) are not in it"
        )
    if published.commit is None:
        say(f"runwayc: {env}: nothing changed; {target} left as it is")
        return
    if pull_request:
        click.echo(f"runwayc: publish {env} from {published.source[:12]}")
        click.echo()
        click.echo(tree_diff.format_markdown([published.diff]), nl=False)
    say(f"runwayc: {published.diff.summary()}; pushed {published.commit[:12]} to {target}")
