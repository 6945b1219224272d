"""Atomic file replacement for files that other processes poll, like model.onnx.

Contract: `write_atomically(path, data)` creates the parent directories if needed and
leaves `path` holding either its previous content or all of `data`, never a partial
write, even across a crash: the data goes to a temporary file in the same directory
(same file system, so the rename is atomic), is fsynced, then renamed over `path`,
and the directory entry is fsynced where the platform allows. The file gets the
usual permissions (0666 minus the umask), not a temporary file's 0600, so a server
running as another user can read it. On failure the temporary file is removed.

`publish_directory(directory, name, data)` does the same one level up, for a model
server's version directories: when `directory` does not exist yet, it is built
under a hidden staging name and renamed into place, so a server polling the
parent sees either no version directory or a complete one — never an empty
directory whose model file is still being written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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


def publish_directory(directory: str | os.PathLike, filename: str, data: bytes) -> Path:
    """Makes `directory/filename` hold `data`, creating `directory` atomically when it
    is new (an existing directory gets an atomic file replacement). Returns the file's path."""
    directory = Path(directory)
    if directory.exists():
        return write_atomically(directory / filename, data)
    directory.parent.mkdir(parents=True, exist_ok=True)
    # A hidden name in the same parent (same file system: the rename is atomic),
    # which version scanners ignore.
    staging = directory.parent / f".{directory.name}.{uuid.uuid4().hex}.staging"
    staging.mkdir(mode=0o777)
    try:
        write_atomically(staging / filename, data)
        os.rename(staging, directory)
    except FileExistsError:
        # Someone else created `directory` meanwhile: replace the file inside it instead.
        shutil.rmtree(staging, ignore_errors=True)
        return write_atomically(directory / filename, data)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if directory.is_dir():  # ENOTEMPTY/EEXIST from a concurrent creator
            return write_atomically(directory / filename, data)
        raise error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_directory(directory.parent)
    return directory / filename
