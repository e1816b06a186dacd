"""A per-resource diff of two rendered trees, for pull-request comments and terminals.

Objects are matched by apiVersion, kind, namespace and name. What exists on one side only is
added or removed, unless a removed and an added object of the same kind are alike enough to
be the same object under a new name or namespace: those are reported as one rename, with the
diff between them, because that is how a reviewer thinks of it. Everything is grouped by app
(the `<namespace>/<name>/` directory the object is rendered into), and every ordering is fixed,
so the same two trees always give the same text.

A revision that does not compile has no tree to compare: it is reported as a `BrokenSide` with
its diagnostics, in every format, and never stands in as an empty tree (which would read as
"every object removed").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from compiler.core.diagnostics import Diagnostic, as_json_object
from compiler.core.diagnostics import format_text as format_diagnostics
from compiler.core.emit import dump_objects
from compiler.core.gitops.hydrate import MANIFEST
from compiler.core.gitops.units import KUSTOMIZATION, NAMESPACE_FILE, unit_namespace
from compiler.core.stamp import IMAGE_REQUESTED, IMAGE_UNPINNED, PREFIX

# A removed and an added object this alike (difflib ratio of their YAML) are one rename.
RENAME_SIMILARITY = 0.6
# Like git's diff.renameLimit: past this many comparisons, no rename detection (each
# comparison is quadratic in the objects' size).
RENAME_COMPARISONS = 40_000
# GitHub refuses comments over 65,536 characters; leave room for the sticky-comment marker.
MARKDOWN_LIMIT = 60_000
# A side that does not compile lists this many diagnostics in a comment (all go to stderr).
MARKDOWN_DIAGNOSTICS = 50
# Unpinned images listed by name in a PR comment before the rest are only counted, so the
# warning cannot crowd the diff out of the comment.
UNPINNED_SHOWN = 20

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Identity = tuple[str, str, str, str]  # apiVersion, kind, namespace, name
_OBJECT_FILES = (MANIFEST, NAMESPACE_FILE)


@dataclass(frozen=True, slots=True)
class RenderedObject:
    identity: Identity
    app: str
    text: str

    @property
    def label(self) -> str:
        _, kind, namespace, name = self.identity
        return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # added | removed | changed | renamed
    app: str
    label: str
    # The two sides' canonical YAML ("" for a side without the object) and their labels in
    # the unified diff. The diff is made when it is shown: publish only counts changes, and
    # the first publication of a 10,000-model fleet adds 30,000 objects, whose diffs would
    # be another copy of the whole tree.
    before: str
    after: str
    old_label: str
    new_label: str
    similarity: float | None = None

    @property
    def diff(self) -> str:
        return _unified(self.before, self.after, self.old_label, self.new_label)


@dataclass(frozen=True, slots=True)
class TreeDiff:
    env: str
    changes: tuple[Change, ...] = field(default_factory=tuple)
    # The new tree's ModelDeployments whose image runs by tag, not digest, and why (from the
    # compile stamp): said on every diff, not only the one that changed them.
    unpinned: tuple[str, ...] = ()
    # `<namespace>/<name>: sync unit <a> -> <b>`: models another Argo CD Application or Flux
    # Kustomization takes over (a changed shard count), whose objects may not change at all.
    moved: tuple[str, ...] = ()

    @property
    def differs(self) -> bool:
        return bool(self.changes or self.moved)

    def counts(self) -> dict[str, int]:
        return _counts(self.changes)

    def summary(self) -> str:
        moves = f"; {len(self.moved)} model(s) move between sync units" if self.moved else ""
        if not self.changes:
            return f"{self.env}: no changes" + (f" to objects{moves}" if moves else "")
        counts = ", ".join(f"{n} {kind}" for kind, n in self.counts().items() if n)
        apps = len({c.app for c in self.changes})
        return f"{self.env}: {counts} ({apps} app(s)){moves}"


@dataclass(frozen=True, slots=True)
class BrokenSide:
    """One side of an environment's diff that does not compile: there is nothing to diff."""

    env: str
    side: str  # "base" or "head"
    revision: str  # as the user named it ("origin/main", "the working tree")
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.is_error)

    def summary(self) -> str:
        return (
            f"{self.env}: {self.revision} ({self.side}) does not compile ({self.errors} error(s))"
        )


def _counts(changes: Iterable[Change]) -> dict[str, int]:
    """How many changes of each kind, every kind listed, in alphabetical order."""
    counts = {"added": 0, "changed": 0, "removed": 0, "renamed": 0}
    for change in changes:
        counts[change.kind] += 1
    return counts


def rendered_objects(files: Mapping[str, bytes]) -> dict[Identity, RenderedObject]:
    """Every object of a rendered tree's manifests and sync units' Namespaces, re-emitted
    canonically."""
    found: dict[Identity, RenderedObject] = {}
    for path in sorted(files):
        if path.rsplit("/", 1)[-1] not in _OBJECT_FILES:
            continue
        app = path.rsplit("/", 1)[0] if "/" in path else "."
        for doc in yaml.load_all(files[path], Loader=_LOADER):
            if not isinstance(doc, dict):
                continue
            metadata = doc.get("metadata") or {}
            identity = (
                str(doc.get("apiVersion", "")),
                str(doc.get("kind", "")),
                str(metadata.get("namespace", "")),
                str(metadata.get("name", "")),
            )
            text = dump_objects([doc]).removeprefix("---\n")
            found[identity] = RenderedObject(identity, app, text)
    return found


def _unified(before: str, after: str, old_label: str, new_label: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=old_label,
        tofile=new_label,
        n=3,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def diff_trees(env: str, base: Mapping[str, bytes], head: Mapping[str, bytes]) -> TreeDiff:
    """The per-object diff of two trees.

    A file with the same bytes on both sides holds the same objects on both sides, so it can
    add no change and is not parsed: publishing a one-model change of a 10,000-model tree
    parses two manifests, not 60,000 objects. (Identities are unique within a rendered tree.)
    """
    same = {path for path, content in base.items() if head.get(path) == content}
    before = {path: base[path] for path in base.keys() - same}
    after = {path: head[path] for path in head.keys() - same}
    changes = diff_objects(env, rendered_objects(before), rendered_objects(after))
    return replace(changes, unpinned=unpinned_images(head), moved=unit_moves(before, after))


def unit_members(files: Mapping[str, bytes]) -> dict[str, str]:
    """Model directory (`<namespace>/<name>`) -> the unit that lists it, read from the
    top-level kustomizations among `files` (a namespace's lists `<name>/manifest.yaml`, a
    shard's `../<namespace>/<name>`). Anything else a kustomization lists is no model."""
    members: dict[str, str] = {}
    for path, content in files.items():
        unit, _, base = path.partition("/")
        if base != KUSTOMIZATION:
            continue
        document = next(yaml.load_all(content, Loader=_LOADER), None)
        listed = document.get("resources") if isinstance(document, dict) else None
        for entry in listed if isinstance(listed, list) else ():
            if not isinstance(entry, str):
                continue
            if entry.startswith("../"):
                members[entry.removeprefix("../")] = unit
            elif entry.count("/") == 1 and entry.endswith("/manifest.yaml"):
                members[f"{unit_namespace(unit)}/{entry.split('/')[0]}"] = unit
    return members


def unit_moves(base: Mapping[str, bytes], head: Mapping[str, bytes]) -> tuple[str, ...]:
    """The models listed by one unit in `base` and by another in `head`, given the files
    that differ: a model that moves is listed by two changed kustomizations, one per side."""
    before, after = unit_members(base), unit_members(head)
    return tuple(
        f"{model}: sync unit {before[model]} -> {after[model]}"
        for model in sorted(before.keys() & after.keys())
        if before[model] != after[model]
    )


_UNPINNED = PREFIX + IMAGE_UNPINNED


def unpinned_images(files: Mapping[str, bytes]) -> tuple[str, ...]:
    """`<namespace>/<name>: <image> runs unpinned (<why>)` for each ModelDeployment of a tree
    stamped as running its image by tag. Only manifests holding the stamp's key are parsed."""
    marker = _UNPINNED.encode()
    found = []
    for path in sorted(files):
        if path.rsplit("/", 1)[-1] != MANIFEST or marker not in files[path]:
            continue
        for doc in yaml.load_all(files[path], Loader=_LOADER):
            metadata = doc.get("metadata") if isinstance(doc, dict) else None
            if not isinstance(metadata, dict):
                continue
            annotations = metadata.get("annotations")
            if not isinstance(annotations, dict) or _UNPINNED not in annotations:
                continue
            image = annotations.get(PREFIX + IMAGE_REQUESTED)
            found.append(
                f"{metadata.get('namespace')}/{metadata.get('name')}: {image} runs unpinned "
                f"({annotations[_UNPINNED]})"
            )
    return tuple(found)


def diff_objects(
    env: str, old: Mapping[Identity, RenderedObject], new: Mapping[Identity, RenderedObject]
) -> TreeDiff:
    changes: list[Change] = []
    for identity in sorted(old.keys() & new.keys()):
        if old[identity].text != new[identity].text:
            item = new[identity]
            texts = (old[identity].text, item.text)
            labels = (f"a/{item.label}", f"b/{item.label}")
            changes.append(Change("changed", item.app, item.label, *texts, *labels))
    removed = [old[i] for i in sorted(old.keys() - new.keys())]
    added = [new[i] for i in sorted(new.keys() - old.keys())]
    renames = _pair_renames(removed, added)
    paired_old = {id(a) for a, _, _ in renames}
    paired_new = {id(b) for _, b, _ in renames}
    for before, after, ratio in renames:
        label = f"{before.label} -> {after.label}"
        labels = (f"a/{before.label}", f"b/{after.label}")
        changes.append(Change("renamed", after.app, label, before.text, after.text, *labels, ratio))
    for item in added:
        if id(item) not in paired_new:
            labels = ("/dev/null", f"b/{item.label}")
            changes.append(Change("added", item.app, item.label, "", item.text, *labels))
    for item in removed:
        if id(item) not in paired_old:
            labels = (f"a/{item.label}", "/dev/null")
            changes.append(Change("removed", item.app, item.label, item.text, "", *labels))
    order = {"renamed": 0, "added": 1, "changed": 2, "removed": 3}
    changes.sort(key=lambda c: (c.app, order[c.kind], c.label))
    return TreeDiff(env, tuple(changes))


def _pair_renames(
    removed: list[RenderedObject], added: list[RenderedObject]
) -> list[tuple[RenderedObject, RenderedObject, float]]:
    """Greedy pairing by similarity, best first; ties broken by identity so it is stable."""
    candidates: list[tuple[float, Identity, Identity, RenderedObject, RenderedObject]] = []
    if len(removed) * len(added) > RENAME_COMPARISONS:
        return []
    for before in removed:
        for after in added:
            # A namespace is never renamed: the old one stays (it is never pruned) and the
            # new one is created, so they are shown as what they are, one added, one removed.
            if before.identity[:2] != after.identity[:2] or before.identity[1] == "Namespace":
                continue
            matcher = difflib.SequenceMatcher(None, before.text, after.text, autojunk=False)
            if matcher.quick_ratio() < RENAME_SIMILARITY:
                continue
            ratio = matcher.ratio()
            if ratio >= RENAME_SIMILARITY:
                candidates.append((ratio, before.identity, after.identity, before, after))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_old: set[Identity] = set()
    used_new: set[Identity] = set()
    pairs = []
    for ratio, old_id, new_id, before, after in candidates:
        if old_id in used_old or new_id in used_new:
            continue
        used_old.add(old_id)
        used_new.add(new_id)
        pairs.append((before, after, round(ratio, 2)))
    return pairs


# --- formats ---------------------------------------------------------------------------------


def _by_app(changes: Iterable[Change]) -> dict[str, list[Change]]:
    grouped: dict[str, list[Change]] = {}
    for change in changes:
        grouped.setdefault(change.app, []).append(change)
    return grouped


def _app_summary(changes: list[Change]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in _counts(changes).items() if n)


def _heading(change: Change) -> str:
    if change.similarity is not None:
        return f"{change.kind}: {change.label} ({change.similarity:.0%} similar)"
    return f"{change.kind}: {change.label}"


def format_text(diffs: Iterable[TreeDiff], broken: Sequence[BrokenSide] = ()) -> str:
    """The changes, then one summary line per environment (and per side that does not
    compile; its diagnostics go to stderr, with the other diagnostics)."""
    out: list[str] = []
    diffs = list(diffs)
    for tree in diffs:
        for app, changes in _by_app(tree.changes).items():
            out.append(f"=== {tree.env}: {app} ({_app_summary(changes)})\n")
            for change in changes:
                out.append(f"* {_heading(change)}\n")
                out.append(change.diff)
            out.append("\n")
    out.extend(tree.summary() + "\n" for tree in diffs)
    out.extend(side.summary() + "\n" for side in broken)
    out.extend(f"{tree.env}: warning: {line}\n" for tree in diffs for line in tree.unpinned)
    out.extend(f"{tree.env}: warning: {line}\n" for tree in diffs for line in _moves(tree))
    return "".join(out)


# Said under a diff that moves models between units, once per environment.
MOVES_WARNING = (
    "these models move to another Argo CD Application or Flux Kustomization; the one that "
    "listed them prunes them if it syncs before the new one takes them over (read the "
    "README's section on sharding before merging)"
)


def _moves(tree: TreeDiff) -> list[str]:
    return [*tree.moved, MOVES_WARNING] if tree.moved else []


def _fence(text: str) -> str:
    """A code fence longer than any backtick run inside (a manifest may hold backticks)."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def format_markdown(
    diffs: Iterable[TreeDiff], limit: int = MARKDOWN_LIMIT, broken: Sequence[BrokenSide] = ()
) -> str:
    """One section per environment, one collapsible block per app, a summary line on top.
    A side that does not compile comes first, with its diagnostics, so a cut never hides it."""
    diffs = list(diffs)
    changed = [tree for tree in diffs if tree.differs]
    head = "### runwayc: rendered diff\n\n"
    head += "; ".join([*(side.summary() for side in broken), *(t.summary() for t in diffs)])
    head += "\n"
    warnings = [f"> {tree.env}: {_escape(line)}\n" for tree in diffs for line in tree.unpinned]
    if warnings:
        shown = warnings[:UNPINNED_SHOWN]
        if len(warnings) > len(shown):
            shown.append(f"> ... and {len(warnings) - len(shown)} more (`runwayc images`)\n")
        head += "\n> [!WARNING]\n> Images that run unpinned, by tag:\n" + ">\n".join(shown)
    moves = [f"> {tree.env}: {_escape(line)}\n" for tree in diffs for line in tree.moved]
    if moves:
        shown = moves[:UNPINNED_SHOWN]
        if len(moves) > len(shown):
            shown.append(f"> ... and {len(moves) - len(shown)} more (`runwayc diff`)\n")
        head += f"\n> [!CAUTION]\n> Models that move between sync units: {MOVES_WARNING}.\n"
        head += ">\n".join(shown)
    if not changed and not broken:
        return head
    result = head
    # Blocks are made as they are added: past the limit no diff is computed (a first
    # publication's diff is the whole tree).
    for block in _markdown_blocks(changed, broken):
        if len(result) + len(block) > limit:
            result += (
                "\n(diff truncated to fit a pull-request comment; run `runwayc diff` for the "
                "rest)\n"
            )
            break
        result += block
    return result


def _markdown_blocks(changed: Sequence[TreeDiff], broken: Sequence[BrokenSide]) -> Iterator[str]:
    yield from (_broken_section(side) for side in broken)
    for tree in (t for t in changed if t.changes):
        yield f"\n#### {tree.env}\n"
        for app, changes in _by_app(tree.changes).items():
            text = "".join(f"# {_heading(c)}\n{c.diff}" for c in changes)
            fence = _fence(text)
            yield (
                f"\n<details><summary><code>{_escape(app)}</code>: {_app_summary(changes)}"
                f"</summary>\n\n{fence}diff\n{text}{fence}\n\n</details>\n"
            )


def _broken_section(side: BrokenSide) -> str:
    shown = side.diagnostics[:MARKDOWN_DIAGNOSTICS]
    text = format_diagnostics(shown)
    if len(side.diagnostics) > len(shown):
        text += f"... and {len(side.diagnostics) - len(shown)} more (run `runwayc check`)\n"
    fence = _fence(text)
    return (
        f"\n#### {_escape(side.env)}: <code>{_escape(side.revision)}</code> ({side.side}) does "
        f"not compile\n\nNo diff for {_escape(side.env)}: fix these first.\n\n"
        f"{fence}text\n{text}{fence}\n"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def as_json(diffs: Iterable[TreeDiff], broken: Sequence[BrokenSide] = ()) -> list[dict[str, Any]]:
    """One entry per environment: its changes, or (a side did not compile) that side's
    diagnostics under `doesNotCompile`."""
    failed = [
        {
            "env": side.env,
            "doesNotCompile": {
                "side": side.side,
                "revision": side.revision,
                "diagnostics": [as_json_object(d) for d in side.diagnostics],
            },
        }
        for side in broken
    ]
    return failed + [
        {
            "env": tree.env,
            "summary": tree.counts(),
            "unpinned": list(tree.unpinned),
            "moved": list(tree.moved),
            "changes": [
                {
                    "kind": c.kind,
                    "app": c.app,
                    "object": c.label,
                    "diff": c.diff,
                    **({"similarity": c.similarity} if c.similarity is not None else {}),
                }
                for c in tree.changes
            ],
        }
        for tree in diffs
    ]
