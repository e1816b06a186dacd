"""CPU seconds of a compile's phases, in-process, for one or more checkouts of runwayc.

    python bench/phases_bench.py FLEET TREE CHECKOUT [CHECKOUT ...] [--rounds 3]

FLEET is a bench/gen_fleet.py repository, TREE its rendered tree (`runwayc compile FLEET
--env prod --out TREE`). For every round and every checkout, alternated, a fresh interpreter
with that checkout first on sys.path measures, in CPU seconds (on a shared machine wall time
mostly measures the queue for a CPU): importing what a compile imports, loading every
source (`load_yaml`), emitting every model's objects from cold (`dump_objects`, the TREE's
objects; the bytes are checked equal to TREE's), and the whole compile (`compile_env`,
one process, no cache). Medians are printed per checkout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

_PROBE = r"""
import gc, json, sys, time
from pathlib import Path
checkout, fleet, tree, phase = sys.argv[1:5]
sys.path.insert(0, checkout)
gc.disable()
start = time.process_time()
from compiler.io.workspace import Workspace, compile_env
from compiler.core.pipeline import CompileOptions
from compiler.core.load import load_yaml
from compiler.core.emit import dump_objects
took = {"import": time.process_time() - start}
if phase == "load":
    texts = [(p.read_text(), str(p)) for p in sorted(Path(fleet, "deployments").rglob("*.yaml"))]
    start = time.process_time()
    for text, name in texts:
        load_yaml(text, name)
    took["load"] = time.process_time() - start
elif phase == "emit":
    import yaml
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    paths = sorted(Path(tree).rglob("manifest.yaml"))
    models = [list(yaml.load_all(p.read_bytes(), Loader=loader)) for p in paths]
    start = time.process_time()
    out = [dump_objects(objects) for objects in models]
    took["emit"] = time.process_time() - start
    assert out == [p.read_text() for p in paths], "emitted bytes differ from the tree's"
else:
    start = time.process_time()
    compile_env(Workspace(Path(fleet)), "prod", CompileOptions(env="prod", locked=True),
                store=None, jobs=1)
    took["compile"] = time.process_time() - start
print(json.dumps(took))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fleet", type=Path)
    parser.add_argument("tree", type=Path)
    parser.add_argument("checkouts", type=Path, nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    seen: dict[str, dict[str, list[float]]] = {str(c): {} for c in args.checkouts}
    for _ in range(args.rounds):
        for phase in ("load", "emit", "compile"):
            for checkout in args.checkouts:
                argv = [sys.executable, "-c", _PROBE, str(checkout.resolve())]
                argv += [str(args.fleet), str(args.tree), phase]
                # Run from the checkout: `compiler` is imported from there, not this one.
                done = subprocess.run(
                    argv, cwd=checkout, capture_output=True, text=True, check=True
                )
                for name, value in json.loads(done.stdout).items():
                    seen[str(checkout)].setdefault(name, []).append(value)
    for checkout, phases in seen.items():
        medians = ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in phases.items())
        print(f"{checkout}: CPU medians (s): {medians}")


if __name__ == "__main__":
    main()
