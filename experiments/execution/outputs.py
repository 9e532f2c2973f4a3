"""Output folders: checked before any work, and complete or absent after it.

* :func:`check_out` validates ``--out`` before anything is computed: not empty, a UTF-8 name, not an
  existing file, a parent that is a folder, not the current folder (or one holding it) for the
  commands that replace their folder, no symbolic link inside, and not a folder of another kind (a
  sweep store given to ``case``, a case folder given to ``calibrate``, a folder of someone's files).
* :class:`StagedOutput` (the case and what-if outputs): every file is written into a fresh hidden
  folder beside ``--out`` (``.NAME.staging-XXXXXXXX``), with a ``manifest.json`` listing each file's
  SHA-256 written last; then that folder is swapped into place in one step (``renameat2`` with
  ``RENAME_EXCHANGE`` where the file system has it, else two renames) and the old one removed. A
  reader therefore sees the old complete folder or the new complete one, never a mixture; after
  kill -9 only a hidden staging folder beside ``--out`` is left (never in the system temp folder),
  and the next run removes it (its lock, held while it is written, is gone with the process).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .files import LinkRefused, Written, fsync_fd, links_inside, write_file

#: What each kind of output folder holds (names of the current and of older versions); used to
#: recognise folders written before they carried a manifest.
CASE_FILES = frozenset({"manifest.json", "summary.json", "scenario.toml", "figure1_changes.png", "figure2_consistency.png",
                        "figure3_alignment.png", "figure4_continuity.png", "tables_observed_vs_simulated.png",
                        "summary.json.tmp", "scenario.toml.tmp"})
WHATIF_FILES = frozenset({"manifest.json", "whatif.json", "whatif.png", "baseline_scenario.toml", "counterfactual_scenario.toml",
                          "whatif.json.tmp", "whatif.png.tmp", "baseline_scenario.toml.tmp", "counterfactual_scenario.toml.tmp"})
DISCOVERY_FILES = frozenset({"answer.txt", "boxes.json", "trajectory.csv", "points.csv", "feature_scores.csv",
                             "peeling_trajectory.png", "box.png"})
FORMATS = {"case": "coherence-sim case", "whatif": "coherence-sim whatif"}
KIND_WORDS = {
    "case": "a case's results", "whatif": "a what-if's results", "sweep": "a sweep's store", "rollout": "a rollout's store",
    "sensitivity": "a sensitivity study", "calibration": "a calibration", "discovery": "a scenario discovery's results", "files": "files that are not coherence-sim results",
}
_STAGING = ".staging-"


# --- what a folder holds ----------------------------------------------------------------------------
def folder_kind(folder: Path) -> tuple[str, list[str]]:
    """``(kind, entries)`` of an existing folder: "empty", "case", "whatif", "sweep", "rollout",
    "sensitivity", "calibration", "discovery" or "files" (anything else)."""
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return "files", []
    if not entries:
        return "empty", entries
    names = set(entries)
    if "manifest.json" in names:
        fmt, kind = _manifest_format(folder / "manifest.json")
        if fmt == "coherence-sim sweep":
            if kind == "rollout":
                return "rollout", entries
            return "sweep", entries
        for k, f in FORMATS.items():
            if fmt == f:
                return k, entries
    if "summary.json" in names and names <= CASE_FILES:
        return "case", entries
    if "whatif.json" in names and names <= WHATIF_FILES:
        return "whatif", entries
    if "boxes.json" in names and names <= DISCOVERY_FILES:
        return "discovery", entries
    if "study.json" in names or (folder / "runs").is_dir() and any(
            n.startswith(("morris-", "sobol-")) for n in _listdir(folder / "runs")):
        return "sensitivity", entries
    if names & {"calibration.json", "history_fit.db", "history_final.db", "history_fit.json", "history_final.json"}:
        return "calibration", entries
    if names == {"settings.json"} and "priors_sha256" in _read_small(folder / "settings.json"):
        return "calibration", entries  # a calibration stopped before its first history
    return "files", entries


def _read_small(p: Path, limit: int = 1_000_000) -> str:
    try:
        if p.is_symlink() or p.stat().st_size > limit:
            return ""
        return p.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _listdir(p: Path) -> list[str]:
    try:
        return os.listdir(p)
    except OSError:
        return []


def _manifest_format(p: Path) -> tuple[Any, Any]:
    try:
        if p.is_symlink() or p.stat().st_size > 50_000_000:
            return None, None
        m = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None, None
    return (m.get("format"), m.get("kind")) if isinstance(m, dict) else (None, None)


# --- --out, before any work ---------------------------------------------------------------------------
def show_path(p: str | os.PathLike) -> str:
    """A path as text that any terminal shows: bytes that are not UTF-8 as ``\\xff``."""
    return os.fsencode(os.fspath(p)).decode("utf-8", "backslashreplace")


def check_out(out: str | os.PathLike | None, kind: str, *, replaces: bool = False, option: str = "--out") -> Path:
    """Validate an output folder before any work; returns it as a Path. ``kind``: what the command
    writes ("case", "whatif", "calibration", "sensitivity", "sweep", "rollout", "discovery"). ``replaces``: the
    command replaces the whole folder (case, what-if). Raises ValueError (one paragraph naming
    the path) for an empty name, a name that is not UTF-8, an existing file, a parent that is not
    a folder, the current folder (when ``replaces``), a link inside, or a folder of another kind."""
    if out is None or (isinstance(out, str) and not out.strip()):
        raise ValueError(f"{option}: empty; give a folder name (an empty {option} would write into the current folder)")
    text = os.fspath(out)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise ValueError(f"{option}: empty; give a folder name (an empty {option} would write into the current folder)")
    try:
        os.fsencode(text).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{option} {show_path(text)}: the name is not UTF-8 text (byte 0x{os.fsencode(text)[exc.start]:02x} "
                         f"at position {exc.start}); results folders need UTF-8 names: choose another") from None
    if "\0" in text:
        raise ValueError(f"{option} {text!r}: a name cannot hold a NUL character")
    p = Path(text)
    shown = show_path(p)
    if p.is_symlink() and not p.exists():
        raise ValueError(f"{option} {shown}: is a symbolic link to nothing")
    if p.exists() and not p.is_dir():
        raise ValueError(f"{option} {shown}: exists and is not a folder")
    # where the command will write: beside --out (a folder replaced as a whole), into it, or into the
    # nearest folder that exists on the way to it
    parent = (p.absolute().parent if replaces else p) if p.is_dir() else _existing_parent(p)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"{option} {shown}: {show_path(parent)} is not a folder, so the folder cannot be made there")
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {shown}: cannot write into {show_path(parent)} (permission denied)")
    if not p.is_dir() or kind in ("sweep", "rollout"):
        return p  # for a store, SweepStore.open decides (an empty folder for a new study; its own store to resume)
    if replaces:
        real, cwd = p.resolve(), Path.cwd().resolve()
        if cwd == real or real in cwd.parents:
            raise ValueError(f"{option} {shown}: is the current folder (or holds it); the {kind} replaces its folder "
                             "as a whole: give a folder name, e.g. results/" + kind)
    found, entries = folder_kind(p)
    link = links_inside(p)
    if link is not None:
        raise LinkRefused(f"{show_path(link)} is a symbolic link; an output folder must hold plain files and folders "
                          f"(a link there could make the command write or delete files elsewhere): remove it or choose another {option}")
    if found in ("empty", kind):
        if replaces and found == kind:
            stray = [e for e in entries if e not in (CASE_FILES if kind == "case" else WHATIF_FILES)]
            if stray:
                raise ValueError(f"{option} {shown}: holds {show_path(stray[0])}, which the {kind} does not write; the folder "
                                 "is replaced as a whole, so move that file away or choose another folder")
        return p
    raise ValueError(f"{option} {shown}: the folder holds {KIND_WORDS.get(found, found)}, not {KIND_WORDS.get(kind, kind)}; "
                     "choose another folder (nothing was changed)")


def _existing_parent(p: Path) -> Path | None:
    q = p.absolute().parent
    while not q.exists() and q != q.parent:
        q = q.parent
    return q if q.exists() else None


# --- all or nothing -------------------------------------------------------------------------------------
class StagedOutput:
    """Write a command's output folder as a whole::

        with StagedOutput(out, "case") as stage:
            stage.write("summary.json", data)       # into the staging folder
            ...
            stage.commit(provenance=...)            # manifest.json last, then swapped into place

    Leaving the block without :meth:`commit` (an error, Ctrl-C) removes the staging folder and
    leaves ``out`` as it was."""

    def __init__(self, out: str | Path, kind: str) -> None:
        out = Path(out)
        if out.is_symlink():
            out = out.resolve()  # the user's link to a folder: replace the folder it names, keep the link
        self.out = out
        self.kind = kind
        self.path: Path | None = None
        self._fd: int | None = None
        self._written: dict[str, Written] = {}

    def __enter__(self) -> "StagedOutput":
        parent = self.out.absolute().parent
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(parent, self.out.name)
        for _ in range(100):
            p = parent / f".{self.out.name}{_STAGING}{secrets.token_hex(4)}"
            try:
                os.mkdir(p, 0o777)  # exclusive: fails on any existing name, link included
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover
            raise FileExistsError(errno.EEXIST, "cannot create a staging folder", str(parent))
        self.path = p
        self._fd = os.open(p, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
        _try_lock(self._fd)
        return self

    def write(self, name: str, content) -> Path:
        """Write one file of the output (bytes, or a function writing into a binary file object)."""
        w = write_file(self.path / name, content, root=self.path)
        self._written[name] = w
        return self.out / name

    def record(self, written: Iterable[Path]) -> list[Path]:
        """Record files a writer put into :attr:`path` itself (e.g. figures); returns their final paths."""
        import hashlib

        out = []
        for p in written:
            p = Path(p)
            data = p.read_bytes()
            self._written[p.name] = Written(p, hashlib.sha256(data).hexdigest(), len(data))
            out.append(self.out / p.name)
        return out

    def commit(self, **extra: Any) -> Path:
        """Write ``manifest.json`` (the kind, each file's SHA-256 and size, ``extra``), then swap the
        staging folder into place of ``out``."""
        manifest = {"format": FORMATS[self.kind], "format_version": 1, **extra,
                    "files": {n: {"sha256": w.sha256, "bytes": w.size} for n, w in sorted(self._written.items())}}
        write_file(self.path / "manifest.json", json.dumps(manifest, indent=1, default=str, allow_nan=False).encode("utf-8"),
                   root=self.path)
        fsync_fd(self._fd)
        _swap_into_place(self.path, self.out)
        self.path = None  # it is now the old folder's name (removed) or gone
        return self.out

    def __exit__(self, *exc: Any) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None


def verify_output(out: str | Path) -> dict:
    """The manifest of a case or what-if folder, after checking that every file it lists is there
    with its SHA-256; ValueError naming the first that is not."""
    import hashlib

    out = Path(out)
    try:
        m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        files = m["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"{show_path(out)}: no valid manifest.json; the folder is incomplete or not a case/what-if output") from None
    for name, info in files.items():
        try:
            data = (out / name).read_bytes()
        except OSError:
            raise ValueError(f"{show_path(out / name)}: missing; the folder is incomplete") from None
        if hashlib.sha256(data).hexdigest() != info.get("sha256"):
            raise ValueError(f"{show_path(out / name)}: does not match its checksum in manifest.json (damaged or changed)")
    return m


def _try_lock(fd: int) -> None:
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):  # pragma: no cover - not POSIX, or a file system without locks
        pass


def _remove_stale_staging(parent: Path, name: str) -> None:
    """Remove staging folders of ``name`` left by a process that died (their lock is free)."""
    prefix = f".{name}{_STAGING}"
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(prefix)]
    except OSError:
        return
    for e in entries:
        if e.is_symlink() or not e.is_dir(follow_symlinks=False):
            continue
        try:
            fd = os.open(e.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (ImportError, OSError):
            os.close(fd)
            continue  # in use by a live process
        try:
            shutil.rmtree(e.path, ignore_errors=True)  # never follows links (rmtree's fd-based walk)
        finally:
            os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing names atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if the
    system or file system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_into_place(staging: Path, out: Path) -> None:
    """Put the complete ``staging`` folder at ``out``; the old ``out`` (if any) is removed."""
    try:
        os.rename(staging, out)  # no folder there (or an empty one): one step
        _fsync_parent(out)
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if _exchange(staging, out):
        _fsync_parent(out)
        shutil.rmtree(staging, ignore_errors=True)  # the old folder, now under the staging name
        return
    old = staging.with_name(staging.name + ".old")
    os.rename(out, old)
    os.rename(staging, out)
    _fsync_parent(out)
    shutil.rmtree(old, ignore_errors=True)


def _fsync_parent(p: Path) -> None:
    try:
        fd = os.open(p.absolute().parent, os.O_RDONLY)
    except OSError:
        return
    try:
        fsync_fd(fd)
    finally:
        os.close(fd)


__all__ = ["CASE_FILES", "WHATIF_FILES", "StagedOutput", "check_out", "folder_kind", "show_path", "verify_output"]
