"""A user's tag that `lock` could not resolve compiles (as AI Runway proceeds with it), and is
never quiet: the warning, the compile stamp, `images` and the PR diff say it runs unpinned and
why. `images.unpinnedUserImages: refuse` in a repository policy makes it an error."""

from __future__ import annotations

from pathlib import Path

import yaml

from compiler.core.pipeline import resolve_policy
from tests.conftest import run_cli
from tests.gitops.conftest import commit_all, git
from tests.harness import builtin_policies
from tests.helpers import line_col, md_yaml

STRICT = """\
apiVersion: runwayc.dev/v1alpha1
kind: Policy
metadata: {name: strict-images}
images:
  unpinnedUserImages: refuse
"""


def unresolved_repo(make_repo, registry, extra: dict[str, str] | None = None):
    """A repository whose one model names a tag the registry does not have, locked."""
    image = f"{registry.host}/acme/absent:v9"
    text = md_yaml(engine={"type": "vllm", "image": image})
    repo = make_repo({"deployments/a.yaml": text, **(extra or {})})
    locked = run_cli("lock", repo)
    return repo, image, text, locked


def why(image: str) -> str:
    reason = f'image "{image}": registry answered HTTP 404'
    return f"`runwayc lock` could not resolve it to a digest: {reason}"


def objects(manifest: Path) -> dict[str, dict]:
    return {o["kind"]: o for o in yaml.safe_load_all(manifest.read_text())}


def test_an_unresolved_user_tag_compiles_locked_and_says_it_runs_unpinned(
    make_repo, registry, tmp_path
):
    repo, image, text, locked = unresolved_repo(make_repo, registry)
    assert locked.exit_code == 0, locked.stderr
    assert "runs unpinned, by its tag as written" in locked.stderr
    out = tmp_path / "out"
    result = run_cli("compile", repo, "--locked", "--out", out)
    assert result.exit_code == 0, result.stderr
    line, col = line_col(text, "image: ")
    assert (
        f"deployments/a.yaml:{line}:{col}: warning[IMAGE_UNRESOLVED]: spec.engine.image: image "
        f'"{image}" runs unpinned, by its tag as written ({why(image)})\n'
    ) in result.stderr
    rendered = objects(out / "team-a/m/manifest.yaml")
    annotations = rendered["ModelDeployment"]["metadata"]["annotations"]
    assert annotations["runwayc.dev/image-unpinned"] == why(image)
    assert "runwayc.dev/image-digest" not in annotations
    container = rendered["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image

    table = run_cli("images", repo)
    assert table.exit_code == 0, table.stderr
    _, row, blank, note = table.stdout.splitlines()
    assert row.split()[:3] == [image, "custom", "(unpinned)"]
    assert blank == ""
    assert note == (
        f"{image} runs unpinned, by its tag as written: `runwayc lock` could not resolve it: "
        f'image "{image}": registry answered HTTP 404'
    )


def test_the_pr_diff_says_which_images_run_unpinned(make_repo, registry, tmp_path):
    repo, image, _, _ = unresolved_repo(make_repo, registry)
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text(".runwayc_cache/\n")
    commit_all(repo, "an unpinned model")
    line = f"team-a/m: {image} runs unpinned ({why(image)})"
    # Said on every diff, including one that does not touch the model.
    markdown = f"> [!WARNING]\n> Images that run unpinned, by tag:\n> dev: {line}\n"
    for args, expected in ((("--format", "markdown"), markdown), ((), f"dev: warning: {line}\n")):
        result = run_cli("diff", repo, "--base", "HEAD", *args)
        assert result.exit_code == 0, result.stderr
        assert expected in result.stdout


def test_a_repository_policy_can_refuse_unpinned_user_images(make_repo, registry, tmp_path):
    repo, image, text, locked = unresolved_repo(
        make_repo, registry, {"policies/strict.yaml": STRICT}
    )
    assert locked.exit_code == 1
    assert (
        f'deployments/a.yaml: error[IMAGE_UNPINNED]: ImageResolved=False: image "{image}": '
        "registry answered HTTP 404; recorded as unresolved, and the policy refuses unpinned "
        "user images (images.unpinnedUserImages: refuse), so compile fails until it resolves\n"
    ) in locked.stderr
    result = run_cli("compile", repo, "--locked", "--out", tmp_path / "out")
    assert result.exit_code == 1
    line, col = line_col(text, "image: ")
    assert (
        f"deployments/a.yaml:{line}:{col}: error[IMAGE_UNPINNED]: spec.engine.image: image "
        f'"{image}" would run unpinned ({why(image)}); the policy refuses unpinned user images '
        "(images.unpinnedUserImages: refuse): make the tag resolvable and run `runwayc lock`, "
        "or name the image by digest\n"
    ) in result.stderr
    assert not (tmp_path / "out").exists()
    # Once the tag exists, lock pins it and the strict repository compiles.
    registry.push_image("acme/absent", "v9")
    assert run_cli("lock", repo).exit_code == 0
    assert run_cli("compile", repo, "--locked", "--out", tmp_path / "out").exit_code == 0


def test_loosening_refuse_back_to_warn_is_policy_loosening(make_repo):
    lenient = STRICT.replace("strict-images", "lenient").replace("refuse", "warn")
    repo = make_repo(
        {
            "deployments/a.yaml": md_yaml(),
            "policies/a-strict.yaml": STRICT,
            "policies/b-lenient.yaml": lenient,
        }
    )
    result = run_cli("check", repo)
    assert result.exit_code == 1
    line, col = line_col(lenient, "unpinnedUserImages")
    assert (
        f"policies/b-lenient.yaml:{line}:{col}: error[POLICY_LOOSENING]: "
        'images.unpinnedUserImages: policy "lenient" loosens images.unpinnedUserImages from '
        "refuse to warn; a repository policy may only tighten it (warn to refuse)\n"
    ) in result.stderr


def test_the_default_is_warn_and_lives_in_policies():
    policy, problems = resolve_policy(builtin_policies(), ())
    assert not problems
    assert policy.unpinned_user_images == "warn"
    (source,) = [f for f in builtin_policies() if f.path.endswith("/images.yaml")]
    assert "unpinnedUserImages: warn" in source.text


def test_an_unresolved_entry_cannot_unpin_a_default_image(make_repo, tmp_path):
    # Only a user's tag may run unpinned; a default image is the outage gate's, whatever a
    # (hand-written) runway.lock says.
    lock = """\
version: 1
images:
  vllm/vllm-openai:cu130-nightly:
    repository: docker.io/vllm/vllm-openai
    requested: vllm/vllm-openai:cu130-nightly
    tag: cu130-nightly
    unresolvedReason: registry down
providers:
  team-a/m: {name: vllm, reason: 'explicit: spec.provider.name'}
"""
    repo = make_repo({"deployments/a.yaml": md_yaml(), "runway.lock": lock})
    result = run_cli("compile", repo, "--locked", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "error[IMAGE_NOT_PINNED]" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_tag_compiled_without_locked_is_stamped_unpinned_too(make_repo, tmp_path):
    repo = make_repo({"deployments/a.yaml": md_yaml()})
    assert run_cli("compile", repo, "--out", tmp_path / "out").exit_code == 0
    md = objects(tmp_path / "out/team-a/m/manifest.yaml")["ModelDeployment"]
    assert md["metadata"]["annotations"]["runwayc.dev/image-unpinned"] == (
        "no digest pin in runway.lock (compiled without --locked)"
    )


def test_a_pr_comment_names_the_first_unpinned_images_and_counts_the_rest():
    from compiler.core.gitops.diff import UNPINNED_SHOWN, TreeDiff, format_markdown

    lines = tuple(f"team-a/m{i:02}: acme/vllm:v1 runs unpinned (down)" for i in range(25))
    comment = format_markdown([TreeDiff("dev", (), lines)])
    assert comment.count("runs unpinned (down)") == UNPINNED_SHOWN
    assert f"> ... and {25 - UNPINNED_SHOWN} more (`runwayc images`)\n" in comment
