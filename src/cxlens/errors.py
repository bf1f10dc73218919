"""Errors shared by the stores and their entry points (CLI, web app), kept free of heavy imports."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class ReadOnlyStoreError(RuntimeError):
    """A write was asked of a store opened read-only (or whose directory is not writable)."""


#: ``OSError`` numbers meaning "this place cannot be written" (read-only mount, permissions).
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def not_writable(exc: BaseException) -> str | None:
    """A sentence for an error that says a file could not be written, else None."""
    if isinstance(exc, ReadOnlyStoreError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in NOT_WRITABLE:
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot write{where}: {exc.strerror or exc}"
    text = str(getattr(exc, "orig", exc)).lower()
    if "readonly database" in text or "read-only file system" in text:
        return f"the store cannot be written here: {getattr(exc, 'orig', exc)}"
    return None


def writable(path: Path) -> bool:
    """Whether files can be created in ``path`` (or, if it does not exist yet, where it would be
    made); False on a read-only file system also for root, who ignores permissions otherwise."""
    for folder in (path, *path.parents):
        if folder.exists():
            return os.access(folder, os.W_OK)
    return False


def sqlite_read_only_url(path: Path) -> str:
    """An SQLAlchemy URL opening the SQLite file read-only; ``immutable`` where SQLite could not
    create its shared-memory file (a read-only directory no process writes through: nothing
    changes underneath)."""
    frozen = not writable(path.parent) and not Path(f"{path}-shm").exists()
    return f"sqlite:///file:{path}?mode=ro{'&immutable=1' if frozen else ''}&uri=true"
