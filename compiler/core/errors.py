"""The one exception hierarchy of runwayc.

    RunwayError                  base; carries zero or more Diagnostics
    ├── LoadError                a document past a load bound (the nesting depth of JSON)
    ├── ImageError               image reference or pin problems
    ├── RecipeError              recipe resolution problems
    │   ├── RecipeValidationError    a model ID, URL or recipe path refused before any request
    │   ├── RecipeUpstreamError      the recipes API failed or sent what cannot be read
    │   ├── RecipeTimeoutError       the recipes API did not answer within the time limit
    │   ├── RecipeTooLargeError      a response body passed the size limit
    │   └── RecipeUnsupportedError   a shape the API serves that runwayc cannot render (exit 2)
    ├── ConfigError              runway.yaml, runway.lock, overlays or policy files
    │   └── RepositoryNotFoundError  no runway.yaml in a command's directory or its parents
    ├── FlagError                a flag the repository contradicts (exit 2, as click's)
    ├── PublishError             git publishing
    │   └── PublishRefused           a publish that would lose work, refused before any push
    ├── OutputError              an output directory runwayc does not own (exit 2)
    ├── InitRefused              a directory `runwayc init` may not write into (exit 2)
    ├── PromQLError              a metric or label name PromQL cannot express
    └── AgentError               the in-cluster status agent
        └── PrometheusError          the saturation analyzer's Prometheus (config, answers)

Third-party exceptions are translated into these at exactly one boundary each (`raise ... from
exc`); anything else is a bug and is re-raised. The CLI maps a RunwayError to exit code 1 and
prints its diagnostics (or `exit_code`, 2 for input refused before any work); it never prints
a traceback for one. A problem with a user's file is a Diagnostic, not an exception: compile
reports every one at once; exceptions are for what stops a command.
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.core.diagnostics import Diagnostic


class RunwayError(Exception):
    """Base of every error runwayc raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)


class LoadError(RunwayError):
    """A document could not be read within runwayc's load bounds. YAML sources never raise
    it (their problems are diagnostics, every one at once); JSON read by `load_json` does."""


class ImageError(RunwayError):
    """An image reference is malformed or a required pin is missing."""


class RecipeError(RunwayError):
    """A recipe could not be resolved."""


class RecipeValidationError(RecipeError):
    """A model ID, base URL or recipe-supplied path was refused before any request."""

    exit_code = 2


class RecipeUpstreamError(RecipeError):
    """The recipes API answered with an error, a redirect, or a body that is not a recipe."""


class RecipeTimeoutError(RecipeError):
    """The recipes API did not finish answering within the time limit."""


class RecipeTooLargeError(RecipeError):
    """A response body passed the size limit; reading stopped there."""


class RecipeUnsupportedError(RecipeError):
    """A recipe in a shape the API really serves that runwayc cannot render faithfully (a
    vLLM-Omni recipe, a multi-node or disaggregated rendering, no image for the hardware's
    vendor): refused, saying what the recipe is and why."""

    exit_code = 2


class ConfigError(RunwayError):
    """runway.yaml, runway.lock, an overlay or a policy file is invalid."""


class RepositoryNotFoundError(ConfigError):
    """No runway.yaml in the directory a command was given, or in any parent (exit 2)."""

    exit_code = 2

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


class FlagError(RunwayError):
    """A flag the repository contradicts (an environment runway.yaml does not list, an
    `--update` no model uses): exit 2 with click's usage hint, as for any bad flag. With
    `param_hint`, shown as a bad value of that option."""

    exit_code = 2

    def __init__(self, message: str, param_hint: str | None = None) -> None:
        super().__init__(message)
        self.param_hint = param_hint


class PublishError(RunwayError):
    """Publishing the hydrated tree failed."""


class PublishRefused(PublishError):
    """A publish that would replace sources, roll an environment back, leave uncommitted work
    out, or write outside the branch: refused before anything is pushed (exit 2)."""

    exit_code = 2


class AgentError(RunwayError):
    """The status agent cannot do its work."""


class PromQLError(RunwayError):
    """A metric or label name PromQL cannot express (values are escaped, never refused)."""


class PrometheusError(AgentError):
    """The saturation analyzer's Prometheus is not configured, unreachable or answered badly."""


class OutputError(RunwayError):
    """The output directory was refused: it holds what runwayc did not write (sources, `.git`,
    another environment's tree, a symlink), a path would leave it, or a compile would empty
    an environment that had models. Nothing was written; exit 2, as for a bad flag."""

    exit_code = 2


class InitRefused(RunwayError):
    """`runwayc init` was given a directory it may not write into (not empty, a file, inside
    another runwayc repository): nothing was written, nothing overwritten; exit 2."""

    exit_code = 2
