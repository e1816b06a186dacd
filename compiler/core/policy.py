"""The policy engine: AI Runway's admission rules, moved left into the compile step.

Every limit comes from policy data (`policies/*.yaml`, then the user's `policies/`, then the
environment's overlay); nothing here is a literal limit. User data may extend or tighten the
built-in rules; loosening one needs an explicit, named waiver. The quoted messages are AI
Runway's and stay verbatim because users grep for them.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from pydantic import BaseModel

from compiler.core.diagnostics import Diagnostic, error, warning
from compiler.core.load import LoadLimits, PathKey, SourceDocument, format_path
from compiler.core.model import (
    UNPINNED_IMAGE_RULES,
    AutoscalingRules,
    Ceilings,
    KedaRules,
    ModelDeployment,
    Overlay,
    Policy,
    ProviderCatalog,
    effective_gpu_count,
)
from compiler.core.quantity import parse_quantity
from compiler.core.vllm_args import (
    FlagRules,
    Occurrence,
    OptionTable,
    Token,
    read_command_line,
)

# --- messages (AI Runway's own words where it has a check of the same meaning) -------------

MSG_SECURITY = 'overriding "{key}" is not allowed for security reasons'
MSG_SECURITY_ANNOTATION = 'setting "{key}" is not allowed for security reasons'
MSG_SIZING = (
    'overriding "{key}" is not allowed because it can bypass admission resource limits; '
    "use spec.resources / spec.scaling instead"
)
MSG_PROTECTED = 'overriding "{key}" is not allowed'
MSG_GUARANTEE = (
    'overriding "{key}" is not allowed: it would undo a runwayc guarantee '
    "(digest-pinned images, no host access, no service links)"
)
MSG_RESERVED = (
    "{what} conflicts with Direct vLLM generated networking; Direct vLLM currently requires "
    "host 0.0.0.0 and port 8000 to keep the container, Service, and probes aligned"
)
MSG_DUPLICATE_FLAG = 'launch flag "{key}" is set in both spec.engine.args and spec.engine.extraArgs'
MSG_REPEATED_FLAG = 'launch flag "{key}" is set more than once in {where}; vLLM keeps only the last'
MSG_VALUE_IS_OPTION = '{what}: its value "{value}" is itself an option (vLLM reads it as {option})'
MSG_NOT_AN_OPTION = '"{name}" is not a vllm serve option (vLLM {v})'
MSG_RESERVED_ENV = (
    'environment variable "{name}" is reserved: vLLM reads it for its own internal addresses, '
    "and a value here can collide with the server on port 8000 or stop vLLM from starting"
)
MSG_IMAGE_CONFLICT = (
    'spec.image "{a}" conflicts with spec.engine.image "{b}"; remove spec.image or set both '
    "fields to the same value (spec.engine.image is preferred)"
)
MSG_IMMUTABLE = "provider.name is immutable (changing it requires delete and recreate)"
# Kubernetes' field.Invalid rendering of AI Runway's ceiling error.
MSG_CEILING = "Invalid value: {value}: exceeds maximum allowed ({limit})"
MSG_DISAGGREGATED_SCALING = "disaggregated mode requires scaling.prefill and scaling.decode"
MSG_DOTTED_NAME = (
    "name must not contain dots (dots are invalid in derived Kubernetes volume and service names)"
)
# AI Runway checks dots on create only, so a ModelDeployment that exists keeps its name; but
# the Service (and volume) names derived from it are refused by the API server, so runwayc
# refuses it on update too, and says why.
MSG_DOTTED_NAME_RECORDED = (
    "; AI Runway checks this on create only, but the Service named after this ModelDeployment "
    "is refused by Kubernetes (a DNS-1035 label has no dots), so runwayc refuses it on update too"
)
MSG_ARG_KEY = (
    'invalid engine arg key "{key}": must contain only alphanumeric characters, hyphens, '
    "and underscores"
)


def go_quote(text: str) -> str:
    """A string as Go's %q prints it: double quotes, control characters escaped (bounded, as
    a refused value may be anything)."""
    return json.dumps(text[:200], ensure_ascii=False)


def invalid_value(value: object, detail: str) -> str:
    """Kubernetes' field.Invalid body (`Invalid value: "x": why`): the path is the
    diagnostic's, printed before it as the API server prints it."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = go_quote(value)
    else:
        text = str(value)
    return f"Invalid value: {text}: {detail}"


def forbidden(detail: str) -> str:
    """Kubernetes' field.Forbidden body."""
    return f"Forbidden: {detail}"


ARG_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# --- the merged policy -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ceiling:
    """One sizing limit: its exact value for comparison and its text for messages."""

    value: Fraction
    text: str


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Built-in policy data merged with the user's files and the environment's overlay."""

    security: frozenset[str] = frozenset()
    sizing: frozenset[str] = frozenset()
    protected_top_level: frozenset[str] = frozenset()
    guarantees: frozenset[str] = frozenset()
    security_annotations: frozenset[str] = frozenset()
    reserved_networking: frozenset[str] = frozenset()
    reserved_env: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)
    # policies/vllm-serve-options.json; empty only in a set built without it.
    vllm_options: OptionTable = field(default_factory=lambda: OptionTable.of("", ()))
    ceilings: Mapping[str, Ceiling] = field(default_factory=dict)
    # policies/ceilings.yaml `names.maxLength`; None only in a set built without it.
    name_max_length: int | None = None
    limits: LoadLimits = field(default_factory=LoadLimits)
    autoscaling: AutoscalingRules = field(default_factory=AutoscalingRules)
    # policies/images.yaml `images.unpinnedUserImages`; None only in a set built without it
    # (then nothing is refused, as with no rule).
    unpinned_user_images: str | None = None
    # policies/sync-units.yaml `syncUnits.maxModelsPerUnit`; None: no warning.
    max_models_per_unit: int | None = None

    @property
    def refuses_unpinned_user_images(self) -> bool:
        return self.unpinned_user_images == "refuse"

    @property
    def flags(self) -> FlagRules:
        """How vLLM reads launch flags, and which of its options runwayc reserves."""
        return FlagRules(self.vllm_options, self.reserved_networking, self.aliases)


_LIST_RULES = {
    "overrides.security": "security",
    "overrides.sizing": "sizing",
    "overrides.protectedTopLevel": "protected_top_level",
    "overrides.guarantees": "guarantees",
    "overrides.securityAnnotations": "security_annotations",
    "vllmFlags.reservedNetworking": "reserved_networking",
    "vllmFlags.reservedEnv": "reserved_env",
}
_CEILING_FIELDS = {
    "gpuCount": "gpu_count",
    "replicas": "replicas",
    "cpu": "cpu",
    "memory": "memory",
}


def _ceiling_values(ceilings: Ceilings | None) -> dict[str, Ceiling]:
    out: dict[str, Ceiling] = {}
    if ceilings is None:
        return out
    for wire, attr in _CEILING_FIELDS.items():
        raw = getattr(ceilings, attr)
        if raw is None:
            continue
        value = parse_quantity(raw)
        if value is not None:
            out[wire] = Ceiling(value, str(raw))
    return out


def builtin_policy_set(builtin: Iterable[Policy]) -> PolicySet:
    """Union of the built-in policy files (they never conflict: each owns a section)."""
    policy = PolicySet()
    for doc in builtin:
        policy = _extend(policy, doc)
        if doc.ceilings is not None:
            policy = replace(policy, ceilings={**policy.ceilings, **_ceiling_values(doc.ceilings)})
        if doc.limits is not None:
            limits = doc.limits.model_dump(exclude_none=True)
            policy = replace(policy, limits=replace(policy.limits, **limits))
        if doc.names is not None and doc.names.max_length is not None:
            policy = replace(policy, name_max_length=doc.names.max_length)
        if doc.images is not None and doc.images.unpinned_user_images is not None:
            policy = replace(policy, unpinned_user_images=doc.images.unpinned_user_images)
        policy = _sync_units(policy, doc)
    return policy


def _sync_units(policy: PolicySet, doc: Policy) -> PolicySet:
    """An advisory threshold: whichever file sets it last (built-in, then the user's) wins."""
    if doc.sync_units is None or doc.sync_units.max_models_per_unit is None:
        return policy
    return replace(policy, max_models_per_unit=doc.sync_units.max_models_per_unit)


def _fields_given(model: BaseModel) -> dict[str, Any]:
    """The fields a policy file sets (omitted and null ones keep the earlier value)."""
    return {
        name: value
        for name in model.model_fields_set
        if (value := getattr(model, name)) is not None
    }


def _extend(policy: PolicySet, doc: Policy) -> PolicySet:
    if doc.autoscaling is not None:
        # Rendering settings, not limits: a later file replaces the fields it sets.
        # Blocks merge field by field (setting only keda.serverAddress keeps the built-in
        # cooldownPeriod; one mode's default target keeps the others'); `behavior` is an HPA
        # behavior rendered verbatim, so it is replaced whole.
        given = _fields_given(doc.autoscaling)
        keda, before = given.get("keda"), policy.autoscaling.keda
        if isinstance(keda, KedaRules) and before is not None:
            given["keda"] = before.model_copy(update=_fields_given(keda))
        for name in ("metrics", "default_targets"):
            if name in given:
                given[name] = {**(getattr(policy.autoscaling, name) or {}), **given[name]}
        policy = replace(policy, autoscaling=policy.autoscaling.model_copy(update=given))
    if doc.overrides is not None:
        policy = replace(
            policy,
            security=policy.security | set(doc.overrides.security),
            sizing=policy.sizing | set(doc.overrides.sizing),
            protected_top_level=policy.protected_top_level | set(doc.overrides.protected_top_level),
            guarantees=policy.guarantees | set(doc.overrides.guarantees),
            security_annotations=policy.security_annotations
            | set(doc.overrides.security_annotations),
        )
    if doc.vllm_flags is not None:
        policy = replace(
            policy,
            reserved_networking=policy.reserved_networking
            | set(doc.vllm_flags.reserved_networking),
            reserved_env=policy.reserved_env | set(doc.vllm_flags.reserved_env),
            aliases={**policy.aliases, **doc.vllm_flags.aliases},
        )
    return policy


def _tighten(
    policy: PolicySet,
    ceilings: Ceilings | None,
    waived: Mapping[str, Ceiling],
    where: SourceDocument,
    base_path: PathKey,
    source_name: str,
) -> tuple[PolicySet, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    merged = dict(policy.ceilings)
    for wire, wanted in _ceiling_values(ceilings).items():
        current = merged.get(wire)
        if current is None or wanted.value <= current.value or wire in waived:
            merged[wire] = wanted
            continue
        path = (*base_path, "ceilings", wire)
        diagnostics.append(
            error(
                "POLICY_LOOSENING",
                f"{source_name} raises ceilings.{wire} from {current.text} to {wanted.text}; "
                "loosening a built-in rule needs a named waiver in a policy file",
                where.location(path),
                format_path(path),
            )
        )
    return replace(policy, ceilings=merged), diagnostics


def apply_user_policies(
    policy: PolicySet, user: Sequence[tuple[Policy, SourceDocument]]
) -> tuple[PolicySet, list[Diagnostic]]:
    """Merge the user's policy files: extend and tighten freely, loosen only by waiver."""
    diagnostics: list[Diagnostic] = []
    waived_ceilings: dict[str, Ceiling] = {}
    for doc, source in user:
        doc, found = _checked_flag_rules(policy, doc, source)
        diagnostics.extend(found)
        policy = _extend(policy, doc)
        policy = _sync_units(policy, doc)
        for index, waiver in enumerate(doc.waivers):
            if waiver.rule == "vllmFlags.aliases":
                continue  # read by _checked_flag_rules
            attr = _LIST_RULES.get(waiver.rule)
            if attr is not None:
                if waiver.key is None:
                    path = ("waivers", index, "key")
                    diagnostics.append(
                        error(
                            "POLICY_WAIVER",
                            f'waiver "{waiver.name}" for {waiver.rule} must name the key it waives',
                            source.location(path),
                            format_path(path),
                        )
                    )
                    continue
                current: frozenset[str] = getattr(policy, attr)
                changes: dict[str, Any] = {attr: current - {waiver.key}}
                policy = replace(policy, **changes)
                continue
            wire = waiver.rule.removeprefix("ceilings.")
            value = parse_quantity(waiver.value) if waiver.value is not None else None
            if value is None:
                path = ("waivers", index, "value")
                diagnostics.append(
                    error(
                        "POLICY_WAIVER",
                        f'waiver "{waiver.name}" for {waiver.rule} needs a numeric value',
                        source.location(path),
                        format_path(path),
                    )
                )
                continue
            ceiling = Ceiling(value, str(waiver.value))
            waived_ceilings[wire] = ceiling
            policy = replace(policy, ceilings={**policy.ceilings, wire: ceiling})
        policy, found = _tighten(
            policy, doc.ceilings, waived_ceilings, source, (), f'policy "{doc.metadata.name}"'
        )
        diagnostics.extend(found)
        policy, found = _tighten_bounds(policy, doc, source)
        diagnostics.extend(found)
        policy, found = _tighten_images(policy, doc, source)
        diagnostics.extend(found)
    return policy, diagnostics


def _checked_flag_rules(
    policy: PolicySet, doc: Policy, where: SourceDocument
) -> tuple[Policy, list[Diagnostic]]:
    """A repository's `vllmFlags` may reserve more and teach runwayc a plugin's spellings; it
    may not name an option vLLM does not have (a typo would reserve nothing), and an alias of
    a spelling vLLM already reads (which would map a reserved option away, or onto another
    option) is a loosening that needs a named waiver. Refused entries are dropped."""
    rules = doc.vllm_flags
    if rules is None:
        return doc, []
    table = policy.vllm_options
    found: list[Diagnostic] = []

    def refuse(code: str, message: str, path: PathKey) -> None:
        found.append(error(code, message, where.location(path), format_path(path)))

    reserved = []
    for index, name in enumerate(rules.reserved_networking):
        if table.option(name) is None:
            path: PathKey = ("vllmFlags", "reservedNetworking", index)
            refuse(
                "POLICY_UNKNOWN_FLAG", MSG_NOT_AN_OPTION.format(name=name, v=table.version), path
            )
        else:
            reserved.append(name)
    waived = {w.key for w in doc.waivers if w.rule == "vllmFlags.aliases" and w.key}
    aliases = {}
    for spelling, target in rules.aliases.items():
        where_alias: PathKey = ("vllmFlags", "aliases", spelling)
        option = table.option(target)
        if option is None:
            message = MSG_NOT_AN_OPTION.format(name=target, v=table.version)
            refuse("POLICY_UNKNOWN_FLAG", message, where_alias)
            continue
        known = table.resolve(f"--{spelling}")
        if (known.kind in ("option", "ambiguous") or spelling in policy.reserved_networking) and (
            spelling not in waived
        ):
            means = f"--{known.option.name}" if known.option else "an abbreviation of an option"
            message = (
                f'policy "{doc.metadata.name}" maps "{spelling}" to --{option.name}, but vLLM '
                f"reads --{spelling} as {means}; loosening a built-in rule needs a named waiver "
                "in a policy file (rule vllmFlags.aliases)"
            )
            refuse("POLICY_LOOSENING", message, where_alias)
            continue
        aliases[spelling] = option.name
    checked = rules.model_copy(update={"reserved_networking": reserved, "aliases": aliases})
    return doc.model_copy(update={"vllm_flags": checked}), found


def _tighten_images(
    policy: PolicySet, doc: Policy, where: SourceDocument
) -> tuple[PolicySet, list[Diagnostic]]:
    """`images.unpinnedUserImages` may move from warn to refuse; back is a loosening. No
    waiver covers it: the built-in rule is already the loosest."""
    wanted = doc.images.unpinned_user_images if doc.images is not None else None
    if wanted is None:
        return policy, []
    current = policy.unpinned_user_images
    if current is None or UNPINNED_IMAGE_RULES.index(wanted) >= UNPINNED_IMAGE_RULES.index(current):
        return replace(policy, unpinned_user_images=wanted), []
    path = ("images", "unpinnedUserImages")
    return policy, [
        error(
            "POLICY_LOOSENING",
            f'policy "{doc.metadata.name}" loosens images.unpinnedUserImages from {current} to '
            f"{wanted}; a repository policy may only tighten it (warn to refuse)",
            where.location(path),
            format_path(path),
        )
    ]


def _tighten_bounds(
    policy: PolicySet, doc: Policy, where: SourceDocument
) -> tuple[PolicySet, list[Diagnostic]]:
    """A repository policy's `limits` (the load bounds its sources are read with) and
    `names.maxLength` take effect when they tighten; raising one is a loosening, and no
    waiver covers them (the bounds are what keep a hostile file cheap to refuse)."""
    diagnostics: list[Diagnostic] = []

    def lowers(path: PathKey, current: int | None, value: int) -> bool:
        if current is None or value <= current:
            return True
        diagnostics.append(
            error(
                "POLICY_LOOSENING",
                f'policy "{doc.metadata.name}" raises {format_path(path)} from {current} to '
                f"{value}; a repository policy may only lower it",
                where.location(path),
                format_path(path),
            )
        )
        return False

    if doc.limits is not None:
        fields = type(doc.limits).model_fields
        lowered = {
            name: value
            for name, value in doc.limits.model_dump(exclude_none=True).items()
            if lowers(("limits", fields[name].alias or name), getattr(policy.limits, name), value)
        }
        policy = replace(policy, limits=replace(policy.limits, **lowered))
    length = doc.names.max_length if doc.names is not None else None
    if length is not None and lowers(("names", "maxLength"), policy.name_max_length, length):
        policy = replace(policy, name_max_length=length)
    return policy, diagnostics


def apply_overlay(
    policy: PolicySet, overlay: Overlay | None, source: SourceDocument | None
) -> tuple[PolicySet, list[Diagnostic]]:
    """An environment overlay may only tighten ceilings."""
    if overlay is None or source is None:
        return policy, []
    return _tighten(policy, overlay.ceilings, {}, source, (), f"overlay {source.file}")


# --- flag identity ---------------------------------------------------------------------------


def flag_identity(token: str) -> str:
    """A flag's name for an engine whose parser runwayc does not model (SGLang, TensorRT-LLM,
    llama.cpp): leading dashes stripped, an `=value` (or a value after whitespace) dropped, `_`
    read as `-`. vLLM's flags are read with its own parser's rules (compiler.core.vllm_args).
    """
    name = token.strip().lstrip("-")
    name = re.split(r"[=\s]", name, maxsplit=1)[0]
    return name.replace("_", "-")


def is_flag_token(token: str) -> bool:
    """A token that names a flag (`--x`, `-x`), not a value such as `-1` or a path."""
    stripped = token.lstrip("-")
    return token.startswith("-") and bool(stripped) and not _is_number(stripped.split("=")[0])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


ENGINE_ARGS: PathKey = ("spec", "engine", "args")
ENGINE_EXTRA_ARGS: PathKey = ("spec", "engine", "extraArgs")


def user_tokens(md: ModelDeployment) -> list[Token]:
    """`engine.args` (sorted by key, `--key value`, or `--key` for an empty value) then
    `engine.extraArgs`, as rendered, each token with the spec path that wrote it. Keys are
    written without their leading dashes, so a key never renders as `----flag`: a dashed key
    is refused (check_arg_keys, as AI Runway does), and the other checks still read the flag
    it would have been."""
    engine = md.spec.engine
    if engine is None:
        return []
    tokens: list[Token] = []
    args = engine.args or {}
    for key in sorted(args):
        path = (*ENGINE_ARGS, key)
        tokens.append(Token(f"--{key.lstrip('-')}", path, "key", path))
        if args[key] != "":
            tokens.append(Token(args[key], path, "value", path))
    for index, token in enumerate(engine.extra_args or []):
        tokens.append(Token(token, (*ENGINE_EXTRA_ARGS, index), "", ENGINE_EXTRA_ARGS))
    return tokens


def launch_line(
    md: ModelDeployment,
    ours: Sequence[str],
    derived: Sequence[tuple[str, str | None]],
    rules: FlagRules,
) -> list[Token]:
    """The whole command line: runwayc's fixed tokens, the derived flags the user did not set
    themselves (the user's spelling wins, so exactly one is rendered), then the user's."""
    user = user_tokens(md)
    taken = read_command_line(user, rules).names()
    line = [Token(text) for text in ours]
    for name, value in derived:
        option = rules.table.option(name)
        if (option.name if option is not None else name) in taken:
            continue
        line.append(Token(f"--{name}"))
        if value is not None:
            line.append(Token(value))
    return line + user


# --- checks ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a check needs to report: the source document and the policy in force."""

    doc: SourceDocument
    policy: PolicySet
    # The ModelDeployment has a pin in runway.lock: it exists, and is being updated.
    recorded: bool = False

    def at(self, code: str, message: str, path: PathKey) -> Diagnostic:
        return error(code, message, self.doc.location(path), format_path(path))

    def warning_at(self, code: str, message: str, path: PathKey) -> Diagnostic:
        return warning(code, message, self.doc.location(path), format_path(path))


SPEC: PathKey = ("spec",)
OVERRIDES: PathKey = ("spec", "provider", "overrides")


def _walk_keys(value: Any, path: PathKey) -> Iterator[tuple[str, PathKey, int]]:
    """Every mapping key under `value`, through maps and arrays: (key, path, depth)."""
    stack: list[tuple[Any, PathKey, int]] = [(value, path, 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict):
            for key in sorted(node, key=str):
                yield str(key), (*where, key), depth
                stack.append((node[key], (*where, key), depth + 1))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                stack.append((item, (*where, index), depth))


def check_overrides(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """Override denylist, sizing guard and protected top-level keys, at any depth."""
    overrides = md.spec.provider.overrides if md.spec.provider else None
    if not overrides:
        return []
    found: list[Diagnostic] = []
    policy = ctx.policy
    for key, path, depth in _walk_keys(overrides, OVERRIDES):
        if depth == 0 and key in policy.protected_top_level:
            found.append(ctx.at("OVERRIDE_PROTECTED", MSG_PROTECTED.format(key=key), path))
        elif key in policy.security:
            found.append(ctx.at("OVERRIDE_DENIED", MSG_SECURITY.format(key=key), path))
        elif key in policy.sizing:
            found.append(ctx.at("OVERRIDE_SIZING", MSG_SIZING.format(key=key), path))
        elif key in policy.guarantees:
            found.append(ctx.at("OVERRIDE_GUARANTEE", MSG_GUARANTEE.format(key=key), path))
        elif any(key.startswith(prefix) for prefix in policy.security_annotations):
            found.append(ctx.at("OVERRIDE_DENIED", MSG_SECURITY.format(key=key), path))
    return found


def check_pod_annotations(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """AppArmor and seccomp annotations on the pod template: securityContext by another name."""
    meta = md.spec.pod_template.metadata if md.spec.pod_template else None
    found = []
    for key in sorted((meta.annotations or {}) if meta is not None else {}):
        if any(key.startswith(prefix) for prefix in ctx.policy.security_annotations):
            path = ("spec", "podTemplate", "metadata", "annotations", key)
            found.append(ctx.at("OVERRIDE_DENIED", MSG_SECURITY_ANNOTATION.format(key=key), path))
    return found


def check_arg_keys(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    engine = md.spec.engine
    if engine is None or not engine.args:
        return []
    found = []
    for key in engine.args:
        # As written: AI Runway refuses a leading dash ("option injection"), so `-bad-key`
        # and `--max-model-len` are refused as keys (the flag goes in extraArgs).
        if not ARG_KEY.fullmatch(key):
            path = (*SPEC, "engine", "args", key)
            found.append(ctx.at("INVALID_ARG_KEY", MSG_ARG_KEY.format(key=key), path))
    return found


def _what(token: Token) -> str:
    """How a message names the spec entry a token came from."""
    path = token.origin
    if isinstance(path, tuple) and path[:3] == ENGINE_ARGS:
        return f'engine arg "{path[3]}"'
    return f'engine extraArg "{token.text}"'


def check_duplicate_flags(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """A flag set twice: vLLM keeps only the last, so the other is silently ignored."""
    engine = md.spec.engine
    if engine is None or not (engine.args or engine.extra_args):
        return []
    if md.engine != "vllm":
        return _duplicates_by_spelling(md, ctx)
    reading = read_command_line(user_tokens(md), ctx.policy.flags)
    first: dict[str, Occurrence] = {}
    found = []
    for occurrence in reading.occurrences:
        option = occurrence.option
        here = occurrence.flag.origin
        if option.appends or not isinstance(here, tuple):
            continue
        earlier = first.setdefault(option.name, occurrence)
        there = earlier.flag.origin
        if earlier is occurrence or here == there or not isinstance(there, tuple):
            continue
        if there[:3] != here[:3]:
            message = MSG_DUPLICATE_FLAG.format(key=option.name)
            path = here if here[:3] == ENGINE_EXTRA_ARGS else there
        else:
            where = format_path(here[:3])
            message = MSG_REPEATED_FLAG.format(key=option.name, where=where)
            path = here
        found.append(ctx.at("DUPLICATE_FLAG", message, path))
    return found


def _duplicates_by_spelling(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    engine = md.spec.engine
    assert engine is not None
    in_extra = {
        flag_identity(token): index
        for index, token in enumerate(engine.extra_args or [])
        if is_flag_token(token)
    }
    found = []
    for key in engine.args or {}:
        identity = flag_identity(key)
        if identity in in_extra:
            path = (*ENGINE_EXTRA_ARGS, in_extra[identity])
            found.append(ctx.at("DUPLICATE_FLAG", MSG_DUPLICATE_FLAG.format(key=identity), path))
    return found


def check_launch_flags(
    md: ModelDeployment, ctx: CheckContext, line: Sequence[Token]
) -> list[Diagnostic]:
    """What `vllm serve` would refuse or read otherwise than written, in the user's tokens:
    an ambiguous abbreviation, an unknown option (a warning: a plugin may add it), a flag
    without its value or with one it does not take, a value that is itself an option, a
    token no option takes; and the environment variables vLLM reserves for itself."""
    if md.engine != "vllm":
        return []
    reading = read_command_line(line, ctx.policy.flags)
    found: list[Diagnostic] = []
    for problem in reading.problems:
        token = problem.token
        if not isinstance(token.origin, tuple):
            continue
        what = _what(token)
        if problem.kind == "unknown":
            found.append(ctx.warning_at("UNKNOWN_FLAG", f"{what}: {problem.message}", token.origin))
            continue
        code = "FLAG_AMBIGUOUS" if problem.kind == "ambiguous" else "FLAG_VALUE"
        message = f"{what}: {problem.message}"
        if problem.kind == "stray" and token.part == "value":
            key = str(token.origin[3]).lstrip("-")
            message = (
                f'{what}: --{key} takes no value, so vLLM would exit with "unrecognized '
                f'arguments: {token.text}"'
            )
        elif problem.kind == "foreign-value" and problem.taken_by is not None:
            taker = problem.taken_by
            by = "runwayc's own" if taker.origin is None else _what(taker) + "'s"
            message = f'{what}: vLLM would read "{token.text}" as the value of {by} {taker.text}'
        found.append(ctx.at(code, message, token.origin))
    for occurrence in reading.occurrences:
        flag = occurrence.flag
        if flag.part == "value" and isinstance(flag.origin, tuple):
            message = MSG_VALUE_IS_OPTION.format(
                what=_what(flag), value=flag.text, option=f"--{occurrence.option.name}"
            )
            found.append(ctx.at("FLAG_VALUE", message, flag.origin))
    reserved_env = ctx.policy.reserved_env
    for index, var in enumerate(md.spec.env or []):
        if var.name in reserved_env:
            path = ("spec", "env", index, "name")
            found.append(ctx.at("RESERVED_ENV", MSG_RESERVED_ENV.format(name=var.name), path))
    return found


def check_reserved_networking(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """Direct vLLM owns where the server listens: every user token that could make vLLM set a
    reserved option, in any spelling it accepts, is refused (FlagRules.reserves). The verdict
    is per token, so it needs no command line around it."""
    rules = ctx.policy.flags
    found = []
    seen: set[Any] = set()
    for token in user_tokens(md):
        path = token.origin
        if not isinstance(path, tuple) or path in seen or not rules.reserves(token.text):
            continue
        seen.add(path)
        what = _what(token)
        found.append(ctx.at("RESERVED_ARG", MSG_RESERVED.format(what=what), path))
    return found


def check_image_conflict(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    legacy = md.spec.image
    preferred = md.spec.engine.image if md.spec.engine else None
    if legacy and preferred and legacy != preferred:
        message = MSG_IMAGE_CONFLICT.format(a=legacy, b=preferred)
        return [ctx.at("IMAGE_CONFLICT", message, (*SPEC, "image"))]
    return []


def check_ceilings(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    ceilings = ctx.policy.ceilings
    spec = md.spec
    measured: list[tuple[str, PathKey, Fraction | None, str]] = []
    if spec.resources is not None:
        if spec.resources.gpu is not None:
            count = spec.resources.gpu.count
            measured.append(
                ("gpuCount", ("resources", "gpu", "count"), Fraction(count), str(count))
            )
        for wire in ("cpu", "memory"):
            raw = getattr(spec.resources, wire)
            if raw is not None:
                measured.append((wire, ("resources", wire), parse_quantity(raw), raw))
    else:
        count = effective_gpu_count(md)
        measured.append(("gpuCount", ("resources", "gpu", "count"), Fraction(count), str(count)))
    if spec.scaling is not None:
        replicas = spec.scaling.replicas
        measured.append(("replicas", ("scaling", "replicas"), Fraction(replicas), str(replicas)))
        if spec.scaling.autoscaling is not None:
            most = spec.scaling.autoscaling.max_replicas
            bound: PathKey = ("scaling", "autoscaling", "maxReplicas")
            measured.append(("replicas", bound, Fraction(most), str(most)))
        for role in ("prefill", "decode"):
            component = getattr(spec.scaling, role)
            if component is None:
                continue
            measured.append(
                (
                    "replicas",
                    ("scaling", role, "replicas"),
                    Fraction(component.replicas),
                    str(component.replicas),
                )
            )
            if component.gpu is not None:
                count = component.gpu.count
                measured.append(
                    ("gpuCount", ("scaling", role, "gpu", "count"), Fraction(count), str(count))
                )
            if component.memory is not None:
                measured.append(
                    (
                        "memory",
                        ("scaling", role, "memory"),
                        parse_quantity(component.memory),
                        component.memory,
                    )
                )
    found = []
    for wire, rel, value, text in measured:
        path = (*SPEC, *rel)
        if value is None:
            found.append(
                ctx.at("INVALID_QUANTITY", f'"{text}" is not a valid resource quantity', path)
            )
            continue
        if value < 0:
            # The API server refuses it too ("must be greater than or equal to 0"), at apply
            # time, after the merge: refused here, where the pull request can fix it.
            message = f'"{text}" must be greater than or equal to 0'
            found.append(ctx.at("INVALID_QUANTITY", message, path))
            continue
        limit = ceilings.get(wire)
        if limit is not None and value > limit.value:
            message = MSG_CEILING.format(value=text, limit=limit.text)
            found.append(ctx.at("CEILING_EXCEEDED", message, path))
    return found


def check_names(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """DNS-1035 label for the name (the Service takes it), DNS-1123 label for the namespace."""
    found = []
    name = md.metadata.name
    limit = ctx.policy.name_max_length
    if "." in name:
        message = invalid_value(name, MSG_DOTTED_NAME)
        if ctx.recorded:
            message += MSG_DOTTED_NAME_RECORDED
        found.append(ctx.at("INVALID_NAME", message, ("metadata", "name")))
    elif limit is not None and len(name) > limit:
        found.append(
            ctx.at(
                "INVALID_NAME",
                f'metadata.name "{name[:80]}" is {len(name)} characters; at most {limit} are '
                "allowed (the Service takes the same name)",
                ("metadata", "name"),
            )
        )
    elif not DNS_1035.fullmatch(name):
        found.append(
            ctx.at(
                "INVALID_NAME",
                f'metadata.name "{name}" is not a valid DNS-1035 label: lower-case letters, '
                "digits and '-', starting with a letter and ending with a letter or digit, "
                "no dots",
                ("metadata", "name"),
            )
        )
    namespace = md.metadata.namespace
    if namespace is not None and (len(namespace) > 63 or not DNS_1123_LABEL.fullmatch(namespace)):
        found.append(
            ctx.at(
                "INVALID_NAMESPACE",
                f'metadata.namespace "{namespace[:80]}" is not a valid DNS-1123 label',
                ("metadata", "namespace"),
            )
        )
    return found


def check_model(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    if md.spec.model.source == "huggingface" and not md.spec.model.id:
        return [
            ctx.at(
                "MISSING_FIELD",
                "model.id is required when source is huggingface",
                (*SPEC, "model", "id"),
            )
        ]
    return []


def check_disaggregated(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """AI Runway's webhook rules for `serving.mode: disaggregated`, whatever the provider."""
    if md.serving_mode != "disaggregated":
        return []
    found = []
    resources = md.spec.resources
    if resources is not None and resources.gpu is not None and resources.gpu.count > 0:
        found.append(
            ctx.at(
                "DISAGGREGATED",
                "cannot specify both resources.gpu and scaling.prefill/decode in disaggregated "
                "mode",
                (*SPEC, "resources", "gpu"),
            )
        )
    scaling = md.spec.scaling
    # The controller's one sentence for a missing block (its webhook says it per field:
    # "disaggregated mode requires scaling configuration" / "... requires scaling.prefill").
    missing = [
        role for role in ("prefill", "decode") if scaling is None or getattr(scaling, role) is None
    ]
    if missing:
        where = (*SPEC, "scaling", missing[0]) if len(missing) == 1 else (*SPEC, "scaling")
        found.append(ctx.at("DISAGGREGATED", MSG_DISAGGREGATED_SCALING, where))
    for role in ("prefill", "decode"):
        component = getattr(scaling, role) if scaling is not None else None
        if component is None:
            continue
        if component.gpu is None or component.gpu.count == 0:
            message = f"disaggregated mode requires scaling.{role}.gpu.count > 0"
            path = (*SPEC, "scaling", role, "gpu", "count")
            found.append(ctx.at("DISAGGREGATED", message, path))
    return found


def admission_warnings(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """AI Runway's non-fatal admission warnings, as warning diagnostics."""
    found = []

    def warn(message: str, path: PathKey) -> None:
        found.append(ctx.warning_at("ADMISSION_WARNING", message, path))

    model = md.spec.model
    if model.source == "custom" and model.served_name:
        warn(
            "servedName is ignored for custom source (model name is defined by the container)",
            (*SPEC, "model", "servedName"),
        )
    engine = md.spec.engine
    if engine is not None and engine.trust_remote_code:
        warn(
            "trustRemoteCode=true allows execution of arbitrary code from HuggingFace",
            (*SPEC, "engine", "trustRemoteCode"),
        )
    if engine is not None and engine.type == "trtllm" and engine.context_length is not None:
        warn(
            "contextLength is ignored for TensorRT-LLM (must be configured at engine build time)",
            (*SPEC, "engine", "contextLength"),
        )
    volumes = model.storage.volumes or [] if model.storage else []
    for index, volume in enumerate(volumes):
        path = (*SPEC, "model", "storage", "volumes", index, "readOnly")
        if volume.purpose == "compilationCache" and volume.read_only:
            warn(
                f'storage volume "{volume.name}" has purpose=compilationCache with readOnly=true; '
                "compilation cache requires write access",
                path,
            )
        if volume.purpose == "modelCache" and volume.read_only and model.source == "huggingface":
            warn(
                f'storage volume "{volume.name}" has purpose=modelCache with readOnly=true; model '
                "download will be skipped (ensure the PVC already contains the model data)",
                path,
            )
    return found


COMMON_CHECKS = (
    check_names,
    check_model,
    check_disaggregated,
    admission_warnings,
    check_overrides,
    check_pod_annotations,
    check_arg_keys,
    check_duplicate_flags,
    check_image_conflict,
    check_ceilings,
)


def check_model_deployment(md: ModelDeployment, ctx: CheckContext) -> list[Diagnostic]:
    """Every provider-independent check; all violations, not just the first."""
    found: list[Diagnostic] = []
    for check in COMMON_CHECKS:
        found.extend(check(md, ctx))
    return found


def unknown_provider(
    md: ModelDeployment, ctx: CheckContext, catalog: ProviderCatalog
) -> list[Diagnostic]:
    """`spec.provider.name` that is not in the catalog, in AI Runway's words (its controller
    looks the InferenceProviderConfig up by name), with the nearest name when one is close:
    `vLLM` is a typo of `vllm`, and provider names are lower-case."""
    requested = md.spec.provider.name if md.spec.provider else None
    known = sorted(entry.name for entry in catalog.providers)
    if not requested or requested in known:
        return []
    detail = f'InferenceProviderConfig "{requested}" not found '
    detail += f"(the catalog has: {', '.join(known)})"
    nearest = difflib.get_close_matches(requested.lower(), known, n=1)
    if nearest:
        detail += f'; did you mean "{nearest[0]}"?'
    message = invalid_value(requested, detail)
    return [ctx.at("UNKNOWN_PROVIDER", message, (*SPEC, "provider", "name"))]


def provider_immutability(
    md: ModelDeployment, ctx: CheckContext, recorded: str | None
) -> list[Diagnostic]:
    requested = md.spec.provider.name if md.spec.provider else None
    if recorded is not None and requested and requested != recorded:
        message = invalid_value(requested, MSG_IMMUTABLE)
        return [ctx.at("PROVIDER_IMMUTABLE", message, (*SPEC, "provider", "name"))]
    return []
