"""Incremental compiles: the cache and the tree writer change what must change, and only that.

Every test compares against a compile that uses no cache at all: a cache can only ever make
a compile faster, never different.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.core.cache import Entry, format_shard, parse_shard
from tests.conftest import run_cli
from tests.helpers import md_yaml

LOCK_DIGEST = "sha256:" + "a" * 64
MOVED_DIGEST = "sha256:" + "b" * 64  # the same image pin after a `lock --update`
LOCK = f"""\
version: 1
providers: {{}}
images:
  vllm/vllm-openai:v0.11.0:
    requested: vllm/vllm-openai:v0.11.0
    repository: docker.io/vllm/vllm-openai
    tag: v0.11.0
    digest: {LOCK_DIGEST}
    resolved: docker.io/vllm/vllm-openai@{LOCK_DIGEST}
"""


def tree(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def mtimes(directory: Path) -> dict[str, int]:
    return {
        p.relative_to(directory).as_posix(): p.stat().st_mtime_ns
        for p in directory.rglob("*")
        if p.is_file()
    }


def shard_files(repo: Path) -> list[Path]:
    return sorted((repo / ".runwayc_cache" / "compile-dev").glob("*.entries"))


def shard_entries(path: Path) -> dict[str, Entry]:
    return parse_shard(path.read_bytes(), path.name[:2])


def fresh(repo: Path, tmp_path: Path, *extra: str) -> tuple[dict[str, bytes], str]:
    """The tree and diagnostics of a compile that uses no cache, into a scratch directory."""
    out = tmp_path / "reference"
    result = run_cli("compile", repo, "--no-cache", "--out", out, "--format", "json", *extra)
    return (tree(out) if out.is_dir() else {}), result.stdout


def cached(repo: Path, *extra: str) -> tuple[dict[str, bytes], str, str]:
    result = run_cli("compile", repo, "--format", "json", *extra)
    out = repo / "rendered" / "dev"
    return (tree(out) if out.is_dir() else {}), result.stdout, result.stderr


@pytest.fixture
def fleet(make_repo):
    image = {"type": "vllm", "image": "vllm/vllm-openai:v0.11.0"}
    files = {
        f"deployments/m{i}.yaml": md_yaml(f"m{i}", engine={**image, "args": {"seed": str(i)}})
        for i in range(6)
    }
    return make_repo({**files, "runway.lock": LOCK})


def test_no_change_recompile_writes_no_file(fleet: Path) -> None:
    assert run_cli("compile", fleet).exit_code == 0
    out = fleet / "rendered" / "dev"
    before = mtimes(out)
    cache_before = mtimes(fleet / ".runwayc_cache")
    second = run_cli("compile", fleet)
    assert second.exit_code == 0
    assert "unchanged in" in second.stderr
    assert "6 file(s) from cache" in second.stderr
    assert mtimes(out) == before
    assert mtimes(fleet / ".runwayc_cache") == cache_before


def test_one_changed_model_rewrites_one_manifest(fleet: Path, tmp_path: Path) -> None:
    run_cli("compile", fleet)
    out = fleet / "rendered" / "dev"
    before = mtimes(out)
    source = fleet / "deployments" / "m3.yaml"
    source.write_text(source.read_text().replace("seed: '3'", "seed: '33'"))
    files, _, stderr = cached(fleet)
    assert "5 file(s) from cache" in stderr
    after = mtimes(out)
    touched = sorted(name for name in after if after[name] != before.get(name))
    assert touched == ["team-a/m3/manifest.yaml"]
    assert files == fresh(fleet, tmp_path)[0]
    assert b"- '33'" in files["team-a/m3/manifest.yaml"]


def test_removed_model_leaves_no_file_or_directory(fleet: Path) -> None:
    run_cli("compile", fleet)
    (fleet / "deployments" / "m2.yaml").unlink()
    files, _, _ = cached(fleet)
    assert "team-a/m2/manifest.yaml" not in files
    assert not (fleet / "rendered" / "dev" / "team-a" / "m2").exists()
    assert b"m2" not in files["team-a/kustomization.yaml"]


def test_policy_change_invalidates_every_entry(fleet: Path, tmp_path: Path) -> None:
    (fleet / "overlays").mkdir()
    overlay = "apiVersion: runwayc.dev/v1alpha1\nkind: Overlay\n"
    (fleet / "overlays" / "dev.yaml").write_text(overlay)
    run_cli("compile", fleet)
    (fleet / "policies").mkdir()
    (fleet / "policies" / "team.yaml").write_text(
        "apiVersion: runwayc.dev/v1alpha1\nkind: Policy\nmetadata: {name: team}\n"
        "ceilings:\n  gpuCount: 0\n"
    )
    _, diagnostics, stderr = cached(fleet)
    assert "nothing written" in stderr  # every model now breaks the ceiling
    assert diagnostics == fresh(fleet, tmp_path)[1]
    assert json.loads(diagnostics)["summary"]["errors"] == 6


def test_lock_pin_change_recompiles_the_models_that_read_it(fleet: Path, tmp_path: Path) -> None:
    run_cli("compile", fleet)
    (fleet / "runway.lock").write_text(LOCK.replace(LOCK_DIGEST, MOVED_DIGEST))
    files, diagnostics, stderr = cached(fleet)
    assert "from cache" not in stderr  # every model reads that image pin
    assert MOVED_DIGEST.encode() in files["team-a/m0/manifest.yaml"]
    assert (files, diagnostics) == fresh(fleet, tmp_path)
    # The recompiled entries (same keys, new lock digests) were stored: the next compile hits.
    assert "6 file(s) from cache" in cached(fleet)[2]


def test_unrelated_lock_entry_keeps_the_cache(fleet: Path) -> None:
    run_cli("compile", fleet)
    other = LOCK + (
        "  busybox:1:\n    requested: busybox:1\n    repository: docker.io/library/busybox\n"
        "    tag: '1'\n    unresolvedReason: registry down\n"
    )
    (fleet / "runway.lock").write_text(other)
    _, _, stderr = cached(fleet)
    assert "6 file(s) from cache" in stderr


def test_cached_warnings_and_errors_are_reported_again(make_repo, tmp_path: Path) -> None:
    repo = make_repo(
        {
            "deployments/warn.yaml": md_yaml("warn"),  # unpinned default image: a warning
            "deployments/bad.yaml": md_yaml("bad", resources={"gpu": {"count": 99}}),
        }
    )
    first = run_cli("compile", repo, "--format", "json")
    second = run_cli("compile", repo, "--format", "json")
    assert first.exit_code == second.exit_code == 1
    assert second.stdout == first.stdout
    assert json.loads(second.stdout)["summary"]["warnings"] >= 1
    assert second.stdout == fresh(repo, tmp_path)[1]
    assert not (repo / "rendered").exists()


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"not json",
        b'{"format": 1, "entries": []}',
        b'{"format": 99, "entries": {}}',
    ],
)
def test_damaged_cache_file_is_an_empty_cache(fleet: Path, tmp_path: Path, damage: bytes) -> None:
    run_cli("compile", fleet)
    for path in shard_files(fleet):
        path.write_bytes(damage)
    files, diagnostics, _ = cached(fleet)
    assert (files, diagnostics) == fresh(fleet, tmp_path)


def test_damaged_entries_are_misses(fleet: Path, tmp_path: Path) -> None:
    run_cli("compile", fleet)
    number = 0
    for path in shard_files(fleet):
        damaged = {}
        for key, stored in shard_entries(path).items():
            entry = json.loads(stored.meta)
            if number % 3 == 0:  # a length that does not frame the manifest
                entry["deployments"][0]["manifestLength"] += 1
            elif number % 3 == 1:
                entry["diagnostics"] = [["fatal", "X", "y", ["f", 1, 1], ""]]
            else:
                entry["deployments"][0].pop("lockKey")
            number += 1
            damaged[key] = Entry(json.dumps(entry), stored.manifests)
        path.write_bytes(format_shard(damaged) + b"no-frame-no-entry\n")
    assert number == 6
    files, diagnostics, stderr = cached(fleet)
    assert "from cache" not in stderr
    assert (files, diagnostics) == fresh(fleet, tmp_path)


def test_truncated_shard_loses_only_its_last_entry(fleet: Path, tmp_path: Path) -> None:
    """A shard cut short (a full disk, a killed process) loses its last entry only."""
    run_cli("compile", fleet)
    path = shard_files(fleet)[0]
    data = path.read_bytes().rstrip(b"\n")
    path.write_bytes(data[: len(data) - 40])
    files, diagnostics, stderr = cached(fleet)
    assert "5 file(s) from cache" in stderr
    assert (files, diagnostics) == fresh(fleet, tmp_path)


def test_entries_in_the_wrong_shard_or_foreign_files_are_ignored(fleet: Path) -> None:
    run_cli("compile", fleet)
    first, second = shard_files(fleet)[:2]
    moved = shard_entries(second)
    first.write_bytes(format_shard({**shard_entries(first), **moved}))
    second.unlink()
    (second.parent / "zz.entries").write_bytes(format_shard(moved))
    _, _, stderr = cached(fleet)
    assert f"{6 - len(moved)} file(s) from cache" in stderr


def test_a_format_3_cache_is_a_miss_and_is_cleared_away(fleet: Path) -> None:
    run_cli("compile", fleet)
    for path in shard_files(fleet):
        path.rename(path.with_suffix(".jsonl"))  # where format 3 kept its shards
    _, _, stderr = cached(fleet)
    assert "from cache" not in stderr
    names = {p.name for p in (fleet / ".runwayc_cache" / "compile-dev").iterdir()}
    assert {name.rpartition(".")[2] for name in names} == {"entries"}


def test_a_one_model_change_rewrites_only_its_shards(fleet: Path) -> None:
    """The other entries are neither re-encoded nor rewritten."""
    run_cli("compile", fleet)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in shard_files(fleet)}
    source = fleet / "deployments" / "m3.yaml"
    source.write_text(source.read_text().replace("seed: '3'", "seed: '33'"))
    _, _, stderr = cached(fleet)
    assert "5 file(s) from cache" in stderr
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in shard_files(fleet)}
    rewritten = {
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    }
    assert 1 <= len(rewritten) <= 2
    assert sum(len(parse_shard(data, name[:2])) for name, (_, data) in after.items()) == 6


def test_cache_directory_from_the_environment(
    fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cache"
    monkeypatch.setenv("RUNWAYC_CACHE_DIR", str(elsewhere))
    run_cli("compile", fleet)
    assert not (fleet / ".runwayc_cache").exists()
    assert [p.name for p in (elsewhere / "compile-dev").iterdir()]
    assert (elsewhere / ".gitignore").read_text().splitlines()[-1] == "*"


def test_no_cache_reads_and_writes_no_cache(fleet: Path) -> None:
    assert run_cli("compile", fleet, "--no-cache").exit_code == 0
    assert not (fleet / ".runwayc_cache").exists()


def lock_memo(repo: Path) -> Path:
    return repo / ".runwayc_cache" / "lock-dev.json"


def memoised_digest(repo: Path) -> str:
    """The image pin's digest as the lock memo holds it."""
    lock = json.loads(lock_memo(repo).read_text())["lock"]
    return str(lock["images"]["vllm/vllm-openai:v0.11.0"]["digest"])


def test_runway_lock_is_memoised_and_the_memo_follows_the_lock(fleet: Path) -> None:
    run_cli("compile", fleet)
    assert memoised_digest(fleet) == LOCK_DIGEST
    (fleet / "runway.lock").write_text(LOCK.replace(LOCK_DIGEST, MOVED_DIGEST))
    files, _, _ = cached(fleet)
    assert MOVED_DIGEST.encode() in files["team-a/m0/manifest.yaml"]
    assert memoised_digest(fleet) == MOVED_DIGEST


def _memo_for_another_lock(memo: str) -> str:
    entry = json.loads(memo)
    entry["key"] = "0" * 64
    return json.dumps(entry)


def _memo_with_an_invalid_lock(memo: str) -> str:
    entry = json.loads(memo)
    entry["lock"]["version"] = 2
    return json.dumps(entry)


@pytest.mark.parametrize(
    "damage",
    [
        lambda memo: "",
        lambda memo: "not json",
        lambda memo: "[1, 2]",
        lambda memo: memo[: len(memo) // 2],
        _memo_for_another_lock,
        _memo_with_an_invalid_lock,
    ],
)
def test_a_damaged_or_foreign_lock_memo_is_read_past(fleet: Path, tmp_path: Path, damage) -> None:
    run_cli("compile", fleet)
    (fleet / "runway.lock").write_text(LOCK.replace(LOCK_DIGEST, MOVED_DIGEST))
    lock_memo(fleet).write_text(damage(lock_memo(fleet).read_text()))
    files, diagnostics, _ = cached(fleet)
    assert (files, diagnostics) == fresh(fleet, tmp_path)
    assert memoised_digest(fleet) == MOVED_DIGEST  # a good memo again


def test_a_lock_broken_after_it_was_memoised_is_reported_where_it_breaks(
    fleet: Path, tmp_path: Path
) -> None:
    run_cli("compile", fleet)
    (fleet / "runway.lock").write_text(LOCK.replace("repository:", "repositry:"))
    _, diagnostics, stderr = cached(fleet)
    assert "nothing written" in stderr
    assert diagnostics == fresh(fleet, tmp_path)[1]
    found = json.loads(diagnostics)["diagnostics"]
    # the unknown key (line 6) and the pin it leaves without a repository (line 4)
    assert {(d["file"], d["line"]) for d in found} == {("runway.lock", 4), ("runway.lock", 6)}


def test_the_cache_directory_ignores_itself_even_with_no_entries(make_repo) -> None:
    """A repository without models still leaves a lock memo and a tree record behind; they
    must not be committable any more than the entries are."""
    repo = make_repo({"runway.lock": LOCK})
    assert run_cli("compile", repo).exit_code == 0
    cache = repo / ".runwayc_cache"
    assert (cache / "lock-dev.json").is_file()
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"
