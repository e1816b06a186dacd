"""Properties of incremental and parallel compiles: a cache or a process pool may make a
compile faster, never different. Each step of a random edit session is compiled twice, with
the cache carried over from the previous step and without any cache; results must be equal,
down to every deployment summary that went through the cache's JSON."""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.core.cache import CacheView, Entry
from compiler.core.pipeline import (
    CompileInputs,
    CompileOptions,
    CompileResult,
    SourceFile,
    compile_project,
)
from compiler.io.parallel import process_map
from compiler.io.workspace import Workspace, data_dir
from tests.conftest import QUICKSTART, ROOT


@cache
def base() -> CompileInputs:
    return Workspace(QUICKSTART).inputs("dev")


def overlay(env: str) -> SourceFile:
    path = data_dir("overlays") / f"{env}.yaml"
    return SourceFile(f"<builtin>/overlays/{env}.yaml", path.read_text())


edits = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 9), st.sampled_from(
        [("replicas: 1", "replicas: 2"), ("team-a", "team-b"), ("vllm", "kaito"), ("gpu", "gpu:"),
         ("\n", "\n# comment\n"), ("count: 2", "count: 99")])),
    st.tuples(st.just("drop"), st.integers(0, 9), st.none()),
    st.tuples(st.just("copy"), st.integers(0, 9), st.none()),
    st.tuples(st.just("lock"), st.integers(0, 9), st.sampled_from(
        [("aed1b15e", "0001b15e"), ("team-a/phi4", "team-a/other"), ("v0.11.0", "v0.11.1")])),
    st.tuples(st.just("env"), st.integers(0, 9), st.sampled_from(["dev", "staging", "prod"])),
    st.tuples(st.just("overlay"), st.integers(0, 9), st.sampled_from(
        ["namespace: elsewhere\n", "ceilings:\n  replicas: 1\n", ""])),
)  # fmt: skip


def apply(inputs: CompileInputs, edit: tuple) -> CompileInputs:
    action, index, change = edit
    files = list(inputs.deployments)
    if action == "env":
        return dataclasses.replace(inputs, overlay=overlay(change))
    if action == "overlay":
        # Edit the overlay text but keep the environment: only the content hash can tell.
        current = inputs.overlay or overlay("dev")
        text = "apiVersion: runwayc.dev/v1alpha1\nkind: Overlay\n" + change
        return dataclasses.replace(inputs, overlay=SourceFile(current.path, text))
    if action == "lock":
        assert inputs.lock is not None
        lock = SourceFile(inputs.lock.path, inputs.lock.text.replace(*change))
        return dataclasses.replace(inputs, lock=lock)
    if not files:
        return inputs
    target = files[index % len(files)]
    if action == "edit":
        files[index % len(files)] = SourceFile(target.path, target.text.replace(*change, 1))
    elif action == "drop":
        files.remove(target)
    else:
        files.append(SourceFile(f"deployments/copy{len(files)}.yaml", target.text))
    return dataclasses.replace(inputs, deployments=tuple(files))


def same(a: CompileResult, b: CompileResult) -> None:
    assert a.diagnostics == b.diagnostics
    assert a.files == b.files
    assert a.deployments == b.deployments


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(edits, min_size=1, max_size=6))
def test_cached_compiles_equal_uncached_compiles(session: list[tuple]) -> None:
    inputs = base()
    entries: Mapping[str, Entry] = {}
    for edit in session:
        inputs = apply(inputs, edit)
        env = "dev" if inputs.overlay is None else Path(inputs.overlay.path).stem
        options = CompileOptions(env=env)
        view = CacheView(entries, code="test")
        with_cache = compile_project(dataclasses.replace(inputs, cache=view), options)
        same(with_cache, compile_project(inputs, options))
        assert with_cache.cache is not None
        entries = with_cache.cache.entries


def test_hits_are_passed_through_as_the_very_entries_read() -> None:
    """The store leaves a shard alone when its entries are the ones it read: a hit must
    come back as the same object, not an equal copy."""
    inputs = base()
    options = CompileOptions(env="dev")
    first = compile_project(dataclasses.replace(inputs, cache=CacheView({}, code="t")), options)
    assert first.cache is not None
    view = CacheView(first.cache.entries, code="t", lock_memo=first.cache.lock_memo)
    second = compile_project(dataclasses.replace(inputs, cache=view), options)
    assert second.cache is not None
    assert second.cache.reused == len(view.entries) > 0
    assert all(second.cache.entries[key] is view.entries[key] for key in view.entries)
    assert second.cache.lock_memo is view.lock_memo  # the memo read back, not re-encoded


def _gen_fleet():
    spec = importlib.util.spec_from_file_location("gen_fleet", ROOT / "bench" / "gen_fleet.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_process_pool_gives_the_serial_result(tmp_path: Path) -> None:
    # 240 files: enough for two workers (compiler.io.parallel.MIN_FILES_PER_WORKER = 100).
    _gen_fleet().generate(240, tmp_path)
    broken = tmp_path / "deployments" / "team-7" / "md-7.yaml"
    doc = yaml.safe_load(broken.read_text())
    doc["spec"]["engine"]["args"]["port"] = "9000"  # a reserved flag: one error, mid-fleet
    broken.write_text(yaml.safe_dump(doc))
    inputs = Workspace(tmp_path).inputs("prod")
    broken_path = "deployments/team-7/md-7.yaml"
    options = CompileOptions(env="prod", locked=True)
    serial = compile_project(inputs, options)
    parallel = compile_project(inputs, options, mapper=process_map(2))
    same(parallel, serial)
    assert len(serial.deployments) == 240
    assert [d.code for d in serial.diagnostics if d.is_error] == ["RESERVED_ARG"]
    healthy = dataclasses.replace(
        inputs, deployments=tuple(f for f in inputs.deployments if f.path != broken_path)
    )
    ok = compile_project(healthy, options)
    same(compile_project(healthy, options, mapper=process_map(2)), ok)
    assert ok.files
