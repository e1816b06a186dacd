"""Bad usage found by the edge (after reading something): the CLI shows it as click would."""

from __future__ import annotations


class UsageProblem(Exception):
    """A flag the repository contradicts: exit 2 with the usage hint, like a click error.
    With `param_hint`, shown as a bad value of that option."""

    def __init__(self, message: str, param_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint
