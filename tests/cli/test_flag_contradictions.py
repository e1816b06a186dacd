"""Flags that contradict each other, or mean nothing without another, are usage errors (exit
2) naming them, in every command: given together they used to be ignored without a word
(issue 26)."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli

REPEATED_ENV = "given 2 times (dev, prod); this command works on one environment"

CASES = {
    # click keeps the last of a repeated option: `--env dev --env prod` meant prod.
    "compile --env twice": (["compile", "{repo}", "--env", "dev", "--env", "prod"], REPEATED_ENV),
    "check --env twice": (["check", "{repo}", "--env", "dev", "--env", "prod"], REPEATED_ENV),
    "images --env twice": (["images", "{repo}", "--env", "dev", "--env", "prod"], REPEATED_ENV),
    "lock --env twice": (["lock", "{repo}", "--env", "dev", "--env", "prod"], REPEATED_ENV),
    "diff --env twice": (
        ["diff", "{repo}", "--base", "HEAD", "--env", "dev", "--env", "prod"],
        REPEATED_ENV,
    ),
    "publish --env twice": (["publish", "{repo}", "--env", "dev", "--env", "prod"], REPEATED_ENV),
    # --skip-images left the pin --update named where it was, and exited 0.
    "lock --update --skip-images": (
        ["lock", "{repo}", "--update", "vllm/vllm-openai:v0.11.0", "--skip-images"],
        "--update re-resolves images and --skip-images leaves them as they are: give one",
    ),
    "bootstrap --flux --destination": (
        ["bootstrap", "{repo}", "--flux", "--destination", "https://k8s.example:6443"],
        "--destination only applies with --argocd",
    ),
    "bootstrap --cluster --destination": (
        ["bootstrap", "{repo}", "--cluster", "--destination", "https://k8s.example:6443"],
        "--destination only applies with --argocd",
    ),
    "agent --lease-namespace without --leader-elect": (
        ["agent", "-A", "--lease-namespace", "ops"],
        "--lease-namespace only applies with --leader-elect",
    ),
    "agent saturation options without --saturation": (
        ["agent", "-A", "--saturation-interval", "5", "--prometheus-config", "/etc/prom"],
        "--saturation-interval, --prometheus-config only apply with --saturation",
    ),
    "compile --out - --format sarif": (
        ["compile", "{repo}", "--out", "-", "--format", "sarif"],
        "--format sarif prints to stdout, where --out - streams the manifests",
    ),
    "-q with -v": (["-q", "check", "{repo}", "-v"], "-q/--quiet and -v/--verbose contradict"),
    "bootstrap --argocd --flux": (
        ["bootstrap", "{repo}", "--argocd", "--flux"],
        "--argocd and --flux print different objects",
    ),
    "bootstrap --flux --applications": (
        ["bootstrap", "{repo}", "--flux", "--applications"],
        "--applications only applies to --argocd",
    ),
}


@pytest.mark.parametrize(("args", "message"), CASES.values(), ids=CASES.keys())
def test_contradictory_flags_are_usage_errors(quickstart, args, message):
    before = (quickstart / "runway.lock").read_bytes()
    result = run_cli(*[str(quickstart) if a == "{repo}" else a for a in args])
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert (quickstart / "runway.lock").read_bytes() == before
    assert not (quickstart / "rendered").exists()


def test_the_options_still_work_with_what_they_need(quickstart):
    result = run_cli("bootstrap", quickstart, "--argocd", "--destination", "https://k:6443",
                     "--repo-url", "https://git.example/r.git", "--applications")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "server: https://k:6443" in result.stdout
    assert run_cli("compile", quickstart, "--env", "prod", "--out", "-", "-q").exit_code == 0
