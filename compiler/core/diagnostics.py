"""Diagnostics: the one currency every check pays in.

A Diagnostic names the file, line, column, spec path, a stable code and the message, and the
environment when it arose in some of the environments a command covered but not in all of
them. The formatters here are pure (text for terminals, JSON for machines, SARIF 2.1.0 for
GitHub code scanning); printing happens in the CLI only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a source file; line and column are 1-based (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    code: str
    message: str
    location: Location
    path: str = ""
    # The environment it is specific to (see `by_environment`); None: every one covered.
    environment: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str, str, str]:
        loc = self.location
        where = self.environment or ""
        return (loc.file, loc.line, loc.column, self.path, self.code, self.message, where)

    def identity(self) -> tuple[Severity, str, str, Location, str, str | None]:
        """What makes two diagnostics the same one (and the second a duplicate)."""
        return (self.severity, self.code, self.message, self.location, self.path, self.environment)


def shown(text: str, limit: int = 200) -> str:
    """An untrusted value as a message may quote it: control characters escaped (a refused
    value must not rewrite the terminal it is printed on), bounded."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)[
        :limit
    ]


def error(code: str, message: str, location: Location, path: str = "") -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, location, path)


def warning(code: str, message: str, location: Location, path: str = "") -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, message, location, path)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by file, line and column, duplicates dropped: the order every format uses."""
    unique = {d.identity(): d for d in diagnostics}
    return sorted(unique.values(), key=Diagnostic.sort_key)


def by_environment(found: Mapping[str, Iterable[Diagnostic]]) -> list[Diagnostic]:
    """The diagnostics of several environments' compiles as one list: one that every
    environment gave alike is there once, unmarked (a broken spec is reported once, not once
    per environment); one that only some gave (an overlay's ceiling in prod) is there once for
    each of them, marked with it. With one environment nothing is marked: the command line
    names it."""
    if len(found) < 2:
        return [d for diagnostics in found.values() for d in diagnostics]
    where: dict[tuple[Severity, str, str, Location, str, str | None], list[str]] = {}
    first: dict[tuple[Severity, str, str, Location, str, str | None], Diagnostic] = {}
    for env, diagnostics in found.items():
        for d in diagnostics:
            key = d.identity()
            envs = where.setdefault(key, [])
            if env not in envs:
                envs.append(env)
            first.setdefault(key, d)
    merged: list[Diagnostic] = []
    for key, envs in where.items():
        d = first[key]
        if len(envs) == len(found) or d.environment is not None:
            merged.append(d)
        else:
            merged.extend(replace(d, environment=env) for env in envs)
    return merged


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


# How the CLI colours a diagnostic's `error[CODE]` (or `warning[CODE]`): the text and its
# severity in, the text to print out. The formatter stays pure and terminal-agnostic.
Paint = Callable[[str, Severity], str]


def _plain(text: str, severity: Severity) -> str:
    del severity
    return text


def environment_tag(d: Diagnostic) -> str:
    """`[prod] ` for a diagnostic specific to prod, else nothing. It leads the message, so
    `path:line:col: error[CODE]: ` reads as ever for editors, problem matchers and grep."""
    return f"[{d.environment}] " if d.environment else ""


def format_text(diagnostics: Sequence[Diagnostic], paint: Paint = _plain) -> str:
    """`path:line:col: error[CODE]: [env] spec.path: message`, one per line."""
    lines = []
    for d in diagnostics:
        where = f"{d.path}: " if d.path else ""
        label = paint(one_line(f"{d.severity}[{d.code}]"), d.severity)
        rest = one_line(f"{environment_tag(d)}{where}{d.message}")
        lines.append(f"{one_line(str(d.location))}: {label}: {rest}")
    return "\n".join(lines) + ("\n" if lines else "")


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` with its control characters written as escapes (`\\n`, `\\x1b`). A diagnostic
    echoes a user's values (a name, a file name); a newline among them would split the line a
    CI log, an editor or `grep` reads, and a terminal escape would drive the terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _as_dict(d: Diagnostic) -> dict[str, Any]:
    return {
        "severity": str(d.severity),
        "code": d.code,
        "message": d.message,
        "file": d.location.file,
        "line": d.location.line,
        "column": d.location.column,
        "path": d.path,
        "environment": d.environment,
    }


def format_json(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    doc = {
        "diagnostics": [_as_dict(d) for d in diagnostics],
        "summary": {"errors": errors, "warnings": len(diagnostics) - errors},
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def format_sarif(diagnostics: Sequence[Diagnostic], tool_version: str) -> str:
    """SARIF 2.1.0, one rule per diagnostic code, as GitHub code scanning reads it."""
    codes = sorted({d.code for d in diagnostics})
    rules = [{"id": code, "name": code, "shortDescription": {"text": code}} for code in codes]
    results = []
    for d in diagnostics:
        region: dict[str, int] = {}
        if d.location.line:
            region = {"startLine": d.location.line, "startColumn": max(d.location.column, 1)}
        physical: dict[str, Any] = {"artifactLocation": {"uri": d.location.file}}
        if region:
            physical["region"] = region
        text = f"{d.path}: {d.message}" if d.path else d.message
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": codes.index(d.code),
            "level": "error" if d.is_error else "warning",
            # The tag in the text too: code scanning shows the message, not the properties.
            "message": {"text": environment_tag(d) + text},
            "locations": [{"physicalLocation": physical}],
        }
        if d.environment is not None:
            result["properties"] = {"environment": d.environment}
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "runwayc",
                        "version": tool_version,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def as_json_object(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as `--format json` writes it, for formats that embed diagnostics."""
    return _as_dict(d)
