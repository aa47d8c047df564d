"""The one check for every file name that comes from outside: a manifest entry, a Volume listing, a pod's
checksum listing, a tar member, a file found in a fetched folder.

A remote machine (or whoever controls it) chooses those names. Taken as they are, ``../bundle/job.json``,
``/etc/os-release`` or a symlink to ``~/.ssh`` would be written, hashed or recorded outside the run's folder.
So a name is accepted only when it is a plain relative POSIX path: no ``..``, not absolute, no NUL, no
backslash, no control characters, sane lengths; and the file it names must resolve inside its folder with
no symlink anywhere on the way. Everything here only reads the local file system; it never follows a link.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from planner.errors import BadInput

MAX_PATH_CHARS = 1024
MAX_PART_CHARS = 255


class UnsafePath(BadInput):
    """A name from outside that would escape its folder, or a file that is not a plain file."""

    title = "unsafe path"


def checked_relpath(name: object) -> str:
    """``name`` as a clean relative POSIX path (``./a//b`` → ``a/b``); ``UnsafePath`` when it is not one."""
    if not isinstance(name, str) or not name:
        raise UnsafePath(f"{_shown(name)}: not a file name")
    if len(name) > MAX_PATH_CHARS:
        raise UnsafePath(f"{_shown(name)}: longer than {MAX_PATH_CHARS} characters")
    if "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UnsafePath(f"{_shown(name)}: a backslash, NUL or control character in a file name")
    if name.startswith("/"):
        raise UnsafePath(f"{_shown(name)}: an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"{_shown(name)}: '..' leaves the folder")
    if not parts:
        raise UnsafePath(f"{_shown(name)}: names no file")
    if any(len(part) > MAX_PART_CHARS for part in parts):
        raise UnsafePath(f"{_shown(name)}: a name longer than {MAX_PART_CHARS} characters")
    return "/".join(parts)


def inside(root: Path, name: object) -> Path:
    """``root / name`` once ``name`` is checked and nothing on the way is a symlink; it stays inside ``root``."""
    rel = checked_relpath(name)
    current = Path(root)
    for part in rel.split("/"):
        current = current / part
        if current.is_symlink():
            raise UnsafePath(f"{rel}: {current.relative_to(root).as_posix()} is a symlink; not followed")
    if not _within(current, Path(root)):
        raise UnsafePath(f"{rel}: resolves outside {root}")
    return current


def regular_files(root: Path, on_other: Callable[[str, str], None] | None = None) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of every plain file under ``root``, never following a link.

    A symlink, a device, a FIFO or a socket is not a plain file: a fetched folder holds files and folders
    only. Each one is passed to ``on_other(name, kind)`` and skipped, or, without ``on_other``, raises
    ``UnsafePath``.
    """
    root = Path(root)
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        links = [name for name in dirs if (Path(folder) / name).is_symlink()]
        for name in sorted(files) + links:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):
                yield checked_relpath(rel), path
                continue
            kind = "a symlink" if stat.S_ISLNK(mode) else "not a plain file"
            if on_other is None:
                raise UnsafePath(f"{rel}: {kind}; not followed")
            on_other(rel, kind)


def _within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _shown(name: object) -> str:
    """A refused name as it may be printed: its repr, cut short (it may hold anything)."""
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "…"
