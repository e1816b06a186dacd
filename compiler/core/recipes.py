"""vLLM recipes (recipes.vllm.ai): what may be asked for, and how a recipe becomes a spec.

Pure. The client (`compiler.io.recipe_client`) fetches; this module decides which URLs it may
fetch at all, which rendering of a recipe a selection needs next, and how the chosen rendering
turns into ModelDeployment fields, the way AI Runway's "Apply recipe" does:

- `vllm serve <model>` is dropped; `--key value` tokens become `engine.args` (a bare flag is an
  empty value); a token that is not a clean key, or a key already taken, goes to
  `engine.extraArgs` in order; an exact repeat of a flag and value already taken is dropped;
- reserved flags (`FlagRules.reserves`: `--host`, `--port` and the rest of Direct vLLM's
  reserved options, in any spelling) are dropped with a warning: the renderer owns where and
  how the server listens, and a recipe cannot move the port away from the Service and probes;
  `--omni` alone is refused rather than dropped, since without it another server would run;
- the image: a per-vendor `docker_image` map (variant's, else model's) gives the image of the
  rendering's hardware vendor (its `hardware_profile`), refused when the map has none;
- what the API serves but one Direct vLLM server cannot be (a vLLM-Omni recipe, a recipe
  with no rendered command, a multi_node, pd_cluster or kv_store_lb rendering) is refused
  saying so (`RecipeUnsupportedError`);
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
from compiler.core.errors import (
    RecipeUnsupportedError,
    RecipeUpstreamError,
    RecipeValidationError,
)
from compiler.core.hosts import is_loopback
from compiler.core.policy import ARG_KEY, is_flag_token
from compiler.core.vllm_args import OMNI_TOKEN, FlagRules, rewrite_name

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

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


# A `docker_image` as recipes write it: one image (NVIDIA's), or a map by vendor (`nvidia`,
# `amd`, `tpu`, ...) whose NVIDIA value may itself be a map by CUDA version (`cu129`, `cu130`).
DockerImage = str | dict[str, str | dict[str, str]]


class HardwareProfile(_Document):
    gpu_count: int | None = Field(default=None, ge=0, le=4096)
    display_name: str | None = None
    brand: str | None = None
    generation: str | None = None


class Command(_Document):
    hardware: str | None = None
    strategy: str | None = None
    variant: str | None = None
    deploy_type: str | None = None
    node_count: int | None = None
    argv: list[str] = Field(default_factory=list)
    command: str | None = None
    # Present on the renderings runwayc refuses (multi_node); typed only to be named.
    head_argv: list[str] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    docker_image: DockerImage | None = None
    hardware_profile: HardwareProfile | None = None
    alternatives: dict[str, str] = Field(default_factory=dict)
    by_hardware: dict[str, str] = Field(default_factory=dict)


class Variant(_Document):
    model_id: str | None = None
    precision: str | None = None
    docker_image: DockerImage | None = None
    extra_args: list[str] = Field(default_factory=list)


class FeatureMode(_Document):
    args: list[str] = Field(default_factory=list)


class Feature(_Document):
    description: str | None = None
    args: list[str] = Field(default_factory=list)
    modes: dict[str, list[str] | FeatureMode] | None = None


class ModelInfo(_Document):
    model_id: str
    docker_image: DockerImage | None = None
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
    """A recipe document; one the API serves in a shape runwayc cannot render is refused with
    what it is (`RecipeUnsupportedError`), not with the first field it lacks."""
    if isinstance(data, dict):
        _refuse_unrenderable(data, url)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeUpstreamError(f"{url} is not a recipe: {_first_error(exc)}") from None


# Keys only a rendering (a command, not a whole recipe) carries, whatever its deploy type.
_RENDERING_KEYS = frozenset({"argv", "command", "deploy_type", "head_argv", "prefill", "vllm_argv"})


def parse_rendering(data: Any, parent: Recipe, url: str) -> Recipe:
    """A hardware or strategy rendering: a whole recipe, or just its command (then the rest
    is the parent's; so is the hardware profile, when the rendering is for the same hardware
    and names none, as the API's strategy alternatives do)."""
    if (
        isinstance(data, dict)
        and "recommended_command" not in data
        and not _RENDERING_KEYS.isdisjoint(data)
    ):
        try:
            command = Command.model_validate(data)
        except ValidationError as exc:
            raise RecipeUpstreamError(f"{url} is not a recipe: {_first_error(exc)}") from None
        inherited = parent.recommended_command
        if command.hardware_profile is None and command.hardware in (None, inherited.hardware):
            command = command.model_copy(update={"hardware_profile": inherited.hardware_profile})
        return parent.model_copy(update={"recommended_command": command})
    return parse_recipe(data, url)


def _refuse_unrenderable(data: Mapping[str, Any], url: str) -> None:
    """The API publishes recipes with no command for a reason: say that reason."""
    name = _text(data.get("hf_id")) or url
    tasks = _mapping(data.get("meta")).get("tasks")
    if isinstance(data.get("omni"), dict) or (isinstance(tasks, list) and "omni" in tasks):
        raise RecipeUnsupportedError(_omni_refusal(name, data))
    if "recommended_command" not in data and isinstance(data.get("model"), dict):
        raise RecipeUnsupportedError(
            f"recipe {shown(name)} has no recommended_command: the recipes API published "
            "no command for it (it renders none when the default variant fits no hardware it "
            "knows), and runwayc renders only a command the API rendered"
        )


def _omni_refusal(name: str, data: Mapping[str, Any]) -> str:
    omni = _mapping(data.get("omni"))
    binary = _text(omni.get("serve_binary")) or "vllm serve"
    model_id = _text(_mapping(data.get("model")).get("model_id")) or name
    listed = omni.get("tasks")
    entries: list[Any] = listed if isinstance(listed, list) else []
    tasks = [t for t in (_text(_mapping(t).get("id")) or _text(t) for t in entries) if t]
    tasks_text = f"; tasks: {', '.join(shown(t) for t in tasks)}" if tasks else ""
    return (
        f"recipe {shown(name)} is a vLLM-Omni recipe (it serves with "
        f"`{shown(binary)} {shown(model_id)} {OMNI_TOKEN}`{tasks_text}); runwayc cannot "
        f"render it yet: {OMNI_TOKEN} hands the whole command line to vLLM-Omni's own parser "
        "and deploy config, which runwayc does not check, so it is reserved for Direct vLLM"
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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
    _check_single_server(recipe, command)
    variant_name = selection.variant or command.variant or _only(recipe.variants)
    variant = recipe.variants.get(variant_name) if variant_name else None
    if selection.variant and variant is None:
        _choose(recipe.variants, selection.variant, "variant", recipe.hf_id)
    warnings: list[str] = []
    model_id = (variant.model_id if variant else None) or recipe.model.model_id

    tokens = _serve_tokens(recipe, command, model_id)
    if variant is not None and variant_name != command.variant:
        tokens += variant.extra_args  # the recommendation's own variant is already in argv
    chosen_features = []
    for requested in selection.features:
        name, mode_args = _feature_args(recipe, requested)
        tokens += mode_args
        chosen_features.append(name)
    if OMNI_TOKEN in tokens:
        # Reserved, but not droppable like a networking flag: without it a different server
        # would run than the recipe describes.
        raise RecipeUnsupportedError(
            f"{_rendering(recipe, command)} serves with {OMNI_TOKEN} (vLLM-Omni); runwayc "
            f"cannot render it yet: {OMNI_TOKEN} hands the whole command line to vLLM-Omni's "
            "own parser, so it is reserved for Direct vLLM"
        )
    args, extra_args = _split_tokens(tokens, flags, warnings)

    env = {**recipe.model.base_env, **command.env}
    gpu_count = _gpu_count(tokens, flags, command, warnings)
    image = _image(recipe, variant_name, variant, command)
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


def _rendering(recipe: Recipe, command: Command) -> str:
    """How a refusal names the rendering: `recipe X's rendering (hardware h100, strategy s)`."""
    parts = [
        f"{what} {shown(value)}"
        for what, value in (("hardware", command.hardware), ("strategy", command.strategy))
        if value
    ]
    where = f" ({', '.join(parts)})" if parts else ""
    return f"recipe {shown(recipe.hf_id)}'s rendering{where}"


# What each deploy type the API renders, other than one server, needs besides a pod.
_TOPOLOGIES = {
    "multi_node": "one vLLM server spread over {nodes} nodes, a head command and a worker "
    "command per node (head_argv, worker_argv)",
    "pd_cluster": "separate prefill and decode vLLM servers behind a router (prefill, decode, "
    "router)",
    "kv_store_lb": "vLLM instances behind a router sharing a Mooncake KV store (vllm_argv, "
    "master, store, router)",
}


def _check_single_server(recipe: Recipe, command: Command) -> None:
    """A Direct vLLM ModelDeployment is one `vllm serve` per replica: a rendering that is
    anything else is refused with what it is, never rendered from whichever half fits."""
    deploy_type = command.deploy_type or ("multi_node" if command.head_argv else None)
    if deploy_type in (None, "single_node"):
        return
    nodes = str(command.node_count) if command.node_count else "several"
    topology = _TOPOLOGIES.get(deploy_type)
    if topology is None:
        raise RecipeUnsupportedError(
            f'{_rendering(recipe, command)} has deploy_type "{shown(deploy_type)}", which '
            "runwayc does not know; it renders single_node recipes only"
        )
    raise RecipeUnsupportedError(
        f"{_rendering(recipe, command)} is {deploy_type}: {topology.format(nodes=nodes)}; "
        "runwayc renders one vLLM server per replica (single_node) and cannot render it; "
        "choose a single_node strategy or hardware (--strategy, --hardware)"
    )


def _serve_tokens(recipe: Recipe, command: Command, model_id: str) -> list[str]:
    """The command's tokens after `vllm serve <model>`."""
    try:
        argv = list(command.argv) or shlex.split(command.command or "")
    except ValueError as exc:  # unbalanced quotes in `command`
        raise RecipeUpstreamError(f"the recipe's command cannot be split: {exc}") from None
    if not argv:
        raise RecipeUpstreamError(f"{_rendering(recipe, command)} has no command (argv)")
    # As AI Runway reads it: `vllm serve <model> ...`, `serve <model> ...`, or flags alone.
    prefix = 2 if argv[:2] == ["vllm", "serve"] else 1 if argv[0] == "serve" else 0
    if not prefix and not argv[0].startswith("-"):
        raise RecipeUnsupportedError(
            f"{_rendering(recipe, command)} runs `{shown(' '.join(argv[:2]))}`, not "
            "`vllm serve`; runwayc renders vllm serve commands only"
        )
    if prefix:
        argv = argv[prefix:]
        if argv and not argv[0].startswith("-"):
            argv = argv[1:]  # the model, which spec.model.id carries
    return argv


# The vendor a hardware profile's image comes from, as the recipes site keys `docker_image`
# (its computeDockerMeta): TPU and CPU by generation, the rest by brand.
_VENDOR_BY_GENERATION = {"tpu": "tpu", "cpu": "intel", "ascend": "ascend"}
_VENDOR_BY_BRAND = {"nvidia": "nvidia", "amd": "amd", "intel": "intel", "huawei": "ascend"}


def hardware_vendor(profile: HardwareProfile | None) -> str | None:
    """`nvidia`, `amd`, `tpu`, `intel`, `ascend`, another brand lower-cased, or None."""
    if profile is None:
        return None
    generation = (profile.generation or "").strip().lower()
    if generation in _VENDOR_BY_GENERATION:
        return _VENDOR_BY_GENERATION[generation]
    brand = (profile.brand or "").strip().lower()
    return _VENDOR_BY_BRAND.get(brand, brand or None)


def _image(
    recipe: Recipe, variant_name: str | None, variant: Variant | None, command: Command
) -> str | None:
    """The image: a per-vendor map the recipe declares (variant, then model) decides, for the
    vendor of the rendering's hardware; else the variant's (on NVIDIA hardware), the
    rendering's, the model's image. A declared map beats the rendering's image because, for
    a vendor the map leaves out, the API renders its unpinned default (`:latest`), not an
    image the recipe chose."""
    own = variant.docker_image if variant is not None else None
    if isinstance(own, dict):
        return _vendor_image(recipe, command, own, f"variants.{variant_name}.docker_image")
    if own and hardware_vendor(command.hardware_profile) in (None, "nvidia"):
        return own  # one image is NVIDIA's (the site's rule): other vendors' come from below
    model = recipe.model.docker_image
    if isinstance(model, dict):
        return _vendor_image(recipe, command, model, "model.docker_image")
    rendered = command.docker_image
    if isinstance(rendered, dict):
        return _vendor_image(recipe, command, rendered, "recommended_command.docker_image")
    return rendered or model or None


def _vendor_image(recipe: Recipe, command: Command, images: Mapping[str, Any], where: str) -> str:
    keys = ", ".join(sorted(shown(k) for k in images)) or "none"
    hardware = shown(command.hardware or "the recommended")
    vendor = hardware_vendor(command.hardware_profile)
    if vendor is None:
        raise RecipeUnsupportedError(
            f"recipe {shown(recipe.hf_id)}'s {where} is per vendor ({keys}), and its "
            f"rendering for {hardware} hardware names no vendor (hardware_profile.brand); "
            "runwayc cannot tell which image to run"
        )
    image = images.get(vendor)
    if isinstance(image, str) and image:
        return image
    if isinstance(image, dict):
        versions = ", ".join(sorted(shown(k) for k in image))
        raise RecipeUnsupportedError(
            f"recipe {shown(recipe.hf_id)}'s {where} for {vendor} is per CUDA version "
            f"({versions}); runwayc cannot tell which CUDA the nodes' driver runs, so it "
            "cannot choose the image"
        )
    raise RecipeUnsupportedError(
        f"recipe {shown(recipe.hf_id)} has no image for {vendor} hardware ({hardware}): its "
        f"{where} is per vendor and lists {keys}"
    )


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


def flag_runs(tokens: Sequence[str], flags: FlagRules) -> list[FlagRun]:
    """`tokens` grouped into flags with their values: the one place a recipe's command line
    is paired up, for args, extraArgs, the GPU count and what a spec overrides. A flag vLLM
    knows takes as many values as its option does (none for `--enforce-eager`, every one up
    to the next option for `--served-model-name a b`); an unknown one the value after it."""
    runs: list[FlagRun] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not is_flag_token(token):
            runs.append(FlagRun((token,), None))
            continue
        name, has_equals, value = token.partition("=")
        option = flags.resolve(rewrite_name(token)).option
        wanted = 1 if option is None else {"none": 0, "many": len(tokens)}.get(option.arity, 1)
        taken = [token]
        while (
            not has_equals
            and len(taken) <= wanted
            and index < len(tokens)
            and not is_flag_token(tokens[index])
        ):
            taken.append(tokens[index])
            index += 1
        runs.append(FlagRun(tuple(taken), name, taken[1] if len(taken) > 1 else value))
    return runs


def _split_tokens(
    tokens: Sequence[str], flags: FlagRules, warnings: list[str]
) -> tuple[dict[str, str], list[str]]:
    args: dict[str, str] = {}
    taken: dict[str, str] = {}  # flag identity -> value, over args and extraArgs
    extra: list[str] = []
    for run in flag_runs(tokens, flags):
        if run.name is None:
            extra.extend(run.tokens)
            continue
        identity = flags.identity(run.name)
        if any(flags.reserves(token) for token in run.tokens):
            warnings.append(
                f"recipe flag {run.name} dropped: it is reserved for Direct vLLM, which owns "
                "where and how the server listens (host 0.0.0.0, port 8000)"
            )
            continue
        if taken.get(identity) == run.value:
            continue  # the same flag and value twice: one is enough
        key = run.name[2:] if run.name.startswith("--") else ""
        # An args entry renders as `--key value`: one value at most.
        if key and ARG_KEY.fullmatch(key) and identity not in taken and len(run.tokens) <= 2:
            args[key] = run.value
        else:
            extra.extend(run.tokens)
        taken.setdefault(identity, run.value)
    return args, extra


def _gpu_count(
    tokens: Sequence[str], flags: FlagRules, command: Command, warnings: list[str]
) -> int:
    sizes: dict[str, int] = {}
    for run in flag_runs(tokens, flags):
        identity = flags.identity(run.name) if run.name else None
        if identity not in ("tensor-parallel-size", "pipeline-parallel-size"):
            continue
        # vLLM reads these with argparse's `int`, which also takes "²" or "٣" (str.isdigit
        # holds for them; int() refuses the first): only a positive ASCII number sizes a GPU.
        if not (run.value.isascii() and run.value.isdigit() and int(run.value) > 0):
            raise RecipeUpstreamError(
                f"the recipe's command sets {run.name} to {run.value!r}, which is not a "
                "positive number of GPUs"
            )
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
