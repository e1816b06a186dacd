"""Data, not code: the files `runwayc init` writes (`init/`), read with importlib.resources so
they travel in the wheel. A path component `dot_x` is written as `.x` (chezmoi's spelling),
and `@NAME@` is filled in by `compiler.core.scaffold`."""
