"""An in-memory test harness for the pure core, after kustomize's krusty harness.

krusty's tests write a kustomization into an in-memory filesystem, run the build and compare
the output. Here a test writes a GitOps source repository as {repo-relative path: text},
compiles it with `compile_project` and reads the diagnostics (in the CLI's text format) and
the rendered objects of each ModelDeployment, without a temporary directory or the CLI:

    result = Repo.of({"deployments/a.yaml": md_yaml()}).compile()
    assert result.ok, result.text
    assert result.kinds("team-a", "m")["Deployment"]["spec"]["replicas"] == 1

`Repo.inputs(env)` builds the `CompileInputs` that `Workspace(root).inputs(env)` builds from
the same files on disk (tests/test_harness.py holds the two equal on every example). Only the
built-in data (runwayc's own policies/ and overlays/) is read from the checkout, once; the
repository under test lives only in memory.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from compiler.core.diagnostics import (
    Diagnostic,
    Location,
    Severity,
    by_environment,
    error,
    format_text,
    has_errors,
    sort_diagnostics,
)
from compiler.core.emit import manifest_path
from compiler.core.errors import ConfigError
from compiler.core.pipeline import (
    CompileInputs,
    CompileOptions,
    CompileResult,
    SourceFile,
    compile_project,
    read_project,
    rendered_namespaces,
    unused_shards,
)
from compiler.core.project import default_environment_of, environments_of
from compiler.core.recipes import MAX_BODY_BYTES, RECIPES_DIR
from compiler.io import workspace

ROOT = Path(__file__).resolve().parent.parent

# The layout of a source repository is the workspace's: one definition of where things are.
from compiler.io.workspace import (  # noqa: E402
    LOCK_FILE,
    OVERLAYS_DIR,
    POLICIES_DIR,
    PROJECT_FILE,
    SOURCE_SUFFIXES,
    SOURCES_DIR,
)

# The runway.yaml a repository gets unless it brings its own (as tests/conftest.py's make_repo).
PROJECT = """\
apiVersion: runwayc.dev/v1alpha1
kind: Project
defaultEnvironment: dev
environments:
  dev: {}
"""

Content = str | bytes


# --- runwayc's own data: read as the workspace reads it, once ---------------------------------

builtin_catalog = cache(workspace.builtin_catalog)
builtin_policies = cache(workspace.builtin_policies)
builtin_overlay = cache(workspace.builtin_overlay)


# --- reading an in-memory repository as the workspace reads one on disk ------------------------


def _decode(path: str, content: Content) -> SourceFile:
    """A file's text, or the ConfigError the workspace raises for one that is not UTF-8."""
    if isinstance(content, str):
        return SourceFile(path, content)
    try:
        return SourceFile(path, content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start})",
            [
                error(
                    "NOT_UTF8",
                    f"not UTF-8 text (invalid byte at offset {exc.start})",
                    Location(path),
                )
            ],
        ) from exc


def _check_path(path: str) -> str:
    """A repo-relative POSIX file path, as the workspace displays one (no `.`, `..`, `//`)."""
    if "\\" in path or any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"not a normalised repo-relative POSIX file path: {path!r}")
    return path


@dataclass(frozen=True)
class Report:
    """Diagnostics, sorted and deduplicated as every output format has them."""

    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed): where the CLI exits 0."""
        return not has_errors(self.diagnostics)

    @cached_property
    def text(self) -> str:
        """`file:line:col: severity[CODE]: path: message` lines, what the CLI prints."""
        return format_text(self.diagnostics)

    @cached_property
    def lines(self) -> list[str]:
        """One formatted line per diagnostic (a message's own newlines stay in its line)."""
        return [format_text([d]).removesuffix("\n") for d in self.diagnostics]

    @property
    def errors(self) -> list[str]:
        return [line for d, line in zip(self.diagnostics, self.lines, strict=True) if d.is_error]

    @property
    def warnings(self) -> list[str]:
        return [
            line
            for d, line in zip(self.diagnostics, self.lines, strict=True)
            if d.severity is Severity.WARNING
        ]

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.diagnostics]


@dataclass(frozen=True)
class Compiled(Report):
    """One environment compiled: its diagnostics and its rendered tree."""

    env: str
    result: CompileResult

    @property
    def files(self) -> dict[str, bytes]:
        """The rendered tree, relative to rendered/<env>/ (empty when there are errors)."""
        return self.result.files

    @property
    def models(self) -> list[str]:
        """`namespace/name` of every rendered ModelDeployment, in tree order."""
        return [
            f"{c.namespace}/{c.name}"
            for c in self.result.deployments
            if manifest_path(c.namespace, c.name) in self.files
        ]

    def manifest(self, namespace: str, name: str) -> str:
        """The manifest.yaml of one ModelDeployment, as text."""
        path = manifest_path(namespace, name)
        if path not in self.files:
            raise KeyError(f"{path} is not rendered; models: {self.models}\n{self.text}")
        return self.files[path].decode("utf-8")

    def objects(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The objects of one ModelDeployment's manifest, in file order."""
        return [o for o in yaml.safe_load_all(self.manifest(namespace, name)) if o is not None]

    def kinds(self, namespace: str, name: str) -> dict[str, dict[str, Any]]:
        """One ModelDeployment's objects by kind (each kind at most once)."""
        objects = self.objects(namespace, name)
        found = {o["kind"]: o for o in objects}
        assert len(found) == len(objects), [o["kind"] for o in objects]
        return found

    def rendered(self) -> dict[str, list[dict[str, Any]]]:
        """Every ModelDeployment's objects, by `namespace/name`."""
        return {model: self.objects(*model.split("/")) for model in self.models}


@dataclass(frozen=True)
class Checked(Report):
    """`runwayc check`: every environment compiled, the diagnostics together."""

    environments: dict[str, Compiled]


class Repo:
    """A GitOps source repository in memory: {repo-relative POSIX path: text or bytes}.

    Exactly the files given (see `Repo.of` for make_repo's conveniences); `write` adds one,
    like krusty's `th.WriteF`.
    """

    def __init__(self, files: Mapping[str, Content] | None = None) -> None:
        self.files: dict[str, Content] = {}
        for path, content in (files or {}).items():
            self.write(path, content)

    @classmethod
    def of(cls, files: Mapping[str, Content] | None = None) -> Repo:
        """As tests/conftest.py's make_repo: a runway.yaml (`PROJECT`) unless given, texts
        dedented."""
        given = {PROJECT_FILE: PROJECT, **(files or {})}
        return cls({p: textwrap.dedent(c) if isinstance(c, str) else c for p, c in given.items()})

    @classmethod
    def read(cls, root: Path) -> Repo:
        """Every regular file under `root` (a bundled example, say) loaded into memory, as
        text where it is UTF-8; links are not followed. Compiling it touches the disk no
        more."""
        files: dict[str, Content] = {}
        for directory, _, names in os.walk(root):
            for name in sorted(names):
                path = Path(directory) / name
                if path.is_symlink() or not path.is_file():
                    continue
                raw = path.read_bytes()
                try:
                    files[path.relative_to(root).as_posix()] = raw.decode("utf-8")
                except UnicodeDecodeError:
                    files[path.relative_to(root).as_posix()] = raw
        return cls(files)

    def write(self, path: str, content: Content) -> Repo:
        self.files[_check_path(path)] = content
        return self

    # -- what Workspace.inputs reads --------------------------------------------------------

    def _source(self, path: str) -> SourceFile | None:
        content = self.files.get(path)
        return None if content is None else _decode(path, content)

    def _under(self, folder: str) -> Iterable[str]:
        return (p for p in self.files if p.startswith(folder + "/"))

    def deployment_paths(self) -> list[str]:
        """Every deployments/**/*.yaml and *.yml, ordered as the workspace orders them."""
        found = [p for p in self._under(SOURCES_DIR) if p.endswith(SOURCE_SUFFIXES)]
        return sorted(found, key=lambda p: p.split("/"))

    def policy_paths(self) -> list[str]:
        """The YAML files directly in policies/ (not below), by name."""
        found = [
            p
            for p in self._under(POLICIES_DIR)
            if p.count("/") == 1 and PurePosixPath(p).suffix in SOURCE_SUFFIXES
        ]
        return sorted(found, key=PurePosixPath)

    def overlay(self, env: str) -> SourceFile | None:
        """The repo's overlays/<env>.yaml, else the built-in one of that name, else none."""
        own = self._source(f"{OVERLAYS_DIR}/{env}.yaml")
        return own if own is not None else builtin_overlay(env)

    def recipe_files(self) -> dict[str, bytes]:
        """Every file under recipes/, read up to one byte past the recipe body limit."""
        found: dict[str, bytes] = {}
        for path in self._under(RECIPES_DIR):
            content = self.files[path]
            raw = content.encode("utf-8") if isinstance(content, str) else content
            found[path] = raw[: MAX_BODY_BYTES + 1]
        return found

    def inputs(self, env: str) -> CompileInputs:
        """The inputs Workspace(root).inputs(env) builds from these files on disk (the
        non-cache fields only: no cache, so everything compiles afresh)."""
        deployments: list[SourceFile] = []
        unreadable: list[Diagnostic] = []
        for path in self.deployment_paths():
            try:
                deployments.append(_decode(path, self.files[path]))
            except ConfigError as exc:
                unreadable.extend(exc.diagnostics)
        return CompileInputs(
            catalog=builtin_catalog(),
            builtin_policies=builtin_policies(),
            deployments=tuple(deployments),
            read_diagnostics=tuple(unreadable),
            project=self._source(PROJECT_FILE),
            lock=self._source(LOCK_FILE),
            overlay=self.overlay(env),
            user_policies=tuple(_decode(p, self.files[p]) for p in self.policy_paths()),
            recipe_files=self.recipe_files(),
        )

    # -- running the core --------------------------------------------------------------------

    def environments(self) -> list[str]:
        """The environments `check` covers: every one runway.yaml lists (else dev)."""
        return environments_of(read_project(self._source(PROJECT_FILE))[0], None)

    def default_environment(self) -> str:
        return default_environment_of(read_project(self._source(PROJECT_FILE))[0])

    def compile(self, env: str | None = None, *, locked: bool = False) -> Compiled:
        """`runwayc compile [--env ENV] [--locked]`: runway.yaml's default environment unless
        given."""
        env = env or self.default_environment()
        result = compile_project(self.inputs(env), CompileOptions(env=env, locked=locked))
        return Compiled(tuple(sort_diagnostics(result.diagnostics)), env, result)

    def check(self, env: str | None = None, *, locked: bool = False) -> Checked:
        """`runwayc check [--env ENV] [--locked]`: every environment unless given, the
        diagnostics of runway.yaml and of each compile together, as the CLI reports them."""
        _, diagnostics = read_project(self._source(PROJECT_FILE))
        names = [env] if env is not None else self.environments()
        compiled = {name: self.compile(name, locked=locked) for name in names}
        each = by_environment({name: c.diagnostics for name, c in compiled.items()})
        rendered = {name: rendered_namespaces(c.result) for name, c in compiled.items()}
        unused = unused_shards(self._source(PROJECT_FILE), rendered) if env is None else []
        return Checked(tuple(sort_diagnostics([*diagnostics, *each, *unused])), compiled)
