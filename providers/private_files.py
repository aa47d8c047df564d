"""What tuneplan keeps on disk is its user's alone: training data in bundles, trained adapters, logs that
may echo a prompt, and the ledger (who spent what). The data folder is 0700 and the files in it 0600,
whatever the process umask says, so another account on a shared machine reads none of it.

A file hard-linked into a bundle from the user's own data keeps the user's mode (it is the same file);
the 0700 folders around it are what keep it private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (created with its parents when missing)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(DIR_MODE)
    return path


def write_private_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (0600 from the first byte; an existing link is not followed)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, FILE_MODE)  # an existing file keeps its old mode through O_CREAT
    return path


def write_private_text(path: Path, text: str) -> Path:
    return write_private_bytes(path, text.encode("utf-8"))


def restrict_tree(root: Path) -> None:
    """Folders 0700 and plain files 0600 under ``root`` (and ``root`` itself); links are left alone."""
    root = Path(root)
    if root.is_symlink() or not root.exists():
        return
    os.chmod(root, DIR_MODE if root.is_dir() else FILE_MODE)
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs:
            if not os.path.islink(os.path.join(folder, name)):
                os.chmod(os.path.join(folder, name), DIR_MODE)
        for name in files:
            path = os.path.join(folder, name)
            if stat.S_ISREG(os.lstat(path).st_mode) and os.stat(path).st_nlink == 1:
                os.chmod(path, FILE_MODE)
