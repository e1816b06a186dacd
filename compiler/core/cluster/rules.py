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
Reserved networking in CEL is the compiler's `FlagRules.reserves`, judged per token: the set of
option keys that reserve (every abbreviation of a reserved option string that argparse would
resolve to it or count among an ambiguity's candidates, minus exact spellings of other
options) is finite, so it is written out as one anchored regular expression, with `[-_]` where
vLLM reads `_` as `-`, an optional `--model=` in front (vLLM moves that value to the front),
and `[=.]` or the end after the key (an `=value` or a dotted JSON key). A property test draws
tokens and checks that the two verdicts agree. The duplicate rule compares names with dashes,
`=value` and `_` normalised away: CEL cannot resolve abbreviations against the option table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from compiler.core.errors import ConfigError
from compiler.core.policy import (
    MSG_ARG_KEY,
    MSG_DUPLICATE_FLAG,
    MSG_IMAGE_CONFLICT,
    MSG_IMMUTABLE,
    MSG_RESERVED,
    MSG_RESERVED_ENV,
    PolicySet,
)
from compiler.core.vllm_args import OMNI_TOKEN, FlagRules

FLAG_NAME = "[A-Za-z0-9][A-Za-z0-9_-]*"
# A token that names a flag: dashes, then a letter or `_` (`-1` and `-.5` are values).
FLAG_TOKEN = "^-+[A-Za-z_]"  # noqa: S105 - a regular expression, not a secret
ARG_KEY = "^[A-Za-z0-9][A-Za-z0-9_-]*$"
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


def flag_identity(token: str) -> str:
    """CEL for the name of the flag in the string expression `token` (dashes, `=value` and
    `_` normalised away)."""
    return f"{token}.find({cel_string(FLAG_NAME)}).replace('_', '-')"


def reserved_expression(rules: FlagRules, token: str) -> str:
    """CEL that is true of the string expression `token` exactly when `rules.reserves` is.

    Written with startsWith and list membership over the handful of reserved option strings
    rather than one regular expression over every abbreviation: CEL's cost estimate charges a
    regex match by the product of the string's and the pattern's sizes, and a token may be
    4 KiB long. `[x].exists(k, ...)` binds a value once (CRD rules have no `let`).
    """
    strings = rules.reserved_strings()
    for string in strings:
        if len(string) == 2 and string[0] == "-" and string[1] != "-":
            # argparse gives `-x` the rest of the token as its value (`-xVALUE`), which a
            # per-token prefix test cannot express.
            raise ConfigError(
                f"a reserved option with the one-letter spelling {string} cannot be written as "
                "an admission rule"
            )
    # Exact spellings of other options that are also prefixes of a reserved one: argparse
    # takes the exact option, so they reserve nothing (`--config-format` is not `--config`).
    exact_others = sorted(
        s
        for s, option in rules.table.by_string.items()
        if option.name not in rules.reserved and any(r.startswith(s) for r in strings)
    )
    aliases = {
        spelling: (option := rules.table.option(target)) is not None
        and option.name in rules.reserved
        for spelling, target in rules.aliases.items()
    }
    alias_map = (
        "{"
        + ", ".join(
            f"{cel_string(k)}: {'true' if v else 'false'}" for k, v in sorted(aliases.items())
        )
        + "}"
    )
    names = cel_list(rules.reserved)
    # Bound names are ones no enclosing rule uses (rules bind k and t).
    by_table = (
        "[fk.startsWith('--') ? fk.replace('_', '-') : fk].exists(fn, "
        f"!(fn in {cel_list(exact_others)}) && {cel_list(strings)}.exists(fr, fr.startsWith(fn)))"
    )
    by_name = f"(fa in {names} || {by_table})"
    body = (
        "size(fk) >= 2 && fk != '--' && [fk.find('[^-].*').replace('_', '-')].exists(fa, "
        + (f"fa in {alias_map} ? {alias_map}[fa] : {by_name}" if aliases else by_name)
        + ")"
    )
    keys = f"[{token}.find('^-[^=.]*'), {token}.find('^--model=-[^=.]*').replace('--model=', '')]"
    return f"({token} == {cel_string(OMNI_TOKEN)} || {keys}.exists(fk, {body}))"


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
    bad_key = f"!k.matches({cel_string(ARG_KEY)})"
    same = f"{n('t')} == {n('k')}"
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
            _message(MSG_DUPLICATE_FLAG, key=f"self.args.filter(k, {dup}).map(k, {n('k')})[0]"),
        ),
    ]


def spec_rules(policy: PolicySet) -> list[dict[str, Any]]:
    """Rules on `spec`: image conflict, provider immutability, Direct vLLM networking."""
    flags = policy.flags
    direct = (
        f"has(self.provider) && has(self.provider.name) && self.provider.name == "
        f"{cel_string(DIRECT_VLLM)} && has(self.engine)"
    )
    # An args entry renders as `--<key without its dashes>` and, unless empty, its value.
    rendered_key = "('--' + k.find('[^-].*'))"
    reserved_key = (
        f"{reserved_expression(flags, rendered_key)} || "
        f"{reserved_expression(flags, 'self.engine.args[k]')}"
    )
    reserved_token = reserved_expression(flags, "t")
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
        *_reserved_env_rules(policy),
    ]


def _reserved_env_rules(policy: PolicySet) -> list[dict[str, Any]]:
    """Direct vLLM: the variables vLLM reads for its own addresses are not the user's."""
    if not policy.reserved_env:
        return []
    direct = (
        f"has(self.provider) && has(self.provider.name) && "
        f"self.provider.name == {cel_string(DIRECT_VLLM)} && has(self.env)"
    )
    taken = f"self.env.filter(e, has(e.name) && e.name in {cel_list(policy.reserved_env)})"
    return [
        _rule(
            f"!({direct}) || size({taken}) == 0",
            MSG_RESERVED_ENV.format(name="<name>"),
            _message(MSG_RESERVED_ENV, name=f"{taken}[0].name"),
            reason="FieldValueForbidden",
        )
    ]


def crd_rules(policy: PolicySet) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """`x-kubernetes-validations` by schema path under `spec`."""
    return {(): spec_rules(policy), ("engine",): engine_rules(policy)}
