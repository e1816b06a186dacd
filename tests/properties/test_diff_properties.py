"""`diff_trees` leaves out files whose bytes are the same on both sides; that shortcut must
never change a diff. Two trees of objects (identities unique, as in any rendered tree) are
drawn, the head an edit of the base: objects changed, added, removed, moved between files and
renamed. The diff must equal the one computed from every object of both trees."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.core.emit import dump_objects
from compiler.core.gitops.diff import diff_objects, diff_trees, rendered_objects
from compiler.core.gitops.hydrate import MANIFEST

KINDS = ("Service", "Deployment", "ConfigMap")
APPS = ("a/one", "a/two", "b/one")


def manifest(kind: str, name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "n"},
        "data": {"value": value, "padding": "shared text that keeps renames alike " * 2},
    }


# One tree: object identity (kind, name) -> (app it is rendered into, its value).
objects = st.dictionaries(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(["m0", "m1", "m2", "m3"])),
    st.tuples(st.sampled_from(APPS), st.sampled_from(["x", "y"])),
    max_size=8,
)


def files_of(tree: dict[tuple[str, str], tuple[str, str]]) -> dict[str, bytes]:
    by_app: dict[str, list[dict[str, Any]]] = {}
    for (kind, name), (app, value) in sorted(tree.items()):
        by_app.setdefault(app, []).append(manifest(kind, name, value))
    files = {f"{app}/{MANIFEST}": dump_objects(docs).encode() for app, docs in by_app.items()}
    files.update({f"{app}/kustomization.yaml": b"resources: []\n" for app in by_app})
    return files


@st.composite
def edited(draw: st.DrawFn) -> tuple[dict[str, bytes], dict[str, bytes]]:
    base = draw(objects)
    head = dict(base)
    for identity in sorted(base):
        edit = draw(st.sampled_from(["keep", "keep", "change", "move", "remove", "rename"]))
        app, value = base[identity]
        if edit == "change":
            head[identity] = (app, "z")
        elif edit == "move":
            head[identity] = (draw(st.sampled_from(APPS)), value)
        elif edit in ("remove", "rename"):
            del head[identity]
            if edit == "rename":
                head.setdefault((identity[0], identity[1] + "-new"), (app, value))
    head.update(draw(objects))  # additions (and overwrites)
    return files_of(base), files_of(head)


@settings(max_examples=300, deadline=None)
@given(edited())
def test_skipping_identical_files_never_changes_the_diff(
    trees: tuple[dict[str, bytes], dict[str, bytes]],
) -> None:
    base, head = trees
    everything = diff_objects("prod", rendered_objects(base), rendered_objects(head))
    assert diff_trees("prod", base, head) == everything


def test_an_identical_file_is_not_parsed() -> None:
    base = files_of({("Service", "m0"): ("a/one", "x"), ("Service", "m1"): ("a/two", "x")})
    head = files_of({("Service", "m0"): ("a/one", "y"), ("Service", "m1"): ("a/two", "x")})
    # Bytes no YAML parser accepts: if diff_trees parsed the unchanged file it would raise.
    unreadable = b"{[: not yaml"
    base["a/two/" + MANIFEST] = head["a/two/" + MANIFEST] = unreadable
    diff = diff_trees("prod", base, head)
    assert [(c.kind, c.label) for c in diff.changes] == [("changed", "Service n/m0")]


# --- models moving between sync units ----------------------------------------------------------

MODELS = ("m0", "m1", "m2", "m3", "m4")
UNITS = ("a", "a.shard-0", "a.shard-1", "a.shard-2")


def unit_files(assignment: dict[str, str]) -> dict[str, bytes]:
    """The top-level kustomizations of namespace `a` with each model in its unit, as the
    emitter lists them: `<name>/manifest.yaml` in the namespace's own, `../a/<name>` in a
    shard's; the namespace's unit always exists (it holds the Namespace)."""
    listed: dict[str, list[str]] = {"a": ["namespace.yaml"]}
    for model, unit in sorted(assignment.items()):
        entry = f"{model}/manifest.yaml" if unit == "a" else f"../a/{model}"
        listed.setdefault(unit, []).append(entry)
    return {
        f"{unit}/kustomization.yaml": (
            "resources:\n" + "".join(f"- {e}\n" for e in sorted(es))
        ).encode()
        for unit, es in listed.items()
    }


assignments = st.dictionaries(st.sampled_from(MODELS), st.sampled_from(UNITS), max_size=5)


@given(assignments, assignments)
def test_moves_read_from_changed_files_are_every_move(
    base: dict[str, str], head: dict[str, str]
) -> None:
    """diff reads units only from the kustomizations that differ; the moves it reports are
    exactly those of comparing every unit of both trees."""
    moved = diff_trees("prod", unit_files(base), unit_files(head)).moved
    expected = tuple(
        f"a/{m}: sync unit {base[m]} -> {head[m]}"
        for m in sorted(base.keys() & head.keys())
        if base[m] != head[m]
    )
    assert moved == expected
