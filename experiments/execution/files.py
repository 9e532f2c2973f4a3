"""Durable files for the results store: atomic writes (temporary file, fsync, rename), fsync of
folders, one writer per folder (``fcntl.flock`` on ``OUT/.lock``, released by the OS even on kill -9,
never inherited by forked workers), and a full disk (``ENOSPC``, ``EDQUOT``, ``EFBIG``) turned into
:class:`DiskFullError` and a one-paragraph message of what is saved."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


# a write failed for want of room: no space, over quota, over the file-size limit
DISK_FULL_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if e is not None)


class DiskFullError(OSError):
    """No room left while writing a sweep's folder. What the manifest lists is intact; free space
    and resume. ``folder`` is the sweep's folder, ``filename`` the file being written."""

    def __init__(self, err: int, strerror: str, filename: str | os.PathLike, folder: Path) -> None:
        super().__init__(err, strerror, str(filename))
        self.folder = Path(folder)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` for want of room (ENOSPC, EDQUOT, EFBIG)."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def _write_table_file(table: pa.Table, path: Path) -> None:
    """The low-level write of a chunk's Parquet file (a test replaces it to inject a full disk)."""
    pq.write_table(table, path, compression="zstd")


def _write_json_file(obj: dict, path: Path, indent: int | None) -> None:
    """The low-level write of the manifest (a test replaces it to inject a full disk)."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=indent, allow_nan=False, default=str)  # flushed to disk by the caller


def _unlink_quietly(p: Path) -> None:
    try:
        p.unlink(missing_ok=True)
    except OSError:
        pass


def _fsync_file(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(p: Path) -> None:
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_HELD_LOCKS: set[int] = set()


def _close_inherited_locks() -> None:
    """In a forked worker: close (never unlock) the parent's lock descriptors, so that the lock
    goes with the parent alone."""
    for fd in list(_HELD_LOCKS):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def _lock(root: Path) -> int | None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ValueError(f"--out {root}: another sweep is writing into this folder; wait for it or choose another folder") from None
    _HELD_LOCKS.add(fd)
    return fd


def _unlock(fd: int | None) -> None:
    if fd is None:
        return
    _HELD_LOCKS.discard(fd)
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
