"""Image reference parsing and classification (custom / nightly / stable / launch), row by row."""

from __future__ import annotations

import pytest

from compiler.core.errors import ImageError
from compiler.core.images import classify, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("ubuntu", "docker.io", "library/ubuntu", "latest", None),
        ("vllm/vllm-openai:v0.11.0", "docker.io", "vllm/vllm-openai", "v0.11.0", None),
        ("docker.io/vllm/vllm-openai:x", "docker.io", "vllm/vllm-openai", "x", None),
        ("index.docker.io/library/ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", None),
        ("ghcr.io/acme/team/vllm:1", "ghcr.io", "acme/team/vllm", "1", None),
        ("localhost:5000/a/b", "localhost:5000", "a/b", "latest", None),
        ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "t", None),
        (f"quay.io/a/b@{DIGEST}", "quay.io", "a/b", None, DIGEST),
        (f"quay.io/a/b:t@{DIGEST}", "quay.io", "a/b", "t", DIGEST),
        ("registry.example.com:443/a__b/c-d.e:tag_1.x", "registry.example.com:443", "a__b/c-d.e",
         "tag_1.x", None),
    ],
)  # fmt: skip
def test_parse(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty or contains spaces"),
        ("a b", "empty or contains spaces"),
        ("UPPER/x", 'invalid repository component "UPPER"'),
        ("a//b", 'invalid repository component ""'),
        ("x@sha256:12", "digest must be sha256: and 64 lower-case hex digits"),
        ("x:-bad", 'invalid tag "-bad"'),
        ("-x.io/a", "invalid registry"),
    ],
)
def test_malformed_references_name_the_problem(text, problem):
    with pytest.raises(ImageError, match=problem.replace("(", r"\(")):
        parse_reference(text)


@pytest.mark.parametrize(
    ("text", "source", "in_nightly", "reason"),
    [
        ("vllm/vllm-openai:cu130-nightly", "nightly", True, "SupportedImage"),
        ("docker.io/vllm/vllm-openai:nightly-2026-11-01", "nightly", True, "SupportedImage"),
        ("vllm/vllm-openai:v0.11.0", "stable", False, "SupportedImage"),
        ("vllm/vllm-openai:v0.11", "stable", False, "SupportedImage"),
        ("vllm/vllm-openai:v0.11.0-rc1", "stable", False, "SupportedImage"),
        ("vllm/vllm-openai:latest", "stable", False, "SupportedImage"),
        ("vllm/vllm-openai", "stable", False, "SupportedImage"),
        ("vllm/vllm-openai:deepseekv4-cu130", "launch", False, "SupportedImage"),
        ("vllm/vllm-openai:cu130-launch", "launch", False, "SupportedImage"),
        ("vllm/vllm-openai-rocm:v0.10.1", "stable", False, "SupportedImage"),
        ("ghcr.io/acme/vllm:1", "custom", False, "CustomImage"),
        ("ghcr.io/vllm/vllm-openai:v0.11.0", "custom", False, "CustomImage"),
        ("acme/vllm-openai:v0.11.0", "custom", False, "CustomImage"),
    ],
)
def test_classification(text, source, in_nightly, reason):
    image_class = classify(parse_reference(text))
    assert (image_class.source, image_class.in_nightly, image_class.reason) == (
        source,
        in_nightly,
        reason,
    )
    assert image_class.unsupported == (reason == "CustomImage")
