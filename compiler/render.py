"""The pure compile pipeline: source texts in, manifests and diagnostics out.

    load (YAML + positions) -> documents (models) -> policy -> provider selection
      -> image pins -> provider renderer -> compiled ModelDeployment -> emit (bytes)

No clock, network, environment or randomness: the same inputs give the same bytes. Every
problem of every ModelDeployment is collected (not just the first); when any error remains,
no file is produced at all, so a broken spec can never make a GitOps tool prune a live model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from compiler.diagnostics import Diagnostic, Location, error, has_errors, sort_diagnostics, warning
from compiler.documents import parse_document
from compiler.emit import KubeObject, render_tree
from compiler.errors import ImageError
from compiler.images import classify, parse_reference
from compiler.load import LoadLimits, SourceDocument, format_path, load_yaml
from compiler.lockfile import LockFile, ProviderPin
from compiler.model import (
    API_VERSION,
    KIND,
    ModelDeployment,
    Overlay,
    Policy,
    ProjectConfig,
    ProviderCatalog,
)
from compiler.policy import (
    CheckContext,
    PolicySet,
    apply_overlay,
    apply_user_policies,
    builtin_policy_set,
    check_model_deployment,
    provider_immutability,
)
from compiler.providers import PROVIDER_CHECKS, RENDERERS, RenderContext
from compiler.providers.selection import select_provider

M = TypeVar("M", ProjectConfig, Overlay, LockFile, ProviderCatalog)

ANNOTATION_PREFIX = "runwayc.dev/"
EXPLICIT_REASON = "explicit: spec.provider.name"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file's display path (relative to the repository) and its text."""

    path: str
    text: str


@dataclass(frozen=True, slots=True)
class CompileInputs:
    """Everything a compile reads, already read: the I/O edge (`workspace`) builds this."""

    catalog: SourceFile
    builtin_policies: tuple[SourceFile, ...]
    deployments: tuple[SourceFile, ...]
    project: SourceFile | None = None
    lock: SourceFile | None = None
    overlay: SourceFile | None = None
    user_policies: tuple[SourceFile, ...] = ()
    # Problems met while reading (a file that is not UTF-8, say): reported with the rest.
    read_diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True, slots=True)
class CompileOptions:
    env: str = "dev"
    locked: bool = False


@dataclass(frozen=True, slots=True)
class CompiledDeployment:
    namespace: str
    name: str
    lock_key: str
    source: str
    provider: ProviderPin | None
    objects: tuple[KubeObject, ...] = ()
    # The image this MD asks for (its own, else its provider's default) and whether it is
    # that default: the outage gate treats the two differently.
    image: str | None = None
    image_is_default: bool = False


@dataclass(frozen=True, slots=True)
class CompileResult:
    deployments: tuple[CompiledDeployment, ...]
    diagnostics: tuple[Diagnostic, ...]
    lock: LockFile
    # The hydrated tree of the environment, relative to rendered/<env>/; empty on errors.
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


# --- configuration documents ------------------------------------------------------------------


def _single_model(
    source: SourceFile, model: type[M], limits: LoadLimits
) -> tuple[M | None, SourceDocument | None, list[Diagnostic]]:
    loaded = load_yaml(source.text, source.path, limits)
    diagnostics = list(loaded.diagnostics)
    if diagnostics:
        return None, None, diagnostics
    if len(loaded.documents) != 1:
        message = f"expected exactly one YAML document, found {len(loaded.documents)}"
        return None, None, [error("CONFIG_DOCUMENTS", message, Location(source.path, 1, 1))]
    doc = loaded.documents[0]
    parsed, found = parse_document(doc, model)
    return parsed, doc, found


def _policies(
    sources: Sequence[SourceFile], limits: LoadLimits
) -> tuple[list[tuple[Policy, SourceDocument]], list[Diagnostic]]:
    policies: list[tuple[Policy, SourceDocument]] = []
    diagnostics: list[Diagnostic] = []
    for source in sorted(sources, key=lambda s: s.path):
        loaded = load_yaml(source.text, source.path, limits)
        diagnostics.extend(loaded.diagnostics)
        for doc in loaded.documents:
            policy, found = parse_document(doc, Policy)
            diagnostics.extend(found)
            if policy is not None:
                policies.append((policy, doc))
    return policies, diagnostics


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration of one compile."""

    catalog: ProviderCatalog
    policy: PolicySet
    lock: LockFile
    project: ProjectConfig | None
    overlay: Overlay | None
    env: str

    def default_namespace(self) -> str:
        """Overlay, then the environment entry, then runway.yaml, then `default`."""
        if self.overlay is not None and self.overlay.namespace:
            return self.overlay.namespace
        if self.project is not None:
            env = self.project.environments.get(self.env)
            if env is not None and env.namespace:
                return env.namespace
            if self.project.namespace:
                return self.project.namespace
        return "default"

    def source_namespace(self, md: ModelDeployment) -> str:
        """The environment-independent namespace that keys an MD in runway.lock."""
        if md.metadata.namespace:
            return md.metadata.namespace
        if self.project is not None and self.project.namespace:
            return self.project.namespace
        return "default"


def resolve_settings(
    inputs: CompileInputs, options: CompileOptions
) -> tuple[Settings | None, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    builtin, found = _policies(inputs.builtin_policies, LoadLimits())
    diagnostics.extend(found)
    policy = builtin_policy_set(p for p, _ in builtin)
    limits = policy.limits

    catalog, _, found = _single_model(inputs.catalog, ProviderCatalog, limits)
    diagnostics.extend(found)

    project: ProjectConfig | None = None
    if inputs.project is not None:
        project, project_doc, found = _single_model(inputs.project, ProjectConfig, limits)
        diagnostics.extend(found)
        if (
            project is not None
            and project_doc is not None
            and options.env not in project.environments
        ):
            known = ", ".join(sorted(project.environments)) or "none"
            diagnostics.append(
                error(
                    "UNKNOWN_ENVIRONMENT",
                    f'environment "{options.env}" is not listed in runway.yaml (known: {known})',
                    project_doc.location(("environments",)),
                    "environments",
                )
            )

    lock = LockFile.empty()
    if inputs.lock is not None:
        parsed_lock, _, found = _single_model(inputs.lock, LockFile, limits)
        diagnostics.extend(found)
        lock = parsed_lock or lock

    user, found = _policies(inputs.user_policies, limits)
    diagnostics.extend(found)
    policy, found = apply_user_policies(policy, user)
    diagnostics.extend(found)

    overlay: Overlay | None = None
    if inputs.overlay is not None:
        overlay, overlay_doc, found = _single_model(inputs.overlay, Overlay, limits)
        diagnostics.extend(found)
        policy, found = apply_overlay(policy, overlay, overlay_doc)
        diagnostics.extend(found)

    if catalog is None or has_errors(diagnostics):
        return None, diagnostics
    return Settings(catalog, policy, lock, project, overlay, options.env), diagnostics


# --- one ModelDeployment ----------------------------------------------------------------------


def load_deployments(
    sources: Sequence[SourceFile], limits: LoadLimits
) -> tuple[list[tuple[ModelDeployment, SourceDocument]], list[Diagnostic]]:
    """Every ModelDeployment document of every source file, in a discovery-independent order."""
    found_mds: list[tuple[ModelDeployment, SourceDocument]] = []
    diagnostics: list[Diagnostic] = []
    for source in sorted(sources, key=lambda s: s.path):
        loaded = load_yaml(source.text, source.path, limits)
        diagnostics.extend(loaded.diagnostics)
        for doc in loaded.documents:
            kind_problem = _kind_problem(doc)
            if kind_problem is not None:
                diagnostics.append(kind_problem)
                continue
            md, problems = parse_document(doc, ModelDeployment)
            diagnostics.extend(problems)
            if md is not None:
                found_mds.append((md, doc))
    return found_mds, diagnostics


def _kind_problem(doc: SourceDocument) -> Diagnostic | None:
    data = doc.data
    if not isinstance(data, dict):
        shape = "list" if isinstance(data, list) else "scalar"
        return error(
            "NOT_A_MAPPING",
            f"expected a ModelDeployment mapping with apiVersion and kind, got a {shape}",
            doc.location(),
        )
    api_version: Any = data.get("apiVersion")
    kind: Any = data.get("kind")
    if api_version == API_VERSION and kind == KIND:
        return None
    if api_version is None or kind is None:
        missing = "apiVersion" if api_version is None else "kind"
        return error(
            "MISSING_FIELD",
            f'required field "{missing}" is missing (expected {API_VERSION} {KIND})',
            doc.location(),
            missing,
        )
    path = ("kind",) if api_version == API_VERSION else ("apiVersion",)
    return error(
        "WRONG_KIND",
        f"expected apiVersion {API_VERSION} and kind {KIND}, got {str(api_version)[:100]} "
        f"{str(kind)[:100]}",
        doc.location(path),
        format_path(path),
    )


def choose_provider(
    md: ModelDeployment,
    ctx: CheckContext,
    settings: Settings,
    lock_key: str,
    locked: bool,
) -> tuple[ProviderPin | None, list[Diagnostic]]:
    """The provider for one MD: explicit, else as recorded, else auto-selected (unless locked)."""
    recorded = settings.lock.providers.get(lock_key)
    diagnostics = provider_immutability(md, ctx, recorded.name if recorded else None)
    if diagnostics:
        return None, diagnostics
    requested = md.spec.provider.name if md.spec.provider else None
    if locked and recorded is None:
        return None, [
            ctx.at(
                "PROVIDER_NOT_LOCKED",
                f"no provider is recorded in runway.lock for {lock_key}; run `runwayc lock`",
                ("metadata", "name"),
            )
        ]
    if requested:
        known = {entry.name for entry in settings.catalog.providers}
        if requested not in known:
            message = (
                f'InferenceProviderConfig "{requested}" not found '
                f"(the catalog has: {', '.join(sorted(known))})"
            )
            return None, [ctx.at("UNKNOWN_PROVIDER", message, ("spec", "provider", "name"))]
        return ProviderPin(
            name=requested, reason=recorded.reason if recorded else EXPLICIT_REASON
        ), []
    if recorded is not None:
        return recorded, []
    selection = select_provider(settings.catalog, md)
    if selection.provider is None:
        return None, [ctx.at("NO_PROVIDER", selection.failure or "no provider matched", ("spec",))]
    return ProviderPin(name=selection.provider, reason=selection.reason), []


def choose_image(
    md: ModelDeployment,
    ctx: CheckContext,
    settings: Settings,
    provider: str,
    locked: bool,
) -> tuple[str | None, dict[str, str], list[Diagnostic]]:
    """The image reference to render: the pinned digest when runway.lock has one."""
    requested = md.engine_image()
    path: tuple[str, ...] = ("spec", "engine", "image")
    if requested is None:
        entry = next(e for e in settings.catalog.providers if e.name == provider)
        requested = entry.default_image
        path = ("spec",)
    facts: dict[str, str] = {}
    if requested is None:
        return None, facts, []
    facts["image-requested"] = requested
    try:
        image_class = classify(parse_reference(requested))
    except ImageError as exc:
        return None, facts, [ctx.at("INVALID_IMAGE", exc.message, path)]
    facts["image-source"] = image_class.source
    facts["image-in-nightly"] = "true" if image_class.in_nightly else "false"
    pin = settings.lock.images.get(requested)
    if pin is not None and pin.digest is not None and pin.resolved is not None:
        facts["image-resolved"] = pin.resolved
        facts["image-digest"] = pin.digest
        return pin.resolved, facts, []
    if pin is not None and pin.unresolved_reason:
        message = (
            f'image "{requested}" could not be resolved to a digest ({pin.unresolved_reason}); '
            "rendering the tag as written"
        )
        return requested, facts, [_warn(ctx, "IMAGE_UNRESOLVED", message, path)]
    message = f'image "{requested}" has no digest pin in runway.lock; run `runwayc lock`'
    if locked:
        return None, facts, [ctx.at("IMAGE_NOT_PINNED", message, path)]
    return (
        requested,
        facts,
        [_warn(ctx, "IMAGE_NOT_PINNED", message + " (rendering the tag)", path)],
    )


def _warn(ctx: CheckContext, code: str, message: str, path: tuple[str, ...]) -> Diagnostic:
    return warning(code, message, ctx.doc.location(path), format_path(path))


def spec_hash(spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def compiled_model_deployment(
    md: ModelDeployment, namespace: str, facts: dict[str, str]
) -> KubeObject:
    """The MD as applied to the cluster: its spec, plus compile facts as annotations."""
    spec: dict[str, Any] = md.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    annotations = dict(md.metadata.annotations or {})
    annotations.update({ANNOTATION_PREFIX + key: value for key, value in facts.items()})
    annotations[ANNOTATION_PREFIX + "spec-hash"] = spec_hash(spec)
    metadata: dict[str, Any] = {"name": md.name, "namespace": namespace}
    if md.metadata.labels:
        metadata["labels"] = dict(md.metadata.labels)
    metadata["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def compile_deployment(
    md: ModelDeployment, doc: SourceDocument, settings: Settings, options: CompileOptions
) -> tuple[CompiledDeployment, list[Diagnostic]]:
    ctx = CheckContext(doc, settings.policy)
    namespace = md.metadata.namespace or settings.default_namespace()
    lock_key = f"{settings.source_namespace(md)}/{md.name}"
    diagnostics = check_model_deployment(md, ctx)
    pin, found = choose_provider(md, ctx, settings, lock_key, options.locked)
    diagnostics.extend(found)
    compiled = CompiledDeployment(namespace, md.name, lock_key, doc.file, pin)
    if pin is None:
        return compiled, diagnostics
    requested_image = md.engine_image()
    is_default = requested_image is None
    if requested_image is None:
        entry = next(e for e in settings.catalog.providers if e.name == pin.name)
        requested_image = entry.default_image
    compiled = replace(compiled, image=requested_image, image_is_default=is_default)
    provider_check = PROVIDER_CHECKS.get(pin.name)
    if provider_check is not None:
        diagnostics.extend(provider_check(md, ctx))
    renderer = RENDERERS.get(pin.name)
    if renderer is None:
        message = (
            f'provider "{pin.name}" has no renderer in this version of runwayc '
            f"(renderers: {', '.join(sorted(RENDERERS))})"
        )
        diagnostics.append(ctx.at("NO_RENDERER", message, ("spec", "provider", "name")))
        return compiled, diagnostics
    image, facts, found = choose_image(md, ctx, settings, pin.name, options.locked)
    diagnostics.extend(found)
    if has_errors(diagnostics) or image is None:
        return compiled, diagnostics
    result = renderer(RenderContext(md, doc, namespace, image, settings.policy))
    diagnostics.extend(result.diagnostics)
    if has_errors(diagnostics):
        return compiled, diagnostics
    facts = {"provider": pin.name, "provider-reason": pin.reason, **facts}
    warnings = sum(1 for d in diagnostics if not d.is_error)
    facts["policy"] = "passed" if not warnings else f"passed with {warnings} warning(s)"
    facts["environment"] = options.env
    objects = (compiled_model_deployment(md, namespace, facts), *result.objects)
    return (
        replace(compiled, objects=objects),
        diagnostics,
    )


def _duplicates(
    compiled: Sequence[CompiledDeployment], docs: Sequence[SourceDocument]
) -> list[Diagnostic]:
    seen: dict[tuple[str, str], SourceDocument] = {}
    diagnostics = []
    for item, doc in zip(compiled, docs, strict=True):
        key = (item.namespace, item.name)
        first = seen.get(key)
        if first is None:
            seen[key] = doc
            continue
        where = first.location(("metadata", "name"))
        diagnostics.append(
            error(
                "DUPLICATE_DEPLOYMENT",
                f"ModelDeployment {key[0]}/{key[1]} is defined twice: here and at {where}",
                doc.location(("metadata", "name")),
                "metadata.name",
            )
        )
    return diagnostics


def compile_project(
    inputs: CompileInputs, options: CompileOptions, forget: frozenset[str] = frozenset()
) -> CompileResult:
    """Compile one environment. Pure: same inputs, same result, byte for byte.

    `forget` drops provider pins before compiling: the delete-and-recreate path of `lock`.
    """
    settings, diagnostics = resolve_settings(inputs, options)
    diagnostics.extend(inputs.read_diagnostics)
    if settings is None:
        return CompileResult((), tuple(sort_diagnostics(diagnostics)), LockFile.empty())
    if forget:
        kept = {k: v for k, v in settings.lock.providers.items() if k not in forget}
        settings = replace(settings, lock=settings.lock.model_copy(update={"providers": kept}))
    mds, found = load_deployments(inputs.deployments, settings.policy.limits)
    diagnostics.extend(found)
    compiled: list[CompiledDeployment] = []
    for md, doc in mds:
        item, found = compile_deployment(md, doc, settings, options)
        compiled.append(item)
        diagnostics.extend(found)
    diagnostics.extend(_duplicates(compiled, [doc for _, doc in mds]))
    ordered = sorted(compiled, key=lambda c: (c.namespace, c.name, c.source))
    final = tuple(sort_diagnostics(diagnostics))
    files: dict[str, bytes] = {}
    if not has_errors(final):
        files = render_tree({(c.namespace, c.name): c.objects for c in ordered})
    return CompileResult(tuple(ordered), final, settings.lock, files)


def read_project(source: SourceFile | None) -> tuple[ProjectConfig | None, list[Diagnostic]]:
    """runway.yaml alone, for commands that must know the environments before compiling."""
    if source is None:
        return None, []
    project, _, diagnostics = _single_model(source, ProjectConfig, LoadLimits())
    return project, diagnostics


def plan_provider_lock(result: CompileResult, forget: frozenset[str]) -> LockFile:
    """runway.lock after `lock`: every MD's provider, pins of vanished MDs pruned.

    An MD that failed before a provider was chosen keeps its recorded pin: a broken spec must
    not erase the record that makes its provider immutable.
    """
    providers: dict[str, ProviderPin] = {}
    for item in result.deployments:
        recorded = None if item.lock_key in forget else result.lock.providers.get(item.lock_key)
        pin = item.provider or recorded
        if pin is not None:
            providers[item.lock_key] = pin
    return result.lock.model_copy(update={"providers": dict(sorted(providers.items()))})
