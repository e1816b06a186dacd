"""What compiling one source file produces: the unit of caching and of parallel work.

A source file's outcome depends only on its own text, the compile settings and the few
runway.lock entries its ModelDeployments read, never on another source file; the checks that
span files (duplicate names, the lock plan, the tree layout) run afterwards on summaries.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.core.diagnostics import Diagnostic, Location
from compiler.core.lockfile import ProviderPin


@dataclass(frozen=True, slots=True)
class CompiledDeployment:
    namespace: str
    name: str
    lock_key: str
    source: str
    provider: ProviderPin | None
    # The image this MD asks for (its own, else its provider's default) and whether it is
    # that default: the outage gate treats the two differently.
    image: str | None = None
    image_is_default: bool = False
    # The provider's own component images (routers, sidecars): catalog defaults, pinned too.
    component_images: tuple[str, ...] = ()
    # Where metadata.name is written, for the cross-file duplicate check.
    name_location: Location | None = None
    # The emitted manifest (one multi-document YAML stream); empty when this MD failed.
    manifest: bytes = b""
    # Digest of the runway.lock entries this MD read (its provider pin and image pin): a
    # cached outcome is reused only while these entries are unchanged.
    lock_digest: str = ""

    @property
    def images(self) -> tuple[str, ...]:
        """Every image reference this MD runs, as runway.lock keys them."""
        engine = (self.image,) if self.image is not None else ()
        return (*engine, *self.component_images)


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    deployments: tuple[CompiledDeployment, ...]
    diagnostics: tuple[Diagnostic, ...]
