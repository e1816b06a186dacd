"""The policy checks CEL can express, written as CEL from the same policy data as the compiler.

Two homes: `x-kubernetes-validations` on the CRD for rules about one object's spec (the image
conflict, provider immutability as a transition rule, reserved host/port flags, args/extraArgs
duplicates, arg keys), and a ValidatingAdmissionPolicy for rules that need metadata or reach
into the free-form overrides (compiler.core.cluster.admission). Messages are the
compiler's (compiler.core.policy), word for word, so a refusal reads the same in CI and at
admission.

Expressions use Kubernetes' CEL libraries beyond the standard ones: the regex library's
`find` and the strings library's `replace` (flag identity), and the quantity library
(ceilings); all are available wherever ValidatingAdmissionPolicy v1 is (Kubernetes 1.30+).
Flag identity in CEL is the compiler's `flag_identity`: leading dashes and any `=value` are
dropped by taking the first `[A-Za-z0-9][A-Za-z0-9_-]*` run, `_` reads as `-`, then aliases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from compiler.core.policy import (
    MSG_ARG_KEY,
    MSG_DUPLICATE_FLAG,
    MSG_IMAGE_CONFLICT,
    MSG_IMMUTABLE,
    MSG_RESERVED,
    PolicySet,
)

FLAG_NAME = "[A-Za-z0-9][A-Za-z0-9_-]*"
# A token that names a flag: dashes, then a letter or `_` (`-1` and `-.5` are values).
FLAG_TOKEN = "^-+[A-Za-z_]"  # noqa: S105 - a regular expression, not a secret
ARG_KEY = "^-*[A-Za-z0-9][A-Za-z0-9_-]*$"
DIRECT_VLLM = "vllm"


def cel_string(text: str) -> str:
    """A CEL string literal (single-quoted; backslash and quote escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cel_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(cel_string(item) for item in sorted(items)) + "]"


def cel_map(items: Mapping[str, str]) -> str:
    return (
        "{" + ", ".join(f"{cel_string(k)}: {cel_string(v)}" for k, v in sorted(items.items())) + "}"
    )


def flag_identity(token: str, aliases: Mapping[str, str]) -> str:
    """CEL for the identity of the flag in the string expression `token`."""
    base = f"{token}.find({cel_string(FLAG_NAME)}).replace('_', '-')"
    if not aliases:
        return base
    table = cel_map(aliases)
    # [x].map(...)[0] names the identity once instead of three times (CRD rules have no let).
    return f"[{base}].map(n, n in {table} ? {table}[n] : n)[0]"


def _message(template: str, **parts: str) -> str:
    """A messageExpression: the Python template with CEL expressions for its fields."""
    marker = "\x00"
    text = template.format(**{name: marker + name + marker for name in parts})
    pieces = text.split(marker)
    out = []
    for index, piece in enumerate(pieces):
        out.append(f"({parts[piece]})" if index % 2 else cel_string(piece))
    return " + ".join(p for p in out if p != "''")


def _rule(
    rule: str,
    message: str,
    message_expression: str | None = None,
    reason: str = "FieldValueInvalid",
) -> dict[str, Any]:
    found: dict[str, Any] = {"rule": rule, "message": message}
    if message_expression is not None:
        found["messageExpression"] = message_expression
    found["reason"] = reason
    return found


def engine_rules(policy: PolicySet) -> list[dict[str, Any]]:
    """Rules on `spec.engine`: arg keys, and a flag set in both args and extraArgs."""
    n = flag_identity
    aliases = policy.aliases
    bad_key = f"!k.matches({cel_string(ARG_KEY)})"
    same = f"{n('t', aliases)} == {n('k', aliases)}"
    dup = f"self.extraArgs.exists(t, t.matches({cel_string(FLAG_TOKEN)}) && {same})"
    return [
        _rule(
            f"!has(self.args) || self.args.all(k, !({bad_key}))",
            MSG_ARG_KEY.format(key="<key>"),
            _message(MSG_ARG_KEY, key=f"self.args.filter(k, {bad_key})[0]"),
        ),
        _rule(
            f"!has(self.args) || !has(self.extraArgs) || self.args.all(k, !{dup})",
            MSG_DUPLICATE_FLAG.format(key="<flag>"),
            _message(
                MSG_DUPLICATE_FLAG, key=f"self.args.filter(k, {dup}).map(k, {n('k', aliases)})[0]"
            ),
        ),
    ]


def spec_rules(policy: PolicySet) -> list[dict[str, Any]]:
    """Rules on `spec`: image conflict, provider immutability, Direct vLLM networking."""
    n = flag_identity
    aliases = policy.aliases
    reserved = cel_list(policy.reserved_networking)
    direct = (
        f"has(self.provider) && has(self.provider.name) && self.provider.name == "
        f"{cel_string(DIRECT_VLLM)} && has(self.engine)"
    )
    reserved_key = f"{n('k', aliases)} in {reserved}"
    reserved_token = f"t.matches({cel_string(FLAG_TOKEN)}) && {n('t', aliases)} in {reserved}"
    both_images = (
        "has(self.image) && has(self.engine) && has(self.engine.image) && self.image != '' && "
        "self.engine.image != ''"
    )
    return [
        _rule(
            f"!({both_images}) || self.image == self.engine.image",
            MSG_IMAGE_CONFLICT.format(a="<spec.image>", b="<spec.engine.image>"),
            _message(MSG_IMAGE_CONFLICT, a="self.image", b="self.engine.image"),
        ),
        # A transition rule: it runs on update only, with the stored object as oldSelf.
        _rule(
            "!has(oldSelf.provider) || !has(oldSelf.provider.name) || "
            "(has(self.provider) && has(self.provider.name) && "
            "self.provider.name == oldSelf.provider.name)",
            MSG_IMMUTABLE,
            reason="FieldValueForbidden",
        ),
        _rule(
            f"!({direct} && has(self.engine.args)) || !self.engine.args.exists(k, {reserved_key})",
            MSG_RESERVED.format(what="an engine arg"),
            _message(
                MSG_RESERVED,
                what=f"'engine arg \"' + self.engine.args.filter(k, {reserved_key})[0] + '\"'",
            ),
            reason="FieldValueForbidden",
        ),
        _rule(
            f"!({direct} && has(self.engine.extraArgs)) || "
            f"!self.engine.extraArgs.exists(t, {reserved_token})",
            MSG_RESERVED.format(what="an engine extraArg"),
            _message(
                MSG_RESERVED,
                what="'engine extraArg \"' + "
                f"self.engine.extraArgs.filter(t, {reserved_token})[0] + '\"'",
            ),
            reason="FieldValueForbidden",
        ),
    ]


def crd_rules(policy: PolicySet) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """`x-kubernetes-validations` by schema path under `spec`."""
    return {(): spec_rules(policy), ("engine",): engine_rules(policy)}
