"""Durable, link-safe files: the one way any command writes a file.

* :func:`write_file`: a new file appears whole or not at all. The bytes go to a temporary file
  created in the target's own folder with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random name
  (never a fixed ``NAME.tmp`` that a planted symbolic link could redirect), are flushed to disk
  (``fsync``) and renamed over the final name (``os.replace``, which replaces a link planted there
  instead of writing through it); the folder is then flushed too. Returns the file's SHA-256 and size.
* :func:`open_dir`: a folder inside an output folder, opened component by component with
  ``O_NOFOLLOW``: a symbolic link anywhere below the output folder is refused
  (:class:`LinkRefused`), so no write, listing or deletion can be redirected out of it. The output
  folder itself (``--out``, named by the user) may be reached through links.
* :func:`remove_file`, :func:`scan_links`: deleting never follows a link (``unlinkat`` on a
  folder opened without following any), and a store with a link inside is refused.
* one writer per folder (``fcntl.flock`` on ``OUT/.lock``, opened with ``O_NOFOLLOW``, released by
  the OS even on kill -9, never inherited by forked workers);
* a full disk (``ENOSPC``, ``EDQUOT``, ``EFBIG``) turned into :class:`DiskFullError` and a
  one-paragraph message of what is saved.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Union

# a write failed for want of room: no space, over quota, over the file-size limit
DISK_FULL_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if e is not None)

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

Content = Union[bytes, bytearray, memoryview, Callable[[io.BytesIO], object]]


class DiskFullError(OSError):
    """No room left while writing a sweep's folder. What the manifest lists is intact; free space
    and resume. ``folder`` is the sweep's folder, ``filename`` the file being written."""

    def __init__(self, err: int, strerror: str, filename: str | os.PathLike, folder: Path) -> None:
        super().__init__(err, strerror, str(filename))
        self.folder = Path(folder)


class LinkRefused(ValueError):
    """A symbolic link where an output folder must hold plain files and folders."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` for want of room (ENOSPC, EDQUOT, EFBIG)."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


@dataclass(frozen=True)
class Written:
    """A file :func:`write_file` put in place: its path, SHA-256 (hex) and size in bytes."""

    path: Path
    sha256: str
    size: int


def _link_message(path: Path | str) -> str:
    return (f"{path} is a symbolic link; an output folder must hold plain files and folders (a link there "
            "could make the command write or delete files elsewhere): remove the link or choose another --out")


# --- folders ------------------------------------------------------------------------------------
def open_dir(path: str | Path, *, root: str | Path | None = None, create: bool = False) -> int:
    """A file descriptor of folder ``path`` (close it with ``os.close``).

    With ``root`` (the output folder; ``path`` must be inside it), every component of ``path``
    below ``root`` is opened with ``O_NOFOLLOW`` and must be a real folder: a symbolic link raises
    :class:`LinkRefused`. ``create`` makes missing components (``mkdirat``). ``root`` itself, and
    ``path`` when ``root`` is None, are opened as named."""
    path = Path(path)
    if root is None:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    root = Path(root)
    rel = path.relative_to(root) if path != root else Path()
    if create:
        root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    here = root
    try:
        for part in rel.parts:
            here = here / part
            if create:
                try:
                    os.mkdir(part, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                nfd = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) and _is_link(part, fd):
                    raise LinkRefused(_link_message(here)) from None
                raise
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def scan_links(root: str | Path, subfolders: tuple[str, ...] = ()) -> None:
    """Refuse (:class:`LinkRefused`) a symbolic link among the entries of ``root`` and of its
    ``subfolders`` (which must be real folders when present)."""
    root = Path(root)
    fd = os.open(root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        with os.scandir(fd) as it:
            for e in it:
                if e.is_symlink():
                    raise LinkRefused(_link_message(root / e.name))
        for sub in subfolders:
            try:
                sfd = os.open(sub, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if _is_link(sub, fd):
                    raise LinkRefused(_link_message(root / sub)) from None
                if exc.errno == errno.ENOTDIR:
                    raise ValueError(f"{root / sub} is not a folder") from None
                raise
            try:
                with os.scandir(sfd) as it:
                    for e in it:
                        if e.is_symlink():
                            raise LinkRefused(_link_message(root / sub / e.name))
            finally:
                os.close(sfd)
    finally:
        os.close(fd)


def links_inside(root: str | Path, limit: int = 100_000) -> Path | None:
    """The first symbolic link found anywhere under ``root`` (not following any), or None."""
    root = Path(root)
    stack = [root]
    seen = 0
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                seen += 1
                if e.is_symlink():
                    return d / e.name
                if e.is_dir(follow_symlinks=False):
                    stack.append(d / e.name)
                if seen > limit:
                    return None
    return None


# --- writing ------------------------------------------------------------------------------------
def _write_fd(fd: int, data: memoryview, name: str) -> None:
    """The low-level write of a file's bytes (a test replaces it to inject a full disk)."""
    view = memoryview(data).cast("B")
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _render(content: Content) -> memoryview:
    if callable(content):
        buf = io.BytesIO()
        content(buf)
        return memoryview(buf.getvalue())  # a copy: no export of the BytesIO's buffer outlives it
    if isinstance(content, str):
        raise TypeError("write_file: give bytes (encode text first)")
    return memoryview(content)


def write_at(dir_fd: int, name: str, content: Content, *, where: Path | str | None = None, sync_dir: bool = True) -> tuple[str, int]:
    """Write ``content`` as file ``name`` of the folder open as ``dir_fd``, atomically and durably
    (see :func:`write_file`); returns ``(sha256 hex, size)``. ``where`` names the folder in errors."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"{name!r} is not a file name")
    data = _render(content)
    digest = hashlib.sha256(data).hexdigest()
    # ``tmp`` names the candidate before it is created, so that an interrupt (Ctrl-C) arriving just
    # after ``os.open`` returns -- before the descriptor is even stored -- still removes the file.
    tmp = ""
    try:
        for _ in range(100):
            tmp = f".{name[:80]}.{secrets.token_hex(6)}.tmp"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o666, dir_fd=dir_fd)
                break
            except FileExistsError:  # someone else's file: never ours to remove
                tmp = ""
        else:  # pragma: no cover - 100 random collisions
            raise FileExistsError(errno.EEXIST, "cannot create a temporary file", str(where or "") + "/" + name)
        try:
            _write_fd(fd, data, name)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException as exc:
        if tmp:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(Path(where) / name) if where is not None else name
        raise
    if sync_dir:
        fsync_fd(dir_fd)
    return digest, len(data)


def write_file(path: str | Path, content: Content, *, root: str | Path | None = None, create: bool = True) -> Written:
    """Write ``content`` (bytes, or a function writing into a binary file object) to ``path``:
    a temporary file made with ``O_EXCL | O_NOFOLLOW`` beside it, ``fsync``, ``os.replace``,
    ``fsync`` of the folder. A symbolic link planted at ``path`` is replaced, never written
    through; with ``root``, a link in any folder between ``root`` and ``path`` is refused
    (:class:`LinkRefused`). On any failure no temporary file is left and ``path`` is untouched."""
    path = Path(path)
    fd = open_dir(path.parent, root=root, create=create)
    try:
        digest, size = write_at(fd, path.name, content, where=path.parent)
    finally:
        os.close(fd)
    return Written(path, digest, size)


def write_text(path: str | Path, text: str, *, root: str | Path | None = None) -> Written:
    """:func:`write_file` of UTF-8 text."""
    return write_file(path, text.encode("utf-8"), root=root)


def remove_file(name: str, dir_fd: int) -> bool:
    """Remove file ``name`` of the folder open as ``dir_fd`` (a link is removed, never followed;
    a folder is left alone). True if something was removed."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        return False
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def fsync_fd(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:
        pass


def _fsync_dir(p: Path) -> None:
    try:
        fd = os.open(p, os.O_RDONLY | _O_DIRECTORY)
    except OSError:
        return
    try:
        fsync_fd(fd)
    finally:
        os.close(fd)


# --- one writer per folder ------------------------------------------------------------------------
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


def _lock(root: Path, dir_fd: int | None = None, what: str = "sweep") -> int | None:
    """Take ``root/.lock`` (opened without following a link, relative to ``dir_fd`` if given)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        if dir_fd is not None:
            fd = os.open(".lock", os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC, 0o644, dir_fd=dir_fd)
        else:
            fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise LinkRefused(_link_message(root / ".lock")) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"{root / '.lock'} is not a plain file; remove it or choose another --out")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ValueError(f"--out {root}: another {what} is writing into this folder; wait for it or choose another folder") from None
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


__all__ = [
    "DISK_FULL_ERRNOS",
    "DiskFullError",
    "LinkRefused",
    "Written",
    "fsync_fd",
    "is_disk_full",
    "links_inside",
    "open_dir",
    "remove_file",
    "scan_links",
    "write_at",
    "write_file",
    "write_text",
]
