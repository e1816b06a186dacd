"""The rules `runwayc lock` follows around the pin planning of `pins` (pure).

runway.lock is the record that makes a provider immutable and an image digest stable, so a
pin goes only when its ModelDeployment is gone from the repository. A spec that fails to
parse is still there: its pins are kept (it is reported as an error), and when a file cannot
be read far enough to name its ModelDeployments, nothing unaccounted for is pruned at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from compiler.core.diagnostics import Diagnostic, has_errors
from compiler.core.load import LoadLimits, load_yaml
from compiler.core.lockfile import LockFile, ProviderPin
from compiler.core.model import ProjectConfig
from compiler.core.pins import ImageNeed
from compiler.core.pipeline import CompileResult, SourceFile, source_namespace_of


def config_broken(result: CompileResult) -> bool:
    """True when runway.lock or the configuration could not be read: never overwrite then."""
    return not result.deployments and has_errors(result.diagnostics)


def unknown_updates(update: Iterable[str], needs: Mapping[str, ImageNeed]) -> list[str]:
    """The `--update` references no ModelDeployment uses, sorted (an error: a typo must not
    pass as a no-op)."""
    return sorted(set(update) - set(needs))


@dataclass(frozen=True, slots=True)
class ModelsSeen:
    """The ModelDeployments a `lock` run found in the repository, compiled or not."""

    # The lock key of every ModelDeployment named in a source file, broken ones included.
    keys: frozenset[str]
    # Every source file was read far enough to name its ModelDeployments: a recorded
    # provider no key names is of a deleted model.
    every_file_named: bool
    # Every ModelDeployment got as far as choosing its images: an image pin none of them
    # uses is unused. Otherwise a broken spec may be the one that uses it.
    every_image_known: bool


def models_seen(
    result: CompileResult,
    sources: Sequence[SourceFile],
    read_problems: Sequence[Diagnostic],
    project: ProjectConfig | None,
) -> ModelsSeen:
    """What `result` compiled, plus the ModelDeployments its broken files still name.

    Only a file with an error is read again (leniently: any document with a string
    `metadata.name` names a model), so a clean repository is parsed once."""
    keys = {item.lock_key for item in result.deployments}
    broken = {d.location.file for d in result.diagnostics if d.is_error}
    every_file_named = not has_errors(read_problems)
    every_image_known = every_file_named and all(
        item.provider is not None for item in result.deployments
    )
    for source in sources:
        if source.path not in broken:
            continue
        named = _models_named(source, project)
        if named is None:
            every_file_named = every_image_known = False
            continue
        if not named <= keys:
            every_image_known = False  # a model that did not compile
        keys |= named
    return ModelsSeen(frozenset(keys), every_file_named, every_image_known)


def _models_named(source: SourceFile, project: ProjectConfig | None) -> frozenset[str] | None:
    """The lock keys of the documents of a broken file; None when one cannot be named."""
    loaded = load_yaml(source.text, source.path, LoadLimits())
    if has_errors(loaded.diagnostics):
        return None
    keys = set()
    for doc in loaded.documents:
        metadata = doc.data.get("metadata") if isinstance(doc.data, dict) else None
        if not isinstance(metadata, dict):
            return None
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if not isinstance(name, str) or not name or not isinstance(namespace, str | None):
            return None
        keys.add(f"{source_namespace_of(namespace, project)}/{name}")
    return frozenset(keys)


def plan_provider_lock(
    result: CompileResult, seen: ModelsSeen
) -> tuple[LockFile, list[tuple[str, ProviderPin]]]:
    """runway.lock after `lock`: every MD's provider, and the pins of deleted MDs pruned
    (returned too, so `lock` can say which).

    An MD that failed before a provider was chosen keeps its recorded pin, and so does one
    whose spec did not parse: a broken spec must not erase the record that makes its
    provider immutable. `result.lock` no longer holds the pins `--forget` named."""
    recorded = result.lock.providers
    providers: dict[str, ProviderPin] = {}
    for item in result.deployments:
        pin = item.provider or recorded.get(item.lock_key)
        if pin is not None:
            providers[item.lock_key] = pin
    pruned = []
    for key, pin in recorded.items():
        if key in providers:
            continue
        if key in seen.keys or not seen.every_file_named:
            providers[key] = pin
        else:
            pruned.append((key, pin))
    lock = result.lock.model_copy(update={"providers": dict(sorted(providers.items()))})
    return lock, sorted(pruned, key=lambda item: item[0])
