"""Diagnostics: the one currency every check pays in.

A Diagnostic names the file, line, column, spec path, a stable code and the message. The
formatters here are pure (text for terminals, JSON for machines, SARIF 2.1.0 for GitHub code
scanning); printing happens in the CLI only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.path, self.code, self.message)


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
    unique = {(d.severity, d.code, d.message, d.location, d.path): d for d in diagnostics}
    return sorted(unique.values(), key=Diagnostic.sort_key)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def format_text(diagnostics: Sequence[Diagnostic]) -> str:
    """`path:line:col: error[CODE]: spec.path: message`, one per line."""
    lines = []
    for d in diagnostics:
        where = f"{d.path}: " if d.path else ""
        lines.append(one_line(f"{d.location}: {d.severity}[{d.code}]: {where}{d.message}"))
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
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": codes.index(d.code),
                "level": "error" if d.is_error else "warning",
                "message": {"text": text},
                "locations": [{"physicalLocation": physical}],
            }
        )
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
