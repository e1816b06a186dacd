"""How `vllm serve` reads its command line, from the option table in policies/.

A check of launch flags is only as good as its model of the parser on the other end. vLLM's
`FlexibleArgumentParser` first rewrites the whole argv, then hands it to Python's argparse
with abbreviations on. This module is that model, in the same two steps, so every check, the
renderer, `recipe apply` and the cluster rules' generator judge a token the way vLLM will:

1. vLLM's rewriting (vllm/utils/argparse_utils.py): the first `--model X` or `--model=X`
   becomes the positional model; `--help=kw` becomes `--help`; in a `--` token `_` becomes
   `-` in the name up to the first `.`; `-O3`, `-O=3`, `-Oname` and `-O N` (N in 0..3) become
   `--optimization-level`; dotted JSON args (`--x.a v`, `--x.a=v`, `--x.l+ v1,v2`; any token
   that starts with `-` and holds a `.`) take the next token as their value and are appended
   last as `--x '{json}'`, spelled as written (so `--por.a 1` is `--por`, which is `--port`).
2. argparse (CPython 3.11's `_parse_optional` / `_get_option_tuples`): an exact option string
   wins; then `--name=value`; then any option string that starts with the token (a unique
   prefix is that option, several are "ambiguous option: X could match A, B"); a one-letter
   short option takes an attached value (`-qawq`); a negative number or a token with a space is
   a value; anything else is an unknown option (vLLM exits: "unrecognized arguments"). An option
   takes no value, exactly one, an optional one or one or more, from the tokens after it up to
   the next option; `--` ends the options.

The table is data (policies/vllm-serve-options.json, for the vLLM version it names); nothing
here knows an option by name except the rewriting rules above, which are vLLM's code.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from compiler.core.errors import ConfigError

OPTIONS_FILE = "vllm-serve-options.json"

Arity = Literal["none", "one", "optional", "many"]
_ARITIES: frozenset[str] = frozenset({"none", "one", "optional", "many"})

# argparse's `_negative_number_matcher`: with no option that looks like a negative number
# (vLLM has none), such a token is a value.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
# vLLM's rewriting, matched the way its code matches (re.match on the raw token).
_MODEL_TOKEN = re.compile(r"^--model(=.+|$)")
_OPTIMIZATION_LEVELS = frozenset({"0", "1", "2", "3"})
# vllm-omni: an exact `--omni` anywhere hands the whole command line to another CLI.
_RESOLVED_CACHE = 4096  # tokens remembered per table: bounded, since specs are untrusted
OMNI_TOKEN = "--omni"  # noqa: S105 - a command-line token, not a secret


@dataclass(frozen=True, slots=True)
class Option:
    """One argparse action of `vllm serve`."""

    dest: str
    strings: tuple[str, ...]
    arity: Arity
    action: str

    @property
    def name(self) -> str:
        """Its first long spelling without dashes (`tensor-parallel-size`)."""
        for string in self.strings:
            if string.startswith("--") and not (self.negatable and string.startswith("--no-")):
                return string[2:]
        return self.strings[0].lstrip("-")

    @property
    def negatable(self) -> bool:
        return self.action == "boolean_optional"

    @property
    def appends(self) -> bool:
        return self.action == "append"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What argparse makes of one token: an option (with any attached value), a value, an
    unknown option, or an ambiguous prefix (with the option strings it could mean)."""

    kind: Literal["option", "value", "unknown", "ambiguous"]
    option: Option | None = None
    string: str = ""
    attached: str | None = None
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OptionTable:
    """The `vllm serve` options of one vLLM release, in argparse's registration order."""

    version: str
    options: tuple[Option, ...]
    by_string: Mapping[str, Option] = field(default_factory=dict, compare=False, repr=False)
    # Every option string, sorted, with its registration rank: a prefix is a bisect away.
    _sorted: tuple[str, ...] = field(default=(), compare=False, repr=False)
    _rank: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    # A fleet's specs repeat the same few dozen tokens; each is resolved once.
    _resolved: dict[str, Resolution] = field(default_factory=dict, compare=False, repr=False)
    _readings: dict[tuple[Token, ...], Reading] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, version: str, options: Iterable[Option]) -> OptionTable:
        ordered = tuple(options)
        by_string: dict[str, Option] = {}
        for option in ordered:
            for string in option.strings:
                by_string.setdefault(string, option)
        rank = {string: index for index, string in enumerate(by_string)}
        return cls(version, ordered, by_string, tuple(sorted(by_string)), rank)

    @classmethod
    def parse(cls, text: str, file: str) -> OptionTable:
        """The table from its JSON file; a malformed table is runwayc's own bug, said plainly."""
        try:
            data = json.loads(text)
            options = [_option(entry) for entry in data["options"]]
            version = str(data["vllmVersion"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{file}: not a vLLM option table ({exc})") from None
        return cls.of(version, options)

    def option(self, name: str) -> Option | None:
        """The option spelled exactly `--name` (or `name` as given, with its dashes)."""
        return self.by_string.get(name if name.startswith("-") else f"--{name}")

    def resolve(self, token: str) -> Resolution:
        """argparse's reading of one token (`_parse_optional`)."""
        found = self._resolved.get(token)
        if found is None:
            found = self._resolve(token)
            if len(self._resolved) < _RESOLVED_CACHE:
                self._resolved[token] = found
        return found

    def _resolve(self, token: str) -> Resolution:
        if not token or token[0] != "-":
            return Resolution("value")
        exact = self.by_string.get(token)
        if exact is not None:
            return Resolution("option", exact, token)
        if len(token) == 1:
            return Resolution("value")
        if "=" in token:
            name, attached = token.split("=", 1)
            exact = self.by_string.get(name)
            if exact is not None:
                return Resolution("option", exact, name, attached)
        matches = self.prefix_matches(token)
        if len(matches) > 1:
            return Resolution("ambiguous", string=token, candidates=tuple(s for s, _ in matches))
        if len(matches) == 1:
            string, value = matches[0]
            return Resolution("option", self.by_string[string], string, value)
        if _NEGATIVE_NUMBER.match(token) or " " in token:
            return Resolution("value")
        return Resolution("unknown", string=token)

    def prefix_matches(self, token: str) -> list[tuple[str, str | None]]:
        """argparse's `_get_option_tuples`: abbreviations, and `-qVALUE` for one-letter options."""
        if token.startswith("--"):
            prefix, _, attached = token.partition("=")
            value = attached if "=" in token else None
            return [(s, value) for s in self._starting_with(prefix)]
        short, attached_short = token[:2], token[2:]
        found: list[tuple[str, str | None]] = [
            (s, None) for s in self._starting_with(token) if s != short
        ]
        if short in self.by_string:
            found.append((short, attached_short))
        return sorted(found, key=lambda match: self._rank[match[0]])

    def _starting_with(self, prefix: str) -> list[str]:
        """The option strings that start with `prefix`, in registration order."""
        start = bisect.bisect_left(self._sorted, prefix)
        end = start
        while end < len(self._sorted) and self._sorted[end].startswith(prefix):
            end += 1
        return sorted(self._sorted[start:end], key=self._rank.__getitem__)

    def nearest(self, token: str) -> str | None:
        """The known option string closest to an unknown one, for "did you mean"."""
        name = token.split("=", 1)[0]
        close = difflib.get_close_matches(name, list(self.by_string), n=1, cutoff=0.6)
        return close[0] if close else None


def _option(entry: Mapping[str, Any]) -> Option:
    strings = tuple(str(s) for s in entry["strings"])
    arity = str(entry["arity"])
    if not strings or not all(s.startswith("-") for s in strings) or arity not in _ARITIES:
        raise ValueError(f"bad option entry {entry!r}")
    return Option(str(entry["dest"]), strings, arity, str(entry["action"]))  # type: ignore[arg-type]


# --- the flag policy in force ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlagRules:
    """The option table plus the policy on it: which options are reserved (by name), and the
    repository's extra spellings (`vllmFlags.aliases`: a spelling without dashes -> an option
    name), which runwayc reads as that option."""

    table: OptionTable
    reserved: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, token: str) -> Resolution:
        alias = self.aliases.get(alias_key(option_key(token))) if self.aliases else None
        if alias is not None:
            target = self.table.option(alias)
            if target is not None:
                attached = token.split("=", 1)[1] if "=" in token else None
                return Resolution("option", target, option_key(token), attached)
        return self.table.resolve(token)

    def identity(self, token: str) -> str:
        """A flag's identity for comparisons: its option's name, or for a spelling vLLM does
        not know, the spelling with dashes, `=value` and `_` normalised away."""
        resolution = self.resolve(rewrite_name(token))
        if resolution.option is not None:
            return resolution.option.name
        return alias_key(option_key(token))

    def reserves(self, token: str) -> bool:
        """Whether `token`, anywhere on the command line, could make vLLM set a reserved
        option: it names one exactly or by a prefix (unique or ambiguous), as a plain, `=`,
        dotted or alias spelling, or is `--model=<such a token>` (vLLM moves that value to the
        front, where argparse reads it as an option), or is `--omni`. Judged per token, with
        no context, so the same predicate can be written in CEL (compiler.core.cluster.rules)."""
        if not token.startswith("-"):
            return False
        if token == OMNI_TOKEN:
            return True
        if _MODEL_TOKEN.match(token) and token.startswith("--model="):
            moved = token.removeprefix("--model=")
            if moved and self._key_reserves(option_key(moved)):
                return True
        return self._key_reserves(option_key(token))

    def _key_reserves(self, key: str) -> bool:
        if key in ("", "-", "--") or not key.startswith("-"):
            return False
        alias = self.aliases.get(alias_key(key))
        if alias is not None:
            target = self.table.option(alias)
            return target is not None and target.name in self.reserved
        if alias_key(key) in self.reserved:
            # AI Runway's own rule (any number of leading dashes, `_` as `-`): `-port` makes
            # vLLM exit rather than listen elsewhere, but AI Runway refuses it as networking.
            return True
        exact = self.table.by_string.get(key)
        if exact is not None:
            return exact.name in self.reserved
        # A unique prefix sets the option; an ambiguous one makes vLLM exit, but is refused
        # as reserved all the same when a reserved option is among its candidates.
        return any(
            self.table.by_string[string].name in self.reserved
            for string, _ in self.table.prefix_matches(key)
        )

    def reserved_strings(self) -> list[str]:
        """Every option string of a reserved option, in table order."""
        return [s for s, o in self.table.by_string.items() if o.name in self.reserved]


def option_key(token: str) -> str:
    """The part of a flag token that names the option as argparse finally sees it: before any
    `=`, before a dotted key's first `.`, with vLLM's `_` -> `-` for `--` tokens."""
    key = token.split("=", 1)[0].split(".", 1)[0]
    return key.replace("_", "-") if key.startswith("--") else key


def alias_key(key: str) -> str:
    """An alias table key: the spelling without leading dashes, `_` read as `-`."""
    return key.lstrip("-").replace("_", "-")


def rewrite_name(token: str) -> str:
    """One token as vLLM's rewriting leaves its name: `_` -> `-` in a `--` token's name up to
    the first `.`, and a dotted key as the option it is appended as."""
    if not token.startswith("-"):
        return token
    name, eq, value = token.partition("=")
    if token.startswith("--"):
        head, dot, tail = name.partition(".")
        name = head.replace("_", "-") + dot + tail
    if "." in name:
        return name.split(".", 1)[0]
    return name + eq + value


# --- reading a whole command line -----------------------------------------------------------

Origin = Hashable  # where a token came from; None for runwayc's own tokens


@dataclass(frozen=True, slots=True)
class Token:
    """One argv token and where it came from: `origin` is the spec path that wrote it (None
    for runwayc's own), `part` tells an `engine.args` key from its value, and `source` is the
    entry a value must come from to belong to its flag (one args entry; the extraArgs list)."""

    text: str
    origin: Origin = None
    part: str = ""
    source: Origin = None

    def retext(self, text: str) -> Token:
        """The same provenance for a token vLLM's rewriting made of this one."""
        return Token(text, self.origin, self.part, self.source)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One option set on the command line: the token that named it and the values it took."""

    option: Option
    flag: Token
    values: tuple[Token, ...]


ProblemKind = Literal[
    "ambiguous", "unknown", "no-value", "needs-value", "foreign-value", "stray", "exits"
]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something vLLM would refuse or read differently from how it was written."""

    kind: ProblemKind
    token: Token
    message: str
    # For "foreign-value": the token that took this one as its value.
    taken_by: Token | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    occurrences: tuple[Occurrence, ...]
    problems: tuple[Problem, ...]

    def names(self) -> set[str]:
        """The names of the options set."""
        return {o.option.name for o in self.occurrences}


def read_command_line(tokens: Sequence[Token], rules: FlagRules) -> Reading:
    """What `vllm serve <tokens>` sets, token by token, and what it would refuse."""
    if rules.aliases:
        return _read(tokens, rules)
    # A fleet's specs repeat the same args: each distinct command line is read once.
    key = tuple(tokens)
    memo = rules.table._readings
    found = memo.get(key)
    if found is None:
        found = _read(key, rules)
        if len(memo) < _RESOLVED_CACHE:
            memo[key] = found
    return found


def _read(tokens: Sequence[Token], rules: FlagRules) -> Reading:
    problems: list[Problem] = []
    rewritten, moved = _rewrite(tokens, problems)
    model_given = moved is not None
    occurrences: list[Occurrence] = []
    model = rules.table.option("model")
    if moved is not None and model is not None:
        # The moved `--model X` sets the model all the same (as the positional).
        occurrences.append(Occurrence(model, moved[0], (moved[1],)))
    index = 0
    options_ended = False
    # Whether the last token was the positional model: argparse's pattern for it, `-*A?-*`,
    # swallows a `--` next to it (CPython 3.11); anywhere else a `--` is one more
    # unrecognized argument once the model is taken.
    beside_model = model_given
    while index < len(rewritten):
        token = rewritten[index]
        index += 1
        if token.text == "--" and not options_ended:
            options_ended = True
            if model_given and not beside_model:
                _stray(token, problems)
            continue
        beside_model = False
        resolution = rules.resolve(token.text)
        if options_ended or resolution.kind == "value":
            # The first value no option takes is the positional model (`model_tag`); vLLM
            # has already put a `--model` there, if there was one.
            if not model_given:
                model_given = beside_model = True
            else:
                _stray(token, problems)
            continue
        if resolution.kind == "ambiguous":
            candidates = ", ".join(resolution.candidates)
            problems.append(
                Problem(
                    "ambiguous",
                    token,
                    f"ambiguous option: {token.text.split('=', 1)[0]} could match {candidates}",
                )
            )
            index = _skip_values(rewritten, index, rules)
            continue
        if resolution.kind == "unknown":
            nearest = rules.table.nearest(token.text)
            hint = f"; did you mean {nearest}?" if nearest else ""
            problems.append(
                Problem(
                    "unknown",
                    token,
                    f"vLLM {rules.table.version} has no option {token.text.split('=', 1)[0]} "
                    f"(it would exit: unrecognized arguments){hint}",
                )
            )
            # An unknown option's arity is unknown: the values after it are taken to be its.
            index = _skip_values(rewritten, index, rules)
            continue
        assert resolution.option is not None
        option = resolution.option
        if option.action == "help":
            message = f"{token.text}: vLLM prints its help and exits"
            problems.append(Problem("exits", token, message))
        values: list[Token] = []
        if resolution.attached is not None:
            if option.arity == "none":
                problems.append(
                    Problem(
                        "no-value",
                        token,
                        f"argument {'/'.join(option.strings)}: ignored explicit argument "
                        f"'{resolution.attached}'",
                    )
                )
            else:
                values.append(token.retext(resolution.attached))
        else:
            wanted = {"none": 0, "one": 1, "optional": 1, "many": len(rewritten)}[option.arity]
            while len(values) < wanted and index < len(rewritten):
                candidate = rewritten[index]
                if candidate.text == "--" or rules.resolve(candidate.text).kind != "value":
                    break
                values.append(candidate)
                index += 1
            if not values and option.arity in ("one", "many"):
                expected = "one argument" if option.arity == "one" else "at least one argument"
                problems.append(
                    Problem(
                        "needs-value",
                        token,
                        f"argument {'/'.join(option.strings)}: expected {expected}",
                    )
                )
        for value in values:
            if value.source != token.source:
                problems.append(
                    Problem(
                        "foreign-value",
                        value,
                        f'"{value.text}" would be read as the value of {token.text}',
                        token,
                    )
                )
        occurrences.append(Occurrence(option, token, tuple(values)))
    return Reading(tuple(occurrences), tuple(problems))


def _stray(token: Token, problems: list[Problem]) -> None:
    problems.append(
        Problem(
            "stray",
            token,
            f'"{token.text}" is not the value of any option: vLLM would exit with '
            f'"unrecognized arguments: {token.text}"',
        )
    )


def _skip_values(tokens: Sequence[Token], index: int, rules: FlagRules) -> int:
    while index < len(tokens) and rules.resolve(tokens[index].text).kind == "value":
        if tokens[index].text == "--":
            break
        index += 1
    return index


def _rewrite(
    tokens: Sequence[Token], problems: list[Problem]
) -> tuple[list[Token], tuple[Token, Token] | None]:
    """vLLM's FlexibleArgumentParser.parse_args, before argparse sees the tokens; and the
    `--model X` that gave the positional model, if one did (the moved `X` is then no token)."""
    items = list(tokens)
    moved: tuple[Token, Token] | None = None
    # The first --model (exact, or --model=X) is moved to the front as the positional.
    for position, token in enumerate(items):
        if token.text.startswith("--model") and _MODEL_TOKEN.match(token.text):
            if token.text == "--model":
                following = items[position + 1] if position + 1 < len(items) else None
                if following is None or following.text.startswith("-"):
                    problems.append(
                        Problem("needs-value", token, "argument --model: expected one argument")
                    )
                    del items[position]
                else:
                    moved = (token, following)
                    del items[position : position + 2]
            else:
                moved_value = token.retext(token.text.removeprefix("--model="))
                del items[position]
                if moved_value.text.startswith("-"):
                    # It lands in front, where argparse reads it as a token of its own.
                    items.insert(0, moved_value)
                else:
                    moved = (token, moved_value)
            break
    if sum(1 for t in items if t.text == "--config") > 1:
        first = next(t for t in items if t.text == "--config")
        problems.append(Problem("exits", first, "more than one --config: vLLM exits"))
    rewritten: list[Token] = []
    for position, token in enumerate(items):
        text = token.text
        if not text.startswith("-"):
            rewritten.append(token)
        elif text.startswith("--help="):
            rewritten.append(token.retext("--help"))
        elif text.startswith("--"):
            key, eq, value = text.partition("=")
            if "_" in key:
                head, dot, tail = key[2:].partition(".")
                name = "--" + head.replace("_", "-") + dot + tail
                rewritten.append(token.retext(name + eq + value))
            else:
                rewritten.append(token)
        elif text.startswith("-O") and text != "-O":
            level = text[3:] if text[2] == "=" else text[2:]
            rewritten.extend(
                [
                    token.retext("--optimization-level"),
                    token.retext(level),
                ]
            )
        elif (
            text == "-O"
            and position + 1 < len(items)
            and items[position + 1].text in _OPTIMIZATION_LEVELS
        ):
            rewritten.append(token.retext("--optimization-level"))
        else:
            rewritten.append(token)
    return _merge_dotted(rewritten, problems), moved


def _merge_dotted(tokens: list[Token], problems: list[Problem]) -> list[Token]:
    """Dotted JSON args are taken out with their values and appended as `--key '{json}'`."""
    if not any(t.text.startswith("-") and "." in t.text for t in tokens):
        return tokens
    kept: list[Token] = []
    merged: dict[str, tuple[Token, dict[str, Any]]] = {}
    skip: set[int] = set()
    for position, token in enumerate(tokens):
        if position in skip:
            continue
        text = token.text
        if text.startswith("--") and "." not in text:
            kept.append(token)
            continue
        if not (text.startswith("-") and "." in text):
            kept.append(token)
            continue
        if "=" in text:
            key, value = text.split("=", 1)
            if "." not in key:
                kept.append(token)  # the `.` was only in the value
                continue
        else:
            key = text
            if position + 1 >= len(tokens):
                problems.append(
                    Problem("needs-value", token, f"{text}: a dotted argument needs a value")
                )
                continue
            value = tokens[position + 1].text
            skip.add(position + 1)
        if key.endswith("+"):
            key = key[:-1]
            value = json.dumps(value.split(","))
        name, *path = key.split(".")
        update: Any = _dotted_value(value)
        for part in reversed(path):
            update = {part: update}
        _merge_into(merged.setdefault(name, (token, {}))[1], update)
    for name, (first, tree) in merged.items():
        kept.append(first.retext(name))
        kept.append(first.retext(json.dumps(tree)))
    return kept


_HUMAN_INT = re.compile(r"(\d+(?:\.\d+)?)([kKmMgGtT])")
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _dotted_value(text: str) -> Any:
    """vLLM's reading of a dotted arg's value: JSON, else a human-readable integer (`80g`),
    else the text."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    stripped = text.strip()
    match = _HUMAN_INT.fullmatch(stripped)
    if match:
        number, suffix = match.groups()
        if suffix in _DECIMAL:
            return int(float(number) * _DECIMAL[suffix])
        if "." not in number:
            return int(number) * _BINARY[suffix]
        return text
    try:
        return int(stripped)
    except ValueError:
        return text


def _merge_into(original: dict[str, Any], update: Mapping[str, Any]) -> None:
    """vLLM's recursive_dict_update: dicts merge, lists concatenate, anything else replaces."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(original.get(key), dict):
            _merge_into(original[key], value)
        elif isinstance(value, list) and isinstance(original.get(key), list):
            original[key] += value
        else:
            original[key] = value
