"""Atomic file replacement for files that other processes poll, like model.onnx.

Contract: `write_atomically(path, data)` creates the parent directories if needed and
leaves `path` holding either its previous content or all of `data`, never a partial
write, even across a crash: the data goes to a temporary file in the same directory
(same file system, so the rename is atomic), is fsynced, then renamed over `path`,
and the directory entry is fsynced where the platform allows. The file gets the
usual permissions (0666 minus the umask), not a temporary file's 0600, so a server
running as another user can read it. On failure the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def write_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Writes `data` to `path` atomically and returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A dot name that pollers looking for `path.name` ignore; uuid avoids clashes
    # between concurrent writers.
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)
    return path


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable. Windows cannot open directories this way.
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
