"""Image references: parsing (the Docker/OCI reference grammar) and classification.

Pure. `parse_reference` normalises what users write (`vllm/vllm-openai:v0.11.0`,
`docker.io/library/ubuntu`, `localhost:5000/a/b@sha256:...`) into registry, repository, tag
and digest, refusing malformed references with a message that names the problem.
`classify` sorts a reference into custom / nightly / stable / launch, first match wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from compiler.core.errors import ImageError

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")
OFFICIAL_REPOSITORIES = ("vllm/vllm-openai", "vllm/vllm-openai-rocm")
DEFAULT_IMAGE = "vllm/vllm-openai:cu130-nightly"
MAX_NAME_LENGTH = 255

REPOSITORY_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
REGISTRY_DOMAIN = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_RELEASE_TAG = re.compile(r"^v\d+\.\d+(?:\.\d+)?(?:-[\w.]+)?$")


@dataclass(frozen=True, slots=True)
class ImageReference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`registry/repository`, the form pins are resolved to."""
        return f"{self.registry}/{self.repository}"

    @property
    def short_repository(self) -> str:
        """The repository as Docker Hub users write it (`library/` and host stripped)."""
        if self.registry == DOCKER_HUB:
            return self.repository.removeprefix("library/")
        return self.name

    def pinned(self, digest: str) -> str:
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def looks_like_registry(first_component: str) -> bool:
    """Docker's rule: the first path component is a registry host when it has a dot or a
    port, or is `localhost` or an IPv6 literal; otherwise the image is on Docker Hub."""
    return (
        "." in first_component
        or ":" in first_component
        or first_component == "localhost"
        or first_component.startswith("[")
    )


def parse_reference(text: str) -> ImageReference:
    """Parse an image reference; ImageError names what is wrong with a bad one."""
    original = text
    if not text or text != text.strip() or any(c.isspace() for c in text):
        raise ImageError(f'invalid image reference "{original[:200]}": empty or contains spaces')
    if len(text) > MAX_NAME_LENGTH + 200:
        raise ImageError(f'invalid image reference "{original[:200]}...": too long')
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise ImageError(
                f'invalid image reference "{original}": digest must be sha256: and 64 lower-case '
                "hex digits"
            )
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise ImageError(f'invalid image reference "{original}": invalid tag "{tag}"')
    parts = text.split("/")
    first = parts[0]
    if len(parts) > 1 and looks_like_registry(first):
        registry, path = first, parts[1:]
        if not REGISTRY_DOMAIN.fullmatch(registry):
            raise ImageError(f'invalid image reference "{original}": invalid registry "{registry}"')
    else:
        registry, path = DOCKER_HUB, parts
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and len(path) == 1:
        path = ["library", *path]
    for component in path:
        if not REPOSITORY_COMPONENT.fullmatch(component):
            raise ImageError(
                f'invalid image reference "{original}": invalid repository component '
                f'"{component}" (lower-case letters, digits and separators . _ __ -)'
            )
    repository = "/".join(path)
    if len(repository) > MAX_NAME_LENGTH:
        raise ImageError(f'invalid image reference "{original[:200]}": repository name too long')
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(registry, repository, tag, digest)


@dataclass(frozen=True, slots=True)
class ImageClass:
    """`status.image.source` and the UnsupportedImage condition for one reference."""

    source: str
    in_nightly: bool
    unsupported: bool
    reason: str


def classify(reference: ImageReference, default_image: str = DEFAULT_IMAGE) -> ImageClass:
    """First match wins (after docker.io normalisation): an image outside the official
    repositories on Docker Hub is `custom`; the default image or a nightly tag is `nightly`;
    `latest` or a release tag is `stable`; anything else is `launch`.

    Launch tags on official repositories (`deepseekv4-cu130`, `cu130-launch`) are `launch`,
    fixing AI Runway's finding that real launch tags fell through to `custom`. A digest-only
    reference on an official repository has no tag to read and falls to the catch-all,
    `launch`.
    """
    default = parse_reference(default_image)
    if reference.registry != DOCKER_HUB or reference.short_repository not in OFFICIAL_REPOSITORIES:
        return ImageClass("custom", False, True, "CustomImage")
    tag = reference.tag or ""
    same_as_default = (reference.name, reference.tag) == (default.name, default.tag)
    if same_as_default or "nightly" in tag:
        return ImageClass("nightly", True, False, "SupportedImage")
    if tag == "latest" or _RELEASE_TAG.fullmatch(tag):
        return ImageClass("stable", False, False, "SupportedImage")
    return ImageClass("launch", False, False, "SupportedImage")
