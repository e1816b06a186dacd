"""Start-up pays only for what the command runs (issue 27): `runwayc version` imports neither
pydantic nor the pipeline, and `check` of a small repository never imports the agent, the
registry client or the cluster objects; input models build their validators on first use.

Each command runs in a fresh interpreter (this test process has imported everything), and
prints the modules it ended up with."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
import compiler.cli
from compiler.core import model
sys.argv = ["runwayc", *sys.argv[1:]]
try:
    compiler.cli.main()
except SystemExit:
    pass
models = [c for c in vars(model).values() if isinstance(c, type) and issubclass(c, model.BaseModel)]
built = {c.__name__: c.__pydantic_complete__ for c in models if c.__module__ == model.__name__}
print(json.dumps({"modules": sorted(sys.modules), "built": built}))
"""

# Never needed to compile or check: the agent's process and status logic, the cluster
# objects of `bootstrap --cluster`, the registry client of `lock`, and their libraries.
NEVER_FOR_CHECK = (
    "compiler.io.agent",
    "compiler.core.agent.status",
    "compiler.core.agent.readers",
    "compiler.core.agent.saturation",
    "compiler.core.cluster",
    "compiler.io.registry",
    "compiler.io.recipe_client",
    "httpx",
    "kubernetes",
    "prometheus_client",
)


def _run(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def _imported(modules: object, prefixes: tuple[str, ...]) -> list[str]:
    assert isinstance(modules, list)
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_version_imports_no_model_no_yaml_no_pipeline() -> None:
    # The probe imports compiler.core.model itself, to read which models were built: so
    # pydantic is there, but not one validator was built and nothing else was imported.
    result = _run("version")
    heavy = ("compiler.core.pipeline", "compiler.io", "yaml", "compiler.core.lockfile")
    assert _imported(result["modules"], heavy + NEVER_FOR_CHECK) == []
    built = result["built"]
    assert isinstance(built, dict)
    assert not any(built.values()), [name for name, done in built.items() if done]


def test_check_of_a_small_repository_skips_agent_registry_and_cluster(tmp_path: Path) -> None:
    repo = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", repo)
    result = _run("check", str(repo), "--no-cache")
    assert "compiler.core.pipeline" in result["modules"]  # type: ignore[operator]
    assert _imported(result["modules"], NEVER_FOR_CHECK) == []
    built = result["built"]
    assert isinstance(built, dict)
    # Validators are built on first use: the specs' and the project's, never the status
    # models (those are the agent's).
    assert built["ModelDeployment"]
    assert built["ProjectConfig"]
    assert not built["ModelDeploymentStatus"]
    assert not built["StatusCondition"]
