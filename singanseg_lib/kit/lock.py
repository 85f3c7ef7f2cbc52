"""One writer per output folder: a lock file that a second run finds and refuses.

Two runs writing one folder at once (two ``singanseg train --out X``, a notebook series started
twice on one run directory) would interleave their files, and each would resume the other's
half-written work. :func:`folder_lock` holds ``<folder>/.singanseg.lock`` while a writer runs:
an exclusive ``flock`` on it (released by the kernel however the process ends, SIGKILL included,
so a killed run never leaves a stale lock) and, inside, the holder's pid, host, start time and
what it is doing, so the refusal can name who holds it. The file is removed on release.

On a filesystem without file locks (some cluster mounts) the writer goes on with a warning.
``flock`` is per open file, so the same process taking the lock twice is refused too: a writer
must not nest inside another on the same folder.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Iterator

__all__ = ["LOCK_FILE", "FolderLockedError", "folder_lock"]

LOCK_FILE = ".singanseg.lock"
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class FolderLockedError(RuntimeError):
    """Another run is writing the folder; the message names the lock file and its holder."""


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return (f"pid {info['pid']} on {info['host']} since {info['since']} ({info['what']})")
    except (ValueError, KeyError, TypeError, OSError):  # the holder is still writing its details
        return "another process"


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "") -> Iterator[Path]:
    """Hold the lock of ``folder`` (created if missing) for the ``with`` block; yields the lock file.

    ``what`` says what the holder does, for the refusal (default: its command line). Raises
    :class:`FolderLockedError` at once, without waiting, when another run holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise FolderLockedError(f"{folder} is being written by {holder}: lock {path}. Wait for that run to "
                                    "finish (it resumes where it stops), or write elsewhere") from None
        except OSError as e:
            if e.errno not in _UNSUPPORTED:
                os.close(fd)
                raise
            # some cluster filesystems (Lustre without -o flock, old NFS) have no locks: go on unguarded
            # rather than refuse all work there, and say so
            warnings.warn(f"{path}: this filesystem has no file locks ({os.strerror(e.errno)}); a second run "
                          f"writing {folder} at the same time would not be noticed", RuntimeWarning, stacklevel=3)
            break
        # the holder before us may have removed the file after we opened it: then lock the new one
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                "what": what or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while still locked, so no one can have locked this file meanwhile
        os.close(fd)
