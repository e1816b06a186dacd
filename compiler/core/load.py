"""YAML sources to plain data, with the `file:line:col` of every node.

The first stage of the pipeline. libyaml (through PyYAML's C composer) builds the node graph,
with plain scalars resolved by YAML 1.2's core schema (so `yes` and `on` stay strings, as the
Kubernetes API reads them); we then walk the nodes ourselves, which lets us bound what an
attacker-shaped file can cost before any of it is trusted: document size, node count after
alias expansion (billion-laughs bombs), nesting depth, duplicate and non-string keys, and
exotic tags. libyaml rather than ruamel's pure-Python composer: ruamel spent about 16 s
composing 1,000 specs, libyaml a small fraction of that; ruamel stays for round-trip edits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml
from yaml.error import MarkedYAMLError, YAMLError
from yaml.events import MappingEndEvent, MappingStartEvent, SequenceEndEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from compiler.core.diagnostics import Diagnostic, Location, error
from compiler.core.errors import LoadError

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """Bounds on untrusted YAML (specs, overlays, policies, the lock, recipe JSON).

    The numbers live here, not in a policy file: they bound the reading of the policy files
    themselves, and of runway.yaml, which is read before any policy is known. A built-in policy
    file with a `limits:` section would still be merged over them (`builtin_policy_set`).
    """

    max_document_bytes: int = 1 << 20  # 1 MiB per document
    max_file_bytes: int = 16 << 20  # 16 MiB per file
    max_nodes: int = 100_000  # after alias expansion: stops billion-laughs bombs
    max_depth: int = 64


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One YAML document: plain data plus where every node of it came from."""

    file: str
    index: int
    data: Any
    # A plain dict, or `_Positions`, which finds them when first asked: only a document with
    # a diagnostic is ever asked, and recording every node's position while loading was a
    # third of reading a fleet.
    positions: Mapping[PathKey, tuple[int, int]] = field(repr=False)

    def location(self, path: PathKey = ()) -> Location:
        """Location of `path`, or of its nearest ancestor that exists in the source."""
        probe = tuple(path)
        while probe not in self.positions and probe:
            probe = probe[:-1]
        line, column = self.positions.get(probe, (0, 0))
        return Location(self.file, line, column)


def format_path(path: PathKey) -> str:
    """`spec.provider.overrides.containers[0].securityContext`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_SEGMENT.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


_PLAIN_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

# Tags of YAML 1.2's core schema; anything else,
# such as !!python/object or a custom !Ref, is refused rather than interpreted.
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Refusal(Exception):
    """Internal: stops the walk of one document with a diagnostic."""

    def __init__(self, code: str, message: str, line: int, column: int, path: PathKey) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.path = path


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Walker:
    def __init__(self, limits: LoadLimits) -> None:
        self.limits = limits
        self.nodes = 0
        self.positions: dict[PathKey, tuple[int, int]] = {}

    def refuse(self, code: str, message: str, node: Node, path: PathKey) -> _Refusal:
        line, column = _mark(node)
        return _Refusal(code, message, line, column, path)

    def walk(self, node: Node, path: PathKey, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise self.refuse(
                "YAML_TOO_LARGE",
                f"document expands to more than {self.limits.max_nodes} nodes "
                "(alias expansion bomb or oversized document)",
                node,
                path,
            )
        self.positions.setdefault(path, _mark(node))
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        # `depth` counts the collections around this one: a level is a collection, so the
        # walker and the event scan (`_first_too_deep`) refuse at the same node.
        if depth >= self.limits.max_depth:
            raise self.refuse("YAML_TOO_DEEP", _too_deep_message(self.limits), node, path)
        if isinstance(node, SequenceNode):
            if node.tag not in (_SEQ, "!!seq"):
                raise self.refuse("YAML_TAG", f"unsupported YAML tag {node.tag!r}", node, path)
            return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.mapping(node, path, depth)
        raise self.refuse("YAML_NODE", "unsupported YAML node", node, path)  # pragma: no cover

    def mapping(self, node: MappingNode, path: PathKey, depth: int) -> dict[str, Any]:
        if node.tag not in (_MAP, "!!map"):
            raise self.refuse("YAML_TAG", f"unsupported YAML tag {node.tag!r}", node, path)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                raise self.refuse(
                    "YAML_MERGE_KEY",
                    "merge keys (<<) are not supported; write the keys out",
                    key_node,
                    path,
                )
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                raise self.refuse(
                    "YAML_KEY_TYPE",
                    "mapping keys must be strings; quote the key",
                    key_node,
                    path,
                )
            key = str(key_node.value)
            child = (*path, key)
            if key in result:
                first = self.positions.get(child, (0, 0))
                raise self.refuse(
                    "YAML_DUPLICATE_KEY",
                    f'duplicate key "{key}" (first defined at line {first[0]}, column {first[1]})',
                    key_node,
                    child,
                )
            # The key's own position is where a reader looks for `key: value`.
            self.positions[child] = _mark(key_node)
            result[key] = self.walk(value_node, child, depth + 1)
        return result

    def scalar(self, node: ScalarNode, path: PathKey) -> Any:
        try:
            return _scalar(node.tag, node.value)
        except _Unsure:
            pass
        tag, text = node.tag, node.value
        if tag == _INT:
            digits = text.lstrip("+-").replace("_", "")
            digits = digits[2:] if digits[1:2].lower() in ("x", "o", "b") else digits
            raise self.refuse("YAML_VALUE", _too_long_int(len(digits)), node, path)
        if tag == _FLOAT:
            raise self.refuse("YAML_VALUE", f"non-finite number {text!r}", node, path)
        raise self.refuse("YAML_TAG", f"unsupported YAML tag {tag!r}", node, path)


class _TextPositions:
    """The positions `_Walker` records, for every document of one text, found when first
    asked by composing the text again (once, for all its documents)."""

    __slots__ = ("_by_index", "_limits", "_text")

    def __init__(self, text: str, limits: LoadLimits) -> None:
        self._text, self._limits = text, limits
        self._by_index: dict[int, dict[PathKey, tuple[int, int]]] | None = None

    def of(self, index: int) -> dict[PathKey, tuple[int, int]]:
        if self._by_index is None:
            self._by_index = {}
            try:
                for number, root in enumerate(_compose_all(self._text)):
                    size = 0 if root is None else root.end_mark.index - root.start_mark.index
                    if root is None or size > self._limits.max_document_bytes:
                        continue  # as `load_yaml` skips them: no SourceDocument to ask
                    walker = _Walker(self._limits)
                    try:
                        walker.walk(root, (), 0)
                    except _Refusal:
                        continue  # a refused document has no SourceDocument to ask
                    self._by_index[number] = walker.positions
            except (YAMLError, ValueError, RecursionError):
                pass  # where `load_yaml` stopped too: every document before it is found
        return self._by_index.get(index, {})


class _Positions(Mapping[PathKey, tuple[int, int]]):
    """Document `index`'s positions: those of its top-level keys and of metadata's keys
    (recorded while loading: every compile asks where metadata.name is), the rest asked of
    its text's `_TextPositions` on first use. The walker records the same values for the
    known ones, so every answer is the walker's."""

    __slots__ = ("_complete", "_index", "_known", "_text")

    def __init__(self, text: _TextPositions, index: int, root: Node) -> None:
        self._text, self._index = text, index
        self._known, self._complete = _known_positions(root)

    def __getitem__(self, key: PathKey) -> tuple[int, int]:
        found = self._known.get(key)
        return found if found is not None else self._text.of(self._index)[key]

    def __contains__(self, key: object) -> bool:
        if key in self._known:
            return True
        # Under a mapping whose keys are all known, an unknown key is not in the document.
        if isinstance(key, tuple) and key and key[:-1] in self._complete:
            return False
        return key in self._text.of(self._index)

    def __iter__(self) -> Iterator[PathKey]:
        return iter(self._text.of(self._index))

    def __len__(self) -> int:
        return len(self._text.of(self._index))


def _known_positions(
    root: Node,
) -> tuple[dict[PathKey, tuple[int, int]], frozenset[PathKey]]:
    """What `_Walker` records for the root, its keys and metadata's keys (a key's position
    is its own, not its value's), and the mappings whose every key that covers."""
    known: dict[PathKey, tuple[int, int]] = {(): _mark(root)}
    complete: set[PathKey] = set()
    if type(root) is MappingNode:
        complete.add(())
        for key_node, value_node in root.value:
            known[(key_node.value,)] = _mark(key_node)
            if key_node.value == "metadata" and type(value_node) is MappingNode:
                complete.add(("metadata",))
                for inner, _ in value_node.value:
                    known[("metadata", inner.value)] = _mark(inner)
    return known, frozenset(complete)


class _Unsure(Exception):
    """Internal: `_data` met something `_Walker` refuses; it walks the document again to say
    what and where."""


def _scalar(tag: str, text: str) -> Any:
    """A resolved scalar's value under YAML 1.2's core schema; _Unsure where `_Walker`
    refuses it (an integer too long, a non-finite float, another tag), for it to say why."""
    if tag == _STR:
        return text
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return text.lower() == "true"
    if tag == _INT:
        number = _parse_int(text)
        if number is None:
            raise _Unsure
        return number
    if tag == _FLOAT:
        value = _parse_float(text)
        if not math.isfinite(value):
            raise _Unsure
        return value
    raise _Unsure


def _data(root: Node, limits: LoadLimits) -> Any:
    """What `_Walker(limits).walk(root, (), 0)` returns, without paths or positions; raises
    _Unsure where that walk would refuse. The same checks in the same order, so the two
    agree (tests/properties/test_load_fast_walk.py holds them to it)."""
    nodes = 0
    max_nodes, max_depth = limits.max_nodes, limits.max_depth

    def walk(node: Node, depth: int) -> Any:
        nonlocal nodes
        nodes += 1
        if nodes > max_nodes:
            raise _Unsure
        kind = type(node)
        if kind is ScalarNode:
            return _scalar(node.tag, node.value)
        if depth >= max_depth:
            raise _Unsure
        if kind is MappingNode:
            if node.tag not in (_MAP, "!!map"):
                raise _Unsure
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if type(key_node) is not ScalarNode or key_node.tag != _STR:
                    raise _Unsure
                key = str(key_node.value)
                if key in result:
                    raise _Unsure
                result[key] = walk(value_node, depth + 1)
            return result
        if kind is SequenceNode:
            if node.tag not in (_SEQ, "!!seq"):
                raise _Unsure
            return [walk(item, depth + 1) for item in node.value]
        raise _Unsure  # pragma: no cover - libyaml composes only the three kinds

    return walk(root, 0)


# Python converts a decimal integer of at most this many digits, either way
# (sys.int_info.default_max_str_digits). Fixed here, so PYTHONINTMAXSTRDIGITS cannot change
# what a file means, and every integer read can be written out again.
MAX_INT_DIGITS = 4300
_INT_BOUND = 10**MAX_INT_DIGITS


def _too_long_int(digits: int) -> str:
    return f"integer of {digits} digits is too large (at most {MAX_INT_DIGITS} decimal digits)"


def _parse_int(text: str) -> int | None:
    """The integer, or None past `MAX_INT_DIGITS` decimal digits (checked before converting:
    int() would raise, and had stopped the whole file at 1:1)."""
    cleaned = text.replace("_", "")
    sign = -1 if cleaned.startswith("-") else 1
    cleaned = cleaned.lstrip("+-")
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if cleaned.lower().startswith(prefix):
            value = int(cleaned[2:], base)  # power-of-two bases have no conversion limit
            return sign * value if value < _INT_BOUND else None
    if len(cleaned) > MAX_INT_DIGITS:
        return None
    return sign * int(cleaned, 10)


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _JsonIntTooLong(len(text.lstrip("-")))
    return int(text)


class _JsonIntTooLong(ValueError):
    def __init__(self, digits: int) -> None:
        super().__init__(_too_long_int(digits))
        self.digits = digits


def _parse_float(text: str) -> float:
    lowered = text.lower().replace("_", "")
    if lowered in (".nan",):
        return math.nan
    if lowered in (".inf", "+.inf"):
        return math.inf
    if lowered == "-.inf":
        return -math.inf
    return float(lowered)


# YAML 1.2 core schema for plain (unquoted, untagged) scalars.
_CORE_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_CORE_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_CORE_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_CORE_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


@lru_cache(maxsize=8192)
def core_schema_tag(value: str) -> str:
    if value == "<<":
        return _MERGE
    for pattern, tag in (
        (_CORE_NULL, _NULL),
        (_CORE_BOOL, _BOOL),
        (_CORE_INT, _INT),
        (_CORE_FLOAT, _FLOAT),
    ):
        if pattern.fullmatch(value):
            return tag
    return _STR


_BaseLoader: type[yaml.BaseLoader] = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


class _CoreSchemaLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """libyaml's composer with YAML 1.2 core-schema resolution of plain scalars only;
    quoted scalars stay strings and explicit tags (`!!str 1`) are kept as written."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:
            return core_schema_tag(value)
        return str(super().resolve(kind, value, implicit))


@dataclass(frozen=True, slots=True)
class LoadResult:
    documents: tuple[SourceDocument, ...]
    diagnostics: tuple[Diagnostic, ...]


def load_yaml(text: str, file: str, limits: LoadLimits | None = None) -> LoadResult:
    """Parse every document of `text`; bad documents become diagnostics, never exceptions."""
    limits = limits or LoadLimits()
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_file_bytes:
        return LoadResult(
            (),
            (
                error(
                    "YAML_TOO_LARGE",
                    f"file is larger than {limits.max_file_bytes} bytes",
                    Location(file, 1, 1),
                ),
            ),
        )
    documents: list[SourceDocument] = []
    diagnostics: list[Diagnostic] = []
    bound = _nesting_bound(text)
    composed_to = 0  # where the last document the parser finished ends
    shared: _TextPositions | None = None
    try:
        if bound > _SAFE_COMPOSE_DEPTH:
            # libyaml's composer recurses in C: a deep enough file would crash the process,
            # so nesting is measured on the (iterative) event stream before composing. If
            # libyaml refuses the text, the handler below measures it the other way.
            too_deep = _scan_depth(_CoreSchemaLoader(text), limits.max_depth, 0, len(text))
            if too_deep is not None:
                return LoadResult((), (_too_deep(file, too_deep, limits),))
        for index, root in enumerate(_compose_all(text)):
            if root is None:
                continue
            composed_to = root.end_mark.index
            size = root.end_mark.index - root.start_mark.index
            if size > limits.max_document_bytes:
                line, column = _mark(root)
                diagnostics.append(
                    error(
                        "YAML_TOO_LARGE",
                        f"document {index} is {size} bytes, over the "
                        f"{limits.max_document_bytes}-byte limit",
                        Location(file, line, column),
                    )
                )
                continue
            try:
                data = _data(root, limits)
            except _Unsure:
                pass
            else:
                shared = shared or _TextPositions(text, limits)
                positions = _Positions(shared, index, root)
                documents.append(SourceDocument(file, index, data, positions))
                continue
            walker = _Walker(limits)
            try:
                data = walker.walk(root, (), 0)
            except _Refusal as refusal:
                diagnostics.append(
                    error(
                        refusal.code,
                        refusal.message,
                        Location(file, refusal.line, refusal.column),
                        format_path(refusal.path),
                    )
                )
                continue
            documents.append(SourceDocument(file, index, data, walker.positions))
    except MarkedYAMLError as exc:
        # A parser may refuse deep input with a limit of its own (libyaml 0.2.6 caps nesting
        # at 1,000 levels, in its scanner); the user is owed runwayc's bound, at the place
        # it was crossed, whichever parser version is installed.
        crossing = None
        if bound > limits.max_depth:
            crossing = _pure_first_too_deep(text, limits.max_depth, composed_to, _index(exc))
        if crossing is not None:
            diagnostics.append(_too_deep(file, crossing, limits))
        else:
            diagnostics.append(_syntax_error(exc, file))
    except (YAMLError, ValueError, RecursionError) as exc:
        diagnostics.append(
            error("YAML_SYNTAX", f"invalid YAML: {_first_line(exc)}", Location(file, 1, 1))
        )
    return LoadResult(tuple(documents), tuple(diagnostics))


def _too_deep_message(limits: LoadLimits) -> str:
    return f"document nests deeper than {limits.max_depth} levels"


def _too_deep(file: str, where: tuple[int, int], limits: LoadLimits) -> Diagnostic:
    return error("YAML_TOO_DEEP", _too_deep_message(limits), Location(file, *where))


def _syntax_error(exc: MarkedYAMLError, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
    return error("YAML_SYNTAX", f"invalid YAML: {reason}", Location(file, line, column))


def nesting_refusal(text: str, file: str, limits: LoadLimits | None = None) -> Diagnostic | None:
    """YAML_TOO_DEEP where `text` first nests past the bound, as `load_yaml` would say it, or
    None; also None for text that is not YAML (its parser says why). For a parser that is not
    libyaml's composer (ruamel's round-trip composer recurses in Python), to run before it
    sees the text."""
    limits = limits or LoadLimits()
    if _nesting_bound(text) <= limits.max_depth:
        return None
    try:
        crossing = _first_too_deep(text, limits.max_depth)
    except YAMLError:
        return None
    return None if crossing is None else _too_deep(file, crossing, limits)


# libyaml's composer recurses once per nesting level; 20,000 levels compose fine here and
# 100,000 crashed. Below this bound composing is safe and the walker enforces max_depth.
_SAFE_COMPOSE_DEPTH = 1000


def _nesting_bound(text: str) -> int:
    """An upper bound on nesting depth, cheap enough to run on every file.

    A block collection nested in another starts further right than its parent, except a block
    sequence that is a mapping's value (`key:` then `- item` at the key's column): at most two
    levels per column, and no column is past the longest line. Splitting on "\n" alone can only
    make lines longer than YAML's (which also break at "\r", NEL, LS and PS), so the bound
    stays an upper bound. Flow collections open with `[` or `{` and hold no block ones. Most
    files are far below the bound that matters, so the event-stream scan (a second full parse)
    only runs for suspicious ones.
    """
    longest = max(map(len, text.split("\n")), default=0)
    return 2 * (longest + 1) + text.count("[") + text.count("{")


def _first_too_deep(text: str, max_depth: int) -> tuple[int, int] | None:
    """Where nesting first exceeds `max_depth`, from parser events (no recursion).

    libyaml's events first, as they are fast; if libyaml refuses the text (it may have a
    nesting cap of its own, below the depth at which runwayc's bound is crossed in a file
    whose first collections are deep enough), PyYAML's pure-Python parser, which has none,
    answers instead. Its own refusal means the text is not YAML before any crossing: then
    libyaml's words stand."""
    try:
        return _scan_depth(_CoreSchemaLoader(text), max_depth, 0, len(text))
    except MarkedYAMLError as exc:
        crossing = _pure_first_too_deep(text, max_depth, 0, _index(exc))
        if crossing is None:
            raise
        return crossing


def _index(exc: MarkedYAMLError) -> int:
    mark = exc.problem_mark or exc.context_mark
    return mark.index if mark is not None else 0


def _pure_first_too_deep(
    text: str, max_depth: int, after: int, until: int
) -> tuple[int, int] | None:
    """The first crossing in characters [`after`, `until`] by the pure-Python parser; None
    when it finds none there or stops first at an error of its own."""
    try:
        return _scan_depth(yaml.BaseLoader(text), max_depth, after, until)
    except YAMLError:
        return None


def _scan_depth(loader: Any, max_depth: int, after: int, until: int) -> tuple[int, int] | None:
    # `loader` is libyaml's or PyYAML's pure-Python one; their stubs type neither's events.
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            mark = event.start_mark
            index = mark.index if mark is not None else 0
            if index > until:
                return None
            if isinstance(event, (SequenceStartEvent, MappingStartEvent)):
                depth += 1
                if depth > max_depth and index >= after:
                    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
                depth -= 1
    finally:
        loader.dispose()
    return None


def load_json(content: bytes | str, file: str, limits: LoadLimits | None = None) -> Any:
    """`json.loads(content)` within runwayc's nesting bound. The standard decoder recurses
    and meets deep input with RecursionError (not JSONDecodeError), at a depth set by the
    interpreter; the bound is checked on the text first, so the refusal is YAML_TOO_DEEP at
    the bracket that crossed it, as for YAML. Raises LoadError carrying that diagnostic;
    other decoding errors are the caller's (json.JSONDecodeError, UnicodeDecodeError)."""
    limits = limits or LoadLimits()
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    if text.count("[") + text.count("{") > limits.max_depth:
        crossing = _json_crossing(text, limits.max_depth)
        if crossing is not None:
            diagnostic = _too_deep(file, crossing, limits)
            raise LoadError(
                f"{file}:{crossing[0]}:{crossing[1]}: {diagnostic.message}", [diagnostic]
            )
    try:
        return json.loads(text, parse_int=_json_int)
    except _JsonIntTooLong as exc:
        diagnostic = error("YAML_VALUE", _too_long_int(exc.digits), Location(file))
        raise LoadError(f"{file}: {diagnostic.message}", [diagnostic]) from None


# Inside a string an escape is skipped whole, so an escaped quote cannot end it; brackets
# count only outside strings. One pass, no backtracking.
_JSON_TOKEN = re.compile(r'\\.|["\[\]{}\n]', re.DOTALL)


def _json_crossing(text: str, max_depth: int) -> tuple[int, int] | None:
    depth, line, line_start, in_string = 0, 1, 0, False
    for match in _JSON_TOKEN.finditer(text):
        mark = match.group()
        if mark == "\n":
            line, line_start = line + 1, match.end()
        elif mark == '"':
            in_string = not in_string
        elif in_string or mark[0] == "\\":
            continue
        elif mark in "[{":
            depth += 1
            if depth > max_depth:
                return line, match.start() - line_start + 1
        else:
            depth -= 1
    return None


def _compose_all(text: str) -> Iterator[Node | None]:
    loader = _CoreSchemaLoader(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
