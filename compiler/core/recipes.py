"""vLLM recipes (recipes.vllm.ai): what may be asked for, and how a recipe becomes a spec.

Pure. The client (`compiler.io.recipe_client`) fetches; this module decides which URLs it may
fetch at all, which rendering of a recipe a selection needs next, and how the chosen rendering
turns into ModelDeployment fields, the way AI Runway's "Apply recipe" does:

- `vllm serve <model>` is dropped; `--key value` tokens become `engine.args` (a bare flag is an
  empty value); a token that is not a clean key, or a key already taken, goes to
  `engine.extraArgs` in order; an exact repeat of a flag and value already taken is dropped;
- reserved networking flags (`--host`, `--port`) are dropped with a warning: the renderer owns
  networking and a recipe cannot move the port away from the Service and probes;
- the env map becomes the EnvVar array `[{name, value}]`;
- GPU count = tensor-parallel x pipeline-parallel; only a recipe with no parallelism at all
  falls back to the hardware profile's GPU count, with a warning saying so;
- provenance is recorded as `airunway.ai/recipe.*` annotations; blank values are omitted.

Every path a recipe document supplies (`json`, `alternatives`, `by_hardware`) is untrusted:
it must resolve under the base URL's origin and path, and is checked before any request.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from compiler.core.diagnostics import shown
from compiler.core.errors import RecipeUpstreamError, RecipeValidationError
from compiler.core.hosts import is_loopback
from compiler.core.policy import ARG_KEY, is_flag_token
from compiler.core.vllm_args import FlagRules

DEFAULT_BASE_URL = "https://recipes.vllm.ai"
RECIPES_DIR = "recipes"  # the pinned store in a source repository, mirroring the API's paths
BASE_URL_ENV = "VLLM_RECIPES_BASE_URL"
MAX_BODY_BYTES = 5 * 1024 * 1024
TIMEOUT_SECONDS = 10.0
MAX_RENDERING_HOPS = 3  # base recipe -> hardware rendering -> strategy rendering

GENERATED_BY = "airunway.ai/generated-by"
GENERATOR = "vllm-recipe-resolver"
ANNOTATION_PREFIX = "airunway.ai/recipe."
PROVENANCE_KEYS = ("source", "id", "strategy", "hardware", "variant", "precision", "revision")
FEATURES_ANNOTATION = ANNOTATION_PREFIX + "features"

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
_MAX_PATH = 1024


# --- what may be requested ------------------------------------------------------------------


def check_model_id(model_id: str) -> str:
    """`org/model`, exactly two non-empty segments, neither `.` nor `..`, nothing encoded; a
    trailing slash is dropped. Checked before any request is built."""
    text = model_id.strip()
    text = text[:-1] if text.endswith("/") else text
    segments = text.split("/")
    if (
        len(segments) != 2
        or any(s in ("", ".", "..") or not _SEGMENT.fullmatch(s) for s in segments)
        or "%" in text
    ):
        raise RecipeValidationError(
            f'"{shown(model_id)}" is not a model ID: expected <org>/<model>, two segments '
            "of letters, digits, '.', '_' or '-' (no '.' or '..' segment, nothing %-encoded)"
        )
    return text


def redacted_url(url: str) -> str:
    """`url` as a message may quote it: userinfo (a password, or a token as the user name),
    query and fragment (`?token=`) replaced by `***`. By characters, not by parsing: a URL
    refused because it does not parse still has its secret taken out. Everything up to the
    last `@` after `//` counts as userinfo, so a password holding `/` or `@` goes whole."""
    text = url.strip()
    scheme, slashes, rest = text.partition("//") if "//" in text else ("", "", text)
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    for mark in ("#", "?"):
        if mark in rest:
            rest = rest.partition(mark)[0] + mark + "***"
    return shown(scheme + slashes + rest)


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash: HTTPS, or HTTP to a loopback host only. A
    refusal quotes it without its credentials (`redacted_url`)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a port that is no number
    except ValueError:
        host, parts = "", urlsplit("")
    if (
        not host
        or parts.scheme not in ("https", "http")
        or parts.username is not None
        or parts.query
        or parts.fragment
    ):
        raise RecipeValidationError(
            f'recipes base URL "{redacted_url(url)}" is not an http(s) URL without credentials, '
            "query or fragment"
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise RecipeValidationError(
            f'recipes base URL "{redacted_url(url)}" must use https (plain http is allowed only '
            "for loopback hosts)"
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def content_sha256(content: bytes) -> str:
    """The pin of a vendored document, and the recipe revision recorded in annotations."""
    return hashlib.sha256(content).hexdigest()


def recipe_path(model_id: str) -> str:
    return f"/{check_model_id(model_id)}.json"


def document_url(base_url: str, path: object) -> str:
    """The URL of `path` (a recipe-supplied `/org/model/...` path) under `base_url`.

    Refused unless it is a plain absolute path: no scheme or host (`https://evil/`,
    `//evil/`), no `.`/`..` or empty segment, nothing %-encoded, no backslash, query or
    fragment. Such a path can only name something under the base, on its origin."""
    if not isinstance(path, str) or not path.startswith("/") or len(path) > _MAX_PATH:
        raise RecipeValidationError(
            f'recipe path "{shown(str(path))}" is not a path under {base_url}'
        )
    segments = path[1:].split("/")
    if path.startswith("//") or any(
        s in ("", ".", "..") or not _PATH_SEGMENT.fullmatch(s) for s in segments
    ):
        raise RecipeValidationError(
            f'recipe path "{shown(path)}" is not a plain path under {base_url} '
            "(no host, '.' or '..' segment, empty segment or encoded character)"
        )
    url = base_url + path
    base, target = urlsplit(base_url), urlsplit(url)
    # Belt and braces: the joined URL is on the base's origin and under its path.
    if (target.scheme, target.netloc) != (base.scheme, base.netloc) or not target.path.startswith(
        base.path + "/"
    ):
        raise RecipeValidationError(f'recipe path "{shown(path)}" leaves {base_url}')
    return url


# --- documents ------------------------------------------------------------------------------


class _Document(BaseModel):
    """Recipe documents are upstream's: unknown keys are ignored, used ones are typed."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class HardwareProfile(_Document):
    gpu_count: int | None = Field(default=None, ge=0, le=4096)
    display_name: str | None = None


class Command(_Document):
    hardware: str | None = None
    strategy: str | None = None
    variant: str | None = None
    argv: list[str] = Field(default_factory=list)
    command: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    docker_image: str | None = None
    hardware_profile: HardwareProfile | None = None
    alternatives: dict[str, str] = Field(default_factory=dict)
    by_hardware: dict[str, str] = Field(default_factory=dict)


class Variant(_Document):
    model_id: str | None = None
    precision: str | None = None
    docker_image: str | None = None
    extra_args: list[str] = Field(default_factory=list)


class FeatureMode(_Document):
    args: list[str] = Field(default_factory=list)


class Feature(_Document):
    description: str | None = None
    args: list[str] = Field(default_factory=list)
    modes: dict[str, list[str] | FeatureMode] | None = None


class ModelInfo(_Document):
    model_id: str
    docker_image: str | None = None
    base_args: list[str] = Field(default_factory=list)
    base_env: dict[str, str] = Field(default_factory=dict)


class Recipe(_Document):
    hf_id: str
    model: ModelInfo
    features: dict[str, Feature] = Field(default_factory=dict)
    variants: dict[str, Variant] = Field(default_factory=dict)
    recommended_command: Command


class ModelEntry(_Document):
    hf_id: str
    title: str | None = None
    provider: str | None = None
    url: str | None = None
    json_path: str | None = Field(default=None, alias="json")


def parse_recipe(data: Any, url: str) -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeUpstreamError(f"{url} is not a recipe: {_first_error(exc)}") from None


def parse_rendering(data: Any, parent: Recipe, url: str) -> Recipe:
    """A hardware or strategy rendering: a whole recipe, or just its command (then the rest
    is the parent's)."""
    if isinstance(data, dict) and "recommended_command" not in data and "argv" in data:
        try:
            command = Command.model_validate(data)
        except ValidationError as exc:
            raise RecipeUpstreamError(f"{url} is not a recipe: {_first_error(exc)}") from None
        return parent.model_copy(update={"recommended_command": command})
    return parse_recipe(data, url)


def parse_models(data: Any, url: str) -> list[ModelEntry]:
    if not isinstance(data, list):
        raise RecipeUpstreamError(f"{url} is not a model list (expected a JSON array)")
    try:
        return [ModelEntry.model_validate(item) for item in data]
    except ValidationError as exc:
        raise RecipeUpstreamError(f"{url} is not a model list: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top)"
    return f"{where}: {first['msg']}"


# --- selection ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selection:
    """What the user asked for; None means the recipe's recommendation."""

    hardware: str | None = None  # None: not given; "": given blank (no annotation)
    strategy: str | None = None
    variant: str | None = None
    features: tuple[str, ...] = ()  # `name` or `name=mode`


def next_rendering(recipe: Recipe, selection: Selection) -> str | None:
    """The recipe path to fetch next for `selection`, or None when `recipe` already is the
    rendering asked for. Hardware first (its rendering lists its own strategies)."""
    command = recipe.recommended_command
    if selection.hardware and selection.hardware != command.hardware:
        return str(_choose(command.by_hardware, selection.hardware, "hardware", recipe.hf_id))
    if selection.strategy and selection.strategy != command.strategy:
        return str(_choose(command.alternatives, selection.strategy, "strategy", recipe.hf_id))
    return None


def walk_renderings(
    recipe: Recipe, selection: Selection, load: Callable[[str], tuple[Any, str]]
) -> Recipe:
    """From the base recipe to the rendering `selection` needs; `load(path)` gives a
    recipe-supplied path's JSON and the name to report it by (a URL, or a file of the pinned
    store). Bounded: renderings that point at each other end in an error."""
    for _ in range(MAX_RENDERING_HOPS):
        path = next_rendering(recipe, selection)
        if path is None:
            return recipe
        data, where = load(path)
        recipe = parse_rendering(data, recipe, where)
    raise RecipeUpstreamError(
        f"{recipe.hf_id}: no rendering for the selection after {MAX_RENDERING_HOPS} documents "
        "(the renderings point at each other)"
    )


def _choose(options: Mapping[str, Any], wanted: str, what: str, model: str) -> Any:
    if wanted not in options:
        available = ", ".join(sorted(options)) or "none"
        raise RecipeValidationError(
            f'recipe {model} has no {what} "{shown(wanted)}" (available: {available})'
        )
    return options[wanted]


# --- resolution -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolution:
    """A recipe rendering turned into ModelDeployment fields."""

    model_id: str
    image: str | None
    args: dict[str, str]
    extra_args: list[str]
    env: list[dict[str, str]]
    gpu_count: int
    annotations: dict[str, str]
    warnings: list[str] = field(default_factory=list)


def resolve(
    recipe: Recipe,
    selection: Selection,
    *,
    source: str,
    revision: str,
    flags: FlagRules,
) -> Resolution:
    """The spec fields of `recipe` (already the rendering `selection` needs)."""
    command = recipe.recommended_command
    if selection.hardware and command.hardware and selection.hardware != command.hardware:
        raise RecipeUpstreamError(
            f"the rendering for hardware {selection.hardware} is for {command.hardware}"
        )
    if selection.strategy and command.strategy and selection.strategy != command.strategy:
        raise RecipeUpstreamError(
            f"the rendering for strategy {selection.strategy} is for {command.strategy}"
        )
    variant_name = selection.variant or command.variant or _only(recipe.variants)
    variant = recipe.variants.get(variant_name) if variant_name else None
    if selection.variant and variant is None:
        _choose(recipe.variants, selection.variant, "variant", recipe.hf_id)
    warnings: list[str] = []
    model_id = (variant.model_id if variant else None) or recipe.model.model_id

    tokens = _serve_tokens(command, model_id)
    if variant is not None and variant_name != command.variant:
        tokens += variant.extra_args  # the recommendation's own variant is already in argv
    chosen_features = []
    for requested in selection.features:
        name, mode_args = _feature_args(recipe, requested)
        tokens += mode_args
        chosen_features.append(name)
    args, extra_args = _split_tokens(tokens, flags, warnings)

    env = {**recipe.model.base_env, **command.env}
    gpu_count = _gpu_count(tokens, flags, command, warnings)
    image = (variant.docker_image if variant else None) or command.docker_image
    image = image or recipe.model.docker_image
    values = {
        "source": source,
        "id": recipe.hf_id,
        "strategy": _recorded(selection.strategy, command.strategy),
        "hardware": _recorded(selection.hardware, command.hardware),
        "variant": _recorded(selection.variant, variant_name),
        "precision": variant.precision if variant else None,
        "revision": revision,
    }
    annotations = {GENERATED_BY: GENERATOR}
    for key in PROVENANCE_KEYS:
        value = values[key]
        if value and value.strip():
            annotations[ANNOTATION_PREFIX + key] = value
    if chosen_features:
        annotations[FEATURES_ANNOTATION] = json.dumps(chosen_features, separators=(",", ":"))
    return Resolution(
        model_id=model_id,
        image=image,
        args=args,
        extra_args=extra_args,
        env=[{"name": name, "value": value} for name, value in env.items()],
        gpu_count=gpu_count,
        annotations=annotations,
        warnings=warnings,
    )


def _recorded(chosen: str | None, recommended: str | None) -> str | None:
    """What provenance records: the choice, the recommendation when nothing was chosen, and
    nothing when the choice was given blank."""
    return recommended if chosen is None else chosen


def _only(options: Mapping[str, Any]) -> str | None:
    return next(iter(options)) if len(options) == 1 else None


def _serve_tokens(command: Command, model_id: str) -> list[str]:
    """The command's tokens after `vllm serve <model>`."""
    try:
        argv = list(command.argv) or shlex.split(command.command or "")
    except ValueError as exc:  # unbalanced quotes in `command`
        raise RecipeUpstreamError(f"the recipe's command cannot be split: {exc}") from None
    if argv[:2] == ["vllm", "serve"]:
        argv = argv[2:]
        if argv and not argv[0].startswith("-"):
            argv = argv[1:]  # the model, which spec.model.id carries
    return argv


def _feature_args(recipe: Recipe, requested: str) -> tuple[str, list[str]]:
    name, _, mode = requested.partition("=")
    feature = recipe.features.get(name)
    if feature is None:
        available = ", ".join(sorted(recipe.features)) or "none"
        raise RecipeValidationError(
            f'recipe {recipe.hf_id} has no feature "{shown(name)}" (available: {available})'
        )
    if feature.modes:
        if not mode or mode not in feature.modes:
            modes = ", ".join(sorted(feature.modes))
            raise RecipeValidationError(
                f'feature "{name}" of {recipe.hf_id} needs a mode: --feature {name}=<mode> '
                f"({modes})"
            )
        chosen = feature.modes[mode]
        return name, list(chosen if isinstance(chosen, list) else chosen.args)
    if mode:
        raise RecipeValidationError(f'feature "{name}" of {recipe.hf_id} has no modes')
    return name, list(feature.args)


@dataclass(frozen=True, slots=True)
class FlagRun:
    """One flag and its value as written (`--k v`, `--k=v`, a bare `--k`), or one non-flag
    token (`name` None)."""

    tokens: tuple[str, ...]
    name: str | None
    value: str = ""


def flag_runs(tokens: Sequence[str]) -> list[FlagRun]:
    """`tokens` grouped into flags with their values: the one place a recipe's command line
    is paired up, for args, extraArgs, the GPU count and what a spec overrides."""
    runs: list[FlagRun] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not is_flag_token(token):
            runs.append(FlagRun((token,), None))
            continue
        name, has_equals, value = token.partition("=")
        if not has_equals and index < len(tokens) and not is_flag_token(tokens[index]):
            value = tokens[index]
            index += 1
            runs.append(FlagRun((token, value), name, value))
        else:
            runs.append(FlagRun((token,), name, value))
    return runs


def _split_tokens(
    tokens: Sequence[str], flags: FlagRules, warnings: list[str]
) -> tuple[dict[str, str], list[str]]:
    args: dict[str, str] = {}
    taken: dict[str, str] = {}  # flag identity -> value, over args and extraArgs
    extra: list[str] = []
    for run in flag_runs(tokens):
        if run.name is None:
            extra.extend(run.tokens)
            continue
        identity = flags.identity(run.name)
        if any(flags.reserves(token) for token in run.tokens):
            warnings.append(
                f"recipe flag {run.name} dropped: the renderer owns networking (host 0.0.0.0, "
                "port 8000)"
            )
            continue
        if taken.get(identity) == run.value:
            continue  # the same flag and value twice: one is enough
        key = run.name[2:] if run.name.startswith("--") else ""
        if key and ARG_KEY.fullmatch(key) and identity not in taken:
            args[key] = run.value
        else:
            extra.extend(run.tokens)
        taken.setdefault(identity, run.value)
    return args, extra


def _gpu_count(
    tokens: Sequence[str], flags: FlagRules, command: Command, warnings: list[str]
) -> int:
    sizes: dict[str, int] = {}
    for run in flag_runs(tokens):
        identity = flags.identity(run.name) if run.name else None
        if identity in ("tensor-parallel-size", "pipeline-parallel-size") and run.value.isdigit():
            sizes.setdefault(identity, int(run.value))
    if sizes:
        return sizes.get("tensor-parallel-size", 1) * sizes.get("pipeline-parallel-size", 1)
    profile = command.hardware_profile
    if profile is not None and profile.gpu_count:
        warnings.append(
            f"the recipe sets no tensor or pipeline parallelism; GPU count {profile.gpu_count} "
            f"taken from the {profile.display_name or command.hardware or 'hardware'} profile"
        )
        return profile.gpu_count
    return 1
