"""`runwayc init` at the edge: read the templates, learn where runwayc was installed from, and
write the new repository into an empty directory without ever replacing a file.

Every file is created with O_EXCL, so a file that appears while init writes is refused rather
than overwritten; on any failure the files and directories init made are removed again.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Mapping
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

from compiler.core.diagnostics import Location, error
from compiler.core.errors import InitRefused
from compiler.core.scaffold import InstallSource, install_source, repository_files
from compiler.io.workspace import PROJECT_FILE

TEMPLATES = ("compiler.templates", "init")
# A fresh `git init` or a clone of an empty repository: nothing init could overwrite.
MAY_HOLD = frozenset({".git"})


def _walk(node: Traversable, prefix: str = "") -> Iterator[tuple[str, str]]:
    for child in sorted(node.iterdir(), key=lambda entry: entry.name):
        name = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child, f"{name}/")
        elif not child.name.endswith((".py", ".pyc")):
            yield name, child.read_text(encoding="utf-8")


def templates() -> dict[str, str]:
    """Template path -> text, from the installed package (the wheel or the checkout)."""
    package, folder = TEMPLATES
    return dict(_walk(resources.files(package) / folder))


def own_install_source() -> InstallSource | None:
    """The Git repository and commit this runwayc was installed from, if pip recorded one."""
    try:
        record = metadata.distribution("runwayc").read_text("direct_url.json")
    except metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout on sys.path
        return None
    return install_source(record)


def refused(path: Path, reason: str) -> InitRefused:
    return InitRefused(f"{path}: {reason}", [error("INIT_REFUSED", reason, Location(str(path)))])


def _check_directory(directory: Path) -> bool:
    """Whether `directory` exists; InitRefused when init may not write there."""
    for parent in Path(os.path.abspath(directory)).parents:
        if os.path.lexists(parent / PROJECT_FILE):
            raise refused(
                directory,
                f"is inside the runwayc repository {parent}: its commands would read the new "
                "repository's files as its own; choose a directory outside it",
            )
    try:
        mode = os.lstat(directory).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise refused(directory, f"cannot be read: {exc.strerror}") from exc
    if stat.S_ISLNK(mode):
        raise refused(directory, "is a symbolic link: give the directory it points to")
    if not stat.S_ISDIR(mode):
        raise refused(directory, "exists and is not a directory")
    try:
        entries = sorted(os.listdir(directory))
    except OSError as exc:
        raise refused(directory, f"cannot be listed: {exc.strerror}") from exc
    others = [name for name in entries if name not in MAY_HOLD]
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise refused(
            directory,
            f"is not empty (it holds {shown}): runwayc init writes only into an empty directory "
            "(or one holding only .git), so that nothing of yours is overwritten",
        )
    return True


def write_repository(directory: Path, files: Mapping[str, str]) -> None:
    """Create every file of `files` under `directory`, or nothing: InitRefused (exit 2)."""
    existed = _check_directory(directory)
    made: list[Path] = []  # files and directories init created, in order
    try:
        if not existed:
            directory.mkdir(parents=True)
            made.append(directory)
        for relative, text in files.items():
            path = directory / relative
            for parent in reversed(path.relative_to(directory).parents[:-1]):
                folder = directory / parent
                if not folder.is_dir():
                    folder.mkdir()
                    made.append(folder)
            # "x" is O_CREAT | O_EXCL: an existing file, or a link, is never replaced.
            with open(path, "x", encoding="utf-8", newline="\n") as handle:
                made.append(path)
                handle.write(text)
    except OSError as exc:
        for path in reversed(made):
            # Something put there meanwhile is not init's to remove: leave it.
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        where = Path(exc.filename) if exc.filename else directory
        if isinstance(exc, FileExistsError):
            raise refused(
                where, "appeared while runwayc init was writing; it was left alone"
            ) from exc
        raise refused(where, f"cannot be written: {exc.strerror}") from exc


def init_repository(directory: Path, version: str) -> InstallSource | None:
    """Write a new models repository into `directory`; where runwayc came from, if known."""
    source = own_install_source()
    write_repository(directory, repository_files(templates(), source=source, version=version))
    return source
