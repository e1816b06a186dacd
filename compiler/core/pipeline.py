"""The pure compile pipeline: source texts in, manifests and diagnostics out.

    load (YAML + positions) -> documents (models) -> policy -> provider selection
      -> image pins -> provider renderer -> compiled ModelDeployment -> emit (bytes)

No clock, network, environment or randomness: the same inputs give the same bytes. Every
problem of every ModelDeployment is collected (not just the first); when any error remains,
no file is produced at all, so a broken spec can never make a GitOps tool prune a live model.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from compiler.core import cache, stamp
from compiler.core.compatibility import check_compatibility
from compiler.core.diagnostics import (
    Diagnostic,
    Location,
    error,
    has_errors,
    sort_diagnostics,
    warning,
)
from compiler.core.documents import parse_document
from compiler.core.emit import App, dump_objects, hydrated_tree
from compiler.core.errors import ImageError
from compiler.core.gitops import units
from compiler.core.images import classify, parse_reference
from compiler.core.kube import API_VERSION, KIND, KubeObject
from compiler.core.load import LoadLimits, SourceDocument, format_path, load_yaml
from compiler.core.lockfile import LockFile, ProviderPin, parse_lock
from compiler.core.model import (
    ModelDeployment,
    Overlay,
    Policy,
    ProjectConfig,
    ProviderCatalog,
)
from compiler.core.outcome import CompiledDeployment, SourceOutcome
from compiler.core.overlay import (
    check_overlay,
    clamp_replicas,
    mapped_namespace,
    mirrored_image,
    with_defaults,
)
from compiler.core.policy import (
    CheckContext,
    PolicySet,
    apply_overlay,
    apply_user_policies,
    builtin_policy_set,
    check_model_deployment,
    provider_immutability,
    unknown_provider,
)
from compiler.core.project import unknown_environment_message
from compiler.core.providers import PROVIDERS, ImagePlan, RenderContext, engine_image_plan
from compiler.core.providers.autoscaling import (
    check_autoscaling,
    release_replicas,
    render_autoscaler,
)
from compiler.core.providers.common import ignored_field_warnings
from compiler.core.providers.gateway import (
    EPP_ROLE,
    check_gateway,
    environment_gateway,
    gateway_facts,
    gateway_image_plan,
    gateway_on,
    label_endpoint_pods,
    render_gateway,
)
from compiler.core.providers.selection import EngineChoice, select_engine, select_provider
from compiler.core.recipe_materialise import materialise, needs_materialising
from compiler.core.recipes import content_sha256
from compiler.core.update_rules import same_record, update_record, update_violations
from compiler.core.vllm_args import OPTIONS_FILE, OptionTable

M = TypeVar("M", ProjectConfig, Overlay, LockFile, ProviderCatalog)


# The display path of runwayc's own files (built-in policies, catalog and overlays).
BUILTIN_PREFIX = "<builtin>/"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file's display path (relative to the repository, or under BUILTIN_PREFIX) and its
    text."""

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
    # Incremental compiles: what the edge read from the cache (see compiler.core.cache),
    # looked up and never changed. None: compile everything, record nothing.
    cache: cache.CacheView | None = None
    # The pinned recipe store: every file under recipes/, by repo-relative path.
    recipe_files: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompileOptions:
    env: str = "dev"
    locked: bool = False


@dataclass(frozen=True, slots=True)
class CompileResult:
    deployments: tuple[CompiledDeployment, ...]
    diagnostics: tuple[Diagnostic, ...]
    lock: LockFile
    # The hydrated tree of the environment, relative to rendered/<env>/; empty on errors.
    files: dict[str, bytes] = field(default_factory=dict)
    # What this compile would store in the cache (None when the inputs carried no cache):
    # its entries, the lock memo, and how many source files were reused.
    cache: cache.CacheUpdate | None = None

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
    recipe_files: Mapping[str, bytes] = field(default_factory=dict)

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
        return source_namespace_of(md.metadata.namespace, self.project)


def source_namespace_of(namespace: str | None, project: ProjectConfig | None) -> str:
    """An MD's own namespace, else runway.yaml's, else `default`: its runway.lock key's."""
    if namespace:
        return namespace
    if project is not None and project.namespace:
        return project.namespace
    return "default"


def resolve_policy(
    builtin: Sequence[SourceFile], user: Sequence[SourceFile]
) -> tuple[PolicySet, list[Diagnostic]]:
    """The built-in policy files merged with the user's (`policies/`); no overlay."""
    tables = [f for f in builtin if f.path.endswith(f"/{OPTIONS_FILE}")]
    builtin_docs, diagnostics = _policies([f for f in builtin if f not in tables], LoadLimits())
    policy = builtin_policy_set(p for p, _ in builtin_docs)
    if tables:
        options = OptionTable.parse(tables[0].text, tables[0].path)
        policy = replace(policy, vllm_options=options)
    user_docs, found = _policies(user, policy.limits)
    diagnostics.extend(found)
    policy, found = apply_user_policies(policy, user_docs)
    diagnostics.extend(found)
    return policy, diagnostics


def resolve_settings(
    inputs: CompileInputs, options: CompileOptions
) -> tuple[Settings | None, list[Diagnostic]]:
    settings, diagnostics, _ = _resolve_settings(inputs, options)
    return settings, diagnostics


def _resolve_settings(
    inputs: CompileInputs, options: CompileOptions
) -> tuple[Settings | None, list[Diagnostic], str | None]:
    """The settings, their problems, and the memo of runway.lock to keep (see `_read_lock`)."""
    diagnostics: list[Diagnostic] = []
    policy, found = resolve_policy(inputs.builtin_policies, inputs.user_policies)
    diagnostics.extend(found)
    # The repository's files are read within its policy's bounds (which it may tighten);
    # runwayc's own files (the catalog, a built-in overlay) within runwayc's.
    limits = policy.limits

    catalog, _, found = _single_model(inputs.catalog, ProviderCatalog, LoadLimits())
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
            diagnostics.append(
                error(
                    "UNKNOWN_ENVIRONMENT",
                    unknown_environment_message([options.env], project.environments),
                    project_doc.location(("environments",)),
                    "environments",
                )
            )

    lock, found, lock_memo = _read_lock(inputs.lock, limits, inputs.cache)
    diagnostics.extend(found)
    if options.locked and inputs.lock is not None:
        diagnostics.extend(check_recipe_pins(lock, inputs.lock, limits, inputs.recipe_files))

    overlay: Overlay | None = None
    if inputs.overlay is not None:
        builtin = inputs.overlay.path.startswith(BUILTIN_PREFIX)
        overlay_limits = LoadLimits() if builtin else limits
        overlay, overlay_doc, found = _single_model(inputs.overlay, Overlay, overlay_limits)
        diagnostics.extend(found)
        policy, found = apply_overlay(policy, overlay, overlay_doc)
        diagnostics.extend(found)
        if overlay is not None and overlay_doc is not None:
            diagnostics.extend(check_overlay(overlay, overlay_doc))

    if catalog is None or has_errors(diagnostics):
        return None, diagnostics, None
    settings = Settings(catalog, policy, lock, project, overlay, options.env, inputs.recipe_files)
    return settings, diagnostics, lock_memo


def _read_lock(
    source: SourceFile | None, limits: LoadLimits, view: cache.CacheView | None
) -> tuple[LockFile, list[Diagnostic], str | None]:
    """runway.lock (empty if absent), its problems, and the memo of it to keep (None when
    there is nothing to keep). With a cache, a lock that parsed cleanly is memoised as JSON
    under the hash of its text: the YAML of 10,000 pins takes half a second to read."""
    if source is None:
        return LockFile.empty(), [], None
    key = None
    if view is not None:
        key = cache.lock_memo_key(view.code, limits, source.text)
        memoised = cache.decode_lock(view.lock_memo, key) if view.lock_memo else None
        if memoised is not None:
            return memoised, [], view.lock_memo
    parsed, diagnostics = parse_lock(source.text, source.path, limits)
    if parsed is None or diagnostics:
        return LockFile.empty(), diagnostics, None
    if key is None:
        return parsed, diagnostics, None
    # Only a lock that parsed cleanly and agrees with itself is memoised, so a memo hit
    # needs neither check again.
    return parsed, diagnostics, cache.encode_lock(key, parsed)


def check_recipe_pins(
    lock: LockFile, lock_source: SourceFile, limits: LoadLimits, files: Mapping[str, bytes]
) -> list[Diagnostic]:
    """Under --locked, every vendored recipe file must still be the bytes that were pinned.
    runway.lock is read for positions only when a pin is broken (it may come from the memo)."""
    found = []
    lock_doc: SourceDocument | None = None
    for model_id, pin in sorted(lock.recipes.items()):
        for path, expected in sorted({pin.path: pin.sha256, **pin.files}.items()):
            content = files.get(path)
            actual = None if content is None else content_sha256(content)
            if actual == expected:
                continue
            state = (
                "is missing"
                if actual is None
                else (
                    f"does not match its pin (sha256 {actual[:12]}..., pinned {expected[:12]}...)"
                )
            )
            if lock_doc is None:
                lock_doc = _single_model(lock_source, LockFile, limits)[1]
            found.append(
                error(
                    "RECIPE_PIN_MISMATCH",
                    f"{path} {state}; run `runwayc recipe pull {model_id}` and review the change",
                    lock_doc.location(("recipes", model_id))
                    if lock_doc
                    else Location(lock_source.path, 1, 1),
                    f"recipes.{model_id}",
                )
            )
    return found


# --- one ModelDeployment ----------------------------------------------------------------------


def load_deployments(
    source: SourceFile, limits: LoadLimits
) -> tuple[list[tuple[ModelDeployment, SourceDocument]], list[Diagnostic]]:
    """Every ModelDeployment document of one source file, with the problems of the rest."""
    found_mds: list[tuple[ModelDeployment, SourceDocument]] = []
    loaded = load_yaml(source.text, source.path, limits)
    diagnostics = list(loaded.diagnostics)
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


SPEC: tuple[str, ...] = ("spec",)
MSG_LOCK_STALE = (
    "runway.lock records {key} as it was before this change (the fields AI Runway compares on "
    "update); run `runwayc lock` so the next change is checked against this one"
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
    requested = md.spec.provider.name if md.spec.provider else None
    # A name the catalog lacks is a typo (`vLLM`), not a change of provider: saying it is
    # immutable would send the user to delete and recreate a model over a spelling.
    diagnostics = unknown_provider(md, ctx, settings.catalog)
    if not diagnostics:
        diagnostics = provider_immutability(md, ctx, recorded.name if recorded else None)
    if recorded is not None and recorded.immutable is not None:
        diagnostics.extend(update_violations(md, ctx, recorded.immutable))
    if diagnostics:
        return None, diagnostics
    if locked and recorded is None:
        return None, [
            ctx.at(
                "PROVIDER_NOT_LOCKED",
                f"no provider is recorded in runway.lock for {lock_key}; run `runwayc lock`",
                ("metadata", "name"),
            )
        ]
    if requested:
        if recorded is not None:
            return recorded.model_copy(update={"name": requested}), []
        return ProviderPin(name=requested, reason=stamp.EXPLICIT_REASON), []
    if recorded is not None:
        return recorded, []
    selection = select_provider(settings.catalog, md)
    if selection.provider is None:
        return None, [ctx.at("NO_PROVIDER", selection.failure or "no provider matched", ("spec",))]
    return ProviderPin(name=selection.provider, reason=selection.reason), []


def choose_engine(
    md: ModelDeployment, ctx: CheckContext, settings: Settings, lock_key: str
) -> tuple[EngineChoice | None, list[Diagnostic]]:
    """The engine for one MD: spec.engine.type, else as recorded, else auto-selected.

    A recorded engine is sticky, as AI Runway's status.engine is: adding a GPU or changing
    the catalog later does not re-select it (`lock --forget` does). A lock written before
    engines were recorded has none, and the engine is selected as for a new model."""
    recorded = settings.lock.providers.get(lock_key)
    if md.engine_type is None and recorded is not None and recorded.engine is not None:
        return EngineChoice(recorded.engine, recorded.engine_reason or ""), []
    choice = select_engine(settings.catalog, md)
    if choice.engine is None:
        return None, [ctx.at("NO_ENGINE", choice.failure or "no engine matched", ("spec",))]
    return choice, []


def choose_image(
    requested: str | None,
    ctx: CheckContext,
    settings: Settings,
    locked: bool,
    path: tuple[str, ...] = ("spec", "engine", "image"),
    is_default: bool = False,
) -> tuple[str | None, dict[str, str], list[Diagnostic]]:
    """The image reference to render: the pinned digest when runway.lock has one.

    A tag rendered as written is never quiet: a warning, and `image-unpinned` in the facts
    saying why. A user's tag that `lock` could not resolve renders (AI Runway proceeds with
    it) unless the policy refuses unpinned user images; a default image with no digest is
    the outage gate's, refused under --locked whatever runway.lock says about it."""
    facts: dict[str, str] = {}
    if requested is None:
        return None, facts, []
    facts[stamp.IMAGE_REQUESTED] = requested
    try:
        image_class = classify(parse_reference(requested))
    except ImageError as exc:
        return None, facts, [ctx.at("INVALID_IMAGE", exc.message, path)]
    facts[stamp.IMAGE_SOURCE] = image_class.source
    facts[stamp.IMAGE_IN_NIGHTLY] = "true" if image_class.in_nightly else "false"
    pin = settings.lock.images.get(requested)
    if pin is not None and pin.digest is not None and pin.resolved is not None:
        facts[stamp.IMAGE_RESOLVED] = pin.resolved
        facts[stamp.IMAGE_DIGEST] = pin.digest
        return pin.resolved, facts, []
    if pin is not None and pin.unresolved_reason and not is_default:
        why = f"`runwayc lock` could not resolve it to a digest: {pin.unresolved_reason}"
        if settings.policy.refuses_unpinned_user_images:
            message = (
                f'image "{requested}" would run unpinned ({why}); the policy refuses unpinned '
                "user images (images.unpinnedUserImages: refuse): make the tag resolvable and "
                "run `runwayc lock`, or name the image by digest"
            )
            return None, facts, [ctx.at("IMAGE_UNPINNED", message, path)]
        facts[stamp.IMAGE_UNPINNED] = why
        message = f'image "{requested}" runs unpinned, by its tag as written ({why})'
        return requested, facts, [ctx.warning_at("IMAGE_UNRESOLVED", message, path)]
    message = f'image "{requested}" has no digest pin in runway.lock; run `runwayc lock`'
    if locked:
        return None, facts, [ctx.at("IMAGE_NOT_PINNED", message, path)]
    facts[stamp.IMAGE_UNPINNED] = "no digest pin in runway.lock (compiled without --locked)"
    return (
        requested,
        facts,
        [ctx.warning_at("IMAGE_NOT_PINNED", message + " (rendering the tag)", path)],
    )


def _image_path(md: ModelDeployment, plan: ImagePlan) -> tuple[str, ...]:
    """Where a diagnostic about the engine image points: the field that named it."""
    if plan.engine_is_default:
        return ("spec",)
    if md.spec.engine is not None and md.spec.engine.image:
        return ("spec", "engine", "image")
    return ("spec", "image")


def choose_images(
    md: ModelDeployment,
    ctx: CheckContext,
    settings: Settings,
    plan: ImagePlan,
    locked: bool,
) -> tuple[str | None, dict[str, str], dict[str, str], list[Diagnostic]]:
    """(engine image, its facts, component role -> image, diagnostics), all pinned and
    mirrored; None for the engine image when it is planned but unusable."""
    image, facts, diagnostics = choose_image(
        plan.engine, ctx, settings, locked, _image_path(md, plan), plan.engine_is_default
    )
    components: dict[str, str] = {}
    for role, reference in sorted(plan.components.items()):
        rendered, _, found = choose_image(
            reference, ctx, settings, locked, ("spec",), is_default=True
        )
        diagnostics.extend(found)
        if rendered is not None:
            components[role] = rendered
    mirrors = settings.overlay.image_mirrors if settings.overlay is not None else None
    if mirrors:
        if image is not None:
            image, mirror = mirrored_image(image, mirrors)
            if mirror is not None:
                facts[stamp.IMAGE_MIRROR] = mirror
        components = {role: mirrored_image(ref, mirrors)[0] for role, ref in components.items()}
    return image, facts, components, diagnostics


def compile_deployment(
    md: ModelDeployment, doc: SourceDocument, settings: Settings, options: CompileOptions
) -> tuple[CompiledDeployment, list[Diagnostic]]:
    """One ModelDeployment to its manifest bytes (empty when it has an error)."""
    lock_key = f"{settings.source_namespace(md)}/{md.name}"
    ctx = CheckContext(doc, settings.policy, lock_key in settings.lock.providers)
    namespace = mapped_namespace(
        settings.overlay,
        settings.source_namespace(md),
        md.metadata.namespace or settings.default_namespace(),
    )
    compiled = CompiledDeployment(
        namespace,
        md.name,
        lock_key,
        doc.file,
        None,
        name_location=doc.location(("metadata", "name")),
    )
    compiled, objects, diagnostics = _compile_objects(md, ctx, compiled, settings, options)
    manifest = dump_objects(objects).encode("utf-8") if objects else b""
    digest = cache.lock_digest(settings.lock, lock_key, compiled.images)
    return replace(compiled, manifest=manifest, lock_digest=digest), diagnostics


def _compile_objects(
    md: ModelDeployment,
    ctx: CheckContext,
    compiled: CompiledDeployment,
    settings: Settings,
    options: CompileOptions,
) -> tuple[CompiledDeployment, tuple[KubeObject, ...], list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    if needs_materialising(md):
        materialised, diagnostics = materialise(
            md, ctx.doc, settings.lock, settings.recipe_files, settings.policy
        )
        if materialised is None:
            return compiled, (), diagnostics
        md = materialised
    clamped = clamp_replicas(md, settings.overlay)
    # The autoscaling bounds are checked as written: an overlay's clamp must not hide them.
    as_written, md = md, clamped.md
    engine, found = choose_engine(md, ctx, settings, compiled.lock_key)
    diagnostics.extend(found)
    if engine is None or engine.engine is None:
        return compiled, (), diagnostics
    # Checks, selection and rendering see the engine that runs; the applied spec stays as
    # written (AI Runway records the choice in status.engine, not in the spec).
    md = md.with_selected_engine(engine.engine)
    diagnostics.extend(check_model_deployment(md, ctx))
    incompatible = check_compatibility(md, ctx, settings.catalog)
    if incompatible:
        return compiled, (), [*diagnostics, *incompatible]
    pin, found = choose_provider(md, ctx, settings, compiled.lock_key, options.locked)
    diagnostics.extend(found)
    if pin is not None:
        pin = pin.model_copy(update={"engine": engine.engine, "engine_reason": engine.reason})
    compiled = replace(compiled, provider=pin)
    if pin is None:
        return compiled, (), diagnostics
    record = update_record(md)
    if options.locked and pin.immutable is not None and not same_record(pin.immutable, record):
        diagnostics.append(ctx.at("LOCK_STALE", MSG_LOCK_STALE.format(key=compiled.lock_key), SPEC))
    entry = next(e for e in settings.catalog.providers if e.name == pin.name)
    provider = PROVIDERS.get(pin.name)
    plan = (provider.images if provider else engine_image_plan)(md, entry)
    plan = gateway_image_plan(plan, md, entry, settings.catalog, settings.project)
    compiled = replace(
        compiled,
        image=plan.engine,
        image_is_default=plan.engine_is_default,
        component_images=tuple(sorted(set(plan.components.values()))),
    )
    if provider is None:
        message = (
            f'provider "{pin.name}" has no renderer in this version of runwayc '
            f"(renderers: {', '.join(sorted(PROVIDERS))})"
        )
        diagnostics.append(ctx.at("NO_RENDERER", message, ("spec", "provider", "name")))
        return compiled, (), diagnostics
    diagnostics.extend(provider.check(md, ctx))
    diagnostics.extend(check_autoscaling(as_written, ctx, pin.name))
    gateway = environment_gateway(settings.project, options.env)
    diagnostics.extend(check_gateway(md, ctx, pin.name, entry, options.env, gateway))
    diagnostics.extend(ignored_field_warnings(md, ctx, entry))
    if not gateway_on(md, gateway):
        # The picker is planned (and pinned) wherever some environment routes the model; it
        # is checked only where it renders.
        plan = replace(plan, components={k: v for k, v in plan.components.items() if k != EPP_ROLE})
    image, facts, component_images, found = choose_images(md, ctx, settings, plan, options.locked)
    diagnostics.extend(found)
    if has_errors(diagnostics) or (plan.engine is not None and image is None):
        return compiled, (), diagnostics
    context = RenderContext(
        md, ctx.doc, compiled.namespace, image, settings.policy, component_images
    )
    result = provider.render(context)
    diagnostics.extend(result.diagnostics)
    if has_errors(diagnostics):
        return compiled, (), diagnostics
    overlay = settings.overlay
    facts = {stamp.PROVIDER: pin.name, stamp.PROVIDER_REASON: pin.reason, **facts}
    if md.engine_type is None:
        # Only a selected engine is stamped: one the spec names is in the applied spec.
        facts[stamp.ENGINE] = engine.engine
        facts[stamp.ENGINE_REASON] = engine.reason
    warnings = sum(1 for d in diagnostics if not d.is_error)
    facts[stamp.POLICY] = stamp.policy_verdict(warnings)
    facts[stamp.ENVIRONMENT] = options.env
    if clamped.note is not None:
        facts[stamp.REPLICAS_CLAMPED] = f"{clamped.note} (overlay {options.env})"
    if gateway is not None and gateway_on(md, gateway):
        facts.update(gateway_facts(md, compiled.namespace, pin.name, entry, gateway))
    rendered = [
        *release_replicas(result.objects, md),
        *render_autoscaler(md, compiled.namespace, settings.policy.autoscaling),
    ]
    if gateway is not None and gateway_on(md, gateway):
        # After the autoscaler: the picker's own Deployment keeps its one replica.
        rendered = [
            *label_endpoint_pods(rendered, md),
            *render_gateway(
                md, compiled.namespace, pin.name, entry, gateway, component_images.get(EPP_ROLE)
            ),
        ]
    objects = with_defaults(
        (stamp.stamp_model_deployment(md, compiled.namespace, facts), *rendered),
        overlay.labels if overlay else None,
        overlay.annotations if overlay else None,
    )
    # Only a spec that compiles becomes the next update's "old object": recording a broken
    # one would hold its fix to a spec that never reached the cluster.
    compiled = replace(compiled, provider=pin.model_copy(update={"immutable": record}))
    return compiled, tuple(objects), diagnostics


def compile_source(
    source: SourceFile, settings: Settings, options: CompileOptions
) -> SourceOutcome:
    """Everything one source file compiles to; depends on no other source file."""
    mds, diagnostics = load_deployments(source, settings.policy.limits)
    compiled = []
    for md, doc in mds:
        item, found = compile_deployment(md, doc, settings, options)
        compiled.append(item)
        diagnostics.extend(found)
    return SourceOutcome(tuple(compiled), tuple(diagnostics))


def _duplicates(compiled: Sequence[CompiledDeployment]) -> list[Diagnostic]:
    seen: dict[tuple[str, str], CompiledDeployment] = {}
    diagnostics = []
    for item in compiled:
        key = (item.namespace, item.name)
        first = seen.get(key)
        if first is None:
            seen[key] = item
            continue
        here = item.name_location or Location(item.source)
        diagnostics.append(
            error(
                "DUPLICATE_DEPLOYMENT",
                f"ModelDeployment {key[0]}/{key[1]} is defined twice: here and at "
                f"{first.name_location or Location(first.source)}",
                here,
                "metadata.name",
            )
        )
    return diagnostics


MSG_LARGE_UNIT = (
    "{what} holds {count} ModelDeployments in environment {env}, more than "
    "syncUnits.maxModelsPerUnit ({limit}): its sync unit (rendered/{env}/{unit}) is one "
    "kustomize build for Argo CD or Flux, whose cost grows with the square of the objects in "
    "it (about 1 s for 100 models, 6-48 s for 500 on 2 CPUs; Argo CD's repo-server gives up "
    "after 90 s): split the namespace with syncUnits.shards.{namespace}: {suggested} in "
    "runway.yaml (which moves models between Argo CD Applications or Flux Kustomizations: "
    "read the README's section on sharding first)"
)


def _large_units(
    ordered: Sequence[CompiledDeployment],
    limit: int | None,
    shards: Mapping[str, int],
    options: CompileOptions,
) -> list[Diagnostic]:
    """One warning per unit past the limit, at the first of its models past it, with a shard
    count that would bring the namespace to half the limit per unit on average (the hash
    spreads unevenly, so the average has room)."""
    if limit is None:
        return []
    found: list[Diagnostic] = []
    for namespace, group in itertools.groupby(ordered, key=lambda c: c.namespace):
        models = list(group)
        by_unit: dict[str, list[CompiledDeployment]] = {}
        for model in models:
            by_unit.setdefault(units.unit_of(namespace, model.name, shards), []).append(model)
        count = shards.get(namespace, 1)
        suggested = max(count + 1, -(-2 * len(models) // limit))  # the ceiling of 2N / limit
        for unit, members in sorted(by_unit.items()):
            if len(members) <= limit:
                continue
            what = f"namespace {namespace}"
            if unit != namespace:
                what = f"shard {unit.removeprefix(namespace + units.SHARD_SEPARATOR)} of {what}"
            message = MSG_LARGE_UNIT.format(
                what=what,
                count=len(members),
                env=options.env,
                limit=limit,
                unit=unit,
                namespace=namespace,
                suggested=suggested,
            )
            first = members[limit]
            where = first.name_location or Location(first.source)
            found.append(warning("SYNC_UNIT_LARGE", message, where, "metadata.name"))
    return found


MSG_UNUSED_SHARDS = (
    "syncUnits.shards names namespace {namespace}, which no environment renders a "
    "ModelDeployment into, so nothing is split: the key is the namespace as rendered (after "
    "an overlay's namespace and namespaces mapping)"
)


def rendered_namespaces(result: CompileResult) -> frozenset[str] | None:
    """The namespaces a compile's models render into; None when it does not compile."""
    return frozenset(c.namespace for c in result.deployments) if result.ok else None


def unused_shards(
    source: SourceFile | None, rendered: Mapping[str, frozenset[str] | None]
) -> list[Diagnostic]:
    """For a check of every environment (`rendered`: environment -> the namespaces its
    models render into, None when it does not compile): each `syncUnits.shards` key no
    environment uses, at its line. A misspelt key would otherwise leave the namespace it
    meant in one slow unit, quietly. Nothing is said while an environment does not compile:
    what it renders is not known."""
    if source is None or not rendered or None in rendered.values():
        return []
    project, doc, _ = _single_model(source, ProjectConfig, LoadLimits())
    if project is None or doc is None:
        return []
    used = frozenset().union(*(n for n in rendered.values() if n is not None))
    return [
        warning(
            "SYNC_UNIT_SHARDS_UNUSED",
            MSG_UNUSED_SHARDS.format(namespace=namespace),
            doc.location(("syncUnits", "shards", namespace)),
            f"syncUnits.shards.{namespace}",
        )
        for namespace in sorted(project.shards())
        if namespace not in used
    ]


# How the misses of a compile are mapped over: `map` here; the edge may pass a parallel map.
Work = Callable[[SourceFile], SourceOutcome]
Mapper = Callable[[Work, Sequence[SourceFile]], Iterable[SourceOutcome]]


def _serial_map(function: Work, sources: Sequence[SourceFile]) -> list[SourceOutcome]:
    return [function(source) for source in sources]


def _fingerprint(inputs: CompileInputs, options: CompileOptions, code: str) -> str:
    texts = [inputs.catalog, *sorted(inputs.builtin_policies, key=lambda f: f.path)]
    texts += sorted(inputs.user_policies, key=lambda f: f.path)
    texts += [f for f in (inputs.project, inputs.overlay) if f is not None]
    return cache.settings_fingerprint(
        ((f.path, f.text) for f in texts),
        code,
        (
            f"env={options.env}",
            f"locked={options.locked}",
            # Compile-time recipes read the store: a changed recipe file invalidates outcomes.
            "recipes="
            + ",".join(
                f"{path}:{content_sha256(content)}"
                for path, content in sorted(inputs.recipe_files.items())
            ),
        ),
    )


def compile_project(
    inputs: CompileInputs,
    options: CompileOptions,
    forget: frozenset[str] = frozenset(),
    mapper: Mapper = _serial_map,
) -> CompileResult:
    """Compile one environment. Pure: same inputs, same result, byte for byte.

    `forget` drops provider pins before compiling: the delete-and-recreate path of `lock`.
    `mapper` maps the per-file compile over the files the cache does not answer; whatever
    it is (the edge may fan out over processes), the result is the same.
    """
    settings, diagnostics, lock_memo = _resolve_settings(inputs, options)
    diagnostics.extend(inputs.read_diagnostics)
    if settings is None:
        return CompileResult((), tuple(sort_diagnostics(diagnostics)), LockFile.empty())
    if forget:
        kept = {k: v for k, v in settings.lock.providers.items() if k not in forget}
        settings = replace(settings, lock=settings.lock.model_copy(update={"providers": kept}))
    sources = sorted(inputs.deployments, key=lambda s: s.path)
    keys: list[str] = []
    outcomes: dict[int, SourceOutcome] = {}
    view = inputs.cache
    if view is not None:
        fingerprint = _fingerprint(inputs, options, view.code)
        keys = [cache.entry_key(fingerprint, s.path, s.text) for s in sources]
        digests = cache.LockDigests(settings.lock)
        for index, key in enumerate(keys):
            hit = cache.lookup(view.entries, key, digests)
            if hit is not None:
                outcomes[index] = hit
    reused = len(outcomes)
    misses = [i for i in range(len(sources)) if i not in outcomes]
    missed = set(misses)

    def work(source: SourceFile) -> SourceOutcome:
        return compile_source(source, settings, options)

    for index, outcome in zip(misses, mapper(work, [sources[i] for i in misses]), strict=True):
        outcomes[index] = outcome
    compiled: list[CompiledDeployment] = []
    for index in range(len(sources)):
        compiled.extend(outcomes[index].deployments)
        diagnostics.extend(outcomes[index].diagnostics)
    diagnostics.extend(_duplicates(compiled))
    ordered = sorted(compiled, key=lambda c: (c.namespace, c.name, c.source))
    shards = settings.project.shards() if settings.project is not None else {}
    diagnostics.extend(_large_units(ordered, settings.policy.max_models_per_unit, shards, options))
    final = tuple(sort_diagnostics(diagnostics))
    files: dict[str, bytes] = {}
    if not has_errors(final):
        files = hydrated_tree(
            options.env, (App(c.namespace, c.name, c.source, c.manifest) for c in ordered), shards
        )
    update = None
    if view is not None:
        # Hits keep the very strings the view held; only what was compiled now is encoded.
        entries = {
            key: view.entries[key] if i not in missed else cache.encode(outcomes[i])
            for i, key in enumerate(keys)
        }
        update = cache.CacheUpdate(entries, lock_memo, reused)
    return CompileResult(tuple(ordered), final, settings.lock, files, update)


def read_project(source: SourceFile | None) -> tuple[ProjectConfig | None, list[Diagnostic]]:
    """runway.yaml alone, for commands that must know the environments before compiling."""
    if source is None:
        return None, []
    project, _, diagnostics = _single_model(source, ProjectConfig, LoadLimits())
    return project, diagnostics
