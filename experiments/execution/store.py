"""The results store of a sweep (also of rollouts and sensitivity studies): a folder of Parquet
chunks plus a manifest, written so that an interrupted session (Ctrl-C, kill -9, a lost worker, a
power cut) resumes without recomputing or duplicating finished runs, and so that damage, foreign
files and results of other code are detected instead of loaded.

Layout of ``OUT/``::

    manifest.json                  plan, hashes, model identity, provenance, sessions, chunks recorded
                                   up to the last session's start or end (rewritten atomically then)
    chunks.jsonl                   chunks recorded since then: one JSON line each, appended (never rewritten)
    scenario.toml                  the base scenario (with the spec's fixed overrides), loadable by load_scenario
    design.parquet                 the design: one row per design point, one column per factor
    runs/chunk-000123.parquet      one row per run (design point x replicate) of chunk 123
    elements/chunk-000123.parquet  one row per district-element of each successful run of chunk 123

Every file is written by :func:`experiments.execution.files.write_at`: a temporary file with a
random name made with ``O_EXCL | O_NOFOLLOW``, flushed to disk and renamed over its final name,
inside folders opened without following links. A chunk's two files are written (elements first,
then runs); only then is the chunk recorded, by appending one line to ``chunks.jsonl`` and flushing
it. Each record holds the SHA-256 and size of both files, the run keys of the chunk (count, first,
last and a hash of the sorted (design point, replicate) pairs), the session that computed it, and a
hash of the record itself. ``manifest.json`` is rewritten only when a session starts and ends, then
holding every record (the journal is emptied): recording a chunk costs the same at the
100,000th chunk as at the first.

The manifest also records the model's identity (package version and a hash of the ``sim/``
sources; :func:`experiments.execution.provenance.model_identity`). Resuming under other code is
refused, naming both, unless ``allow_mixed_code`` (``--allow-mixed-code``), which records the mix.

On resume every recorded chunk is verified (record hash, run keys against the plan, sizes and
SHA-256 of its files); a damaged, truncated, foreign or misplaced chunk is dropped, its files
removed, and computed again (the session lists it under ``recomputed``). :func:`load_results`
verifies every chunk too (checksums, the plan hash and chunk number written into each file, run
keys, no run twice) and refuses a store that does not verify, naming the chunk.

A lock (``OUT/.lock``, ``fcntl.flock``; released by the OS when the process dies, even by kill -9)
keeps two sessions from writing into one folder at once. A symbolic link anywhere in the store is
refused: no write, listing or deletion can leave the folder.

A full disk (``ENOSPC``, a quota ``EDQUOT``, a file-size limit ``EFBIG``) while writing raises
:class:`DiskFullError` (an ``OSError`` with the same errno, naming the folder) after removing the
half-written temporary file and, if the chunk was not recorded, the chunk's other file: what the
manifest lists stays complete and loadable, and ``resume`` after freeing space finishes the sweep.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.vocab import Alignment, Capacity, Consistency, Continuity, Element, Substantiveness

from . import files as _files
from .files import (
    DISK_FULL_ERRNOS,
    DiskFullError,
    LinkRefused,
    _lock,
    _unlock,
    fsync_fd,
    is_disk_full,
    open_dir,
    remove_file,
    scan_links,
    write_at,
)
from .provenance import describe_model, model_identity, same_model

MANIFEST = "manifest.json"
JOURNAL = "chunks.jsonl"
FORMAT = "coherence-sim sweep"
FORMAT_VERSION = 2
RUNS, ELEMENTS = "runs", "elements"
DEFAULT_KEY_COLUMNS = ("design_point", "replicate")
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


# Element-table code columns: small ints (the IntEnum values of sim.vocab); keys in this order.
CODE_COLUMNS: dict[str, type] = {
    "capacity0": Capacity,
    "capacity_end": Capacity,
    "substantiveness": Substantiveness,
    "consistency": Consistency,
    "alignment": Alignment,
    "continuity": Continuity,
    "continuity_end": Continuity,
}
CODE_KEYS = {col: list(enum.keys()) for col, enum in CODE_COLUMNS.items()}


class StoreError(ValueError):
    """A store that cannot be used as it is: a damaged or hand-edited manifest, a chunk that does
    not verify. The message names the file or chunk and what to do."""


def elements_schema() -> pa.Schema:
    fields = [
        pa.field("design_point", pa.int64()),
        pa.field("replicate", pa.int64()),
        pa.field("district", pa.string()),
        pa.field("element", pa.string()),
        *(pa.field(col, pa.int8()) for col in CODE_COLUMNS),
        pa.field("principles", pa.bool_()),
        pa.field("first_month", pa.int16()),
        pa.field("n_changes", pa.int16()),
    ]
    meta = {"coherence_sim.codes": json.dumps({**CODE_KEYS, "element": list(Element.keys())})}
    return pa.schema(fields, metadata=meta)


def chunk_name(chunk: int) -> str:
    return f"chunk-{chunk:06d}.parquet"


def _table_bytes(table: pa.Table) -> pa.Buffer:
    """A chunk table as Parquet bytes (zstd)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def keys_digest(keys: np.ndarray) -> dict:
    """The run keys of a chunk ((n, 2) integer pairs, any order): count, first and last (sorted)
    and a hash of the sorted pairs. Equal digests = the same runs."""
    k = np.asarray(keys, dtype=np.int64).reshape(-1, 2)
    if len(k):
        k = k[np.lexsort((k[:, 1], k[:, 0]))]
    return {
        "n": int(len(k)),
        "first": [int(x) for x in k[0]] if len(k) else None,
        "last": [int(x) for x in k[-1]] if len(k) else None,
        "sha256": hashlib.sha256(np.ascontiguousarray(k).tobytes()).hexdigest()[:16],
    }


def _table_keys(table: pa.Table, columns: tuple[str, str]) -> np.ndarray:
    a = np.asarray(table.column(columns[0]).to_numpy(zero_copy_only=False), dtype=np.int64)
    b = np.asarray(table.column(columns[1]).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.column_stack([a, b]) if len(a) else np.empty((0, 2), np.int64)


def record_check(rec: dict) -> str:
    """The hash a chunk's record carries of itself (detects a damaged or hand-edited record)."""
    body = {k: v for k, v in rec.items() if k != "check"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _record_problem(key: str, rec: Any) -> str | None:
    """Why a chunk record cannot be trusted, or None."""
    if not isinstance(rec, dict):
        return "its record is not a table"
    if rec.get("check") != record_check(rec):
        return "its record was damaged or edited by hand (the record's own hash does not match)"
    if str(rec.get("chunk")) != str(key):
        return f"its record belongs to chunk {rec.get('chunk')!r}"
    f = rec.get("files")
    if not isinstance(f, dict) or not all(isinstance(f.get(s), list) and len(f[s]) == 2 for s in (RUNS, ELEMENTS)):
        return "its record lists no checksums"
    if not isinstance(rec.get("keys"), dict) or not isinstance(rec.get("runs"), int):
        return "its record lists no run keys"
    return None


def _hash_file(dir_fd: int, name: str) -> tuple[str, int] | None:
    """(sha256, size) of a regular file of a folder, never following a link; None if missing."""
    try:
        fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        h, size = hashlib.sha256(), 0
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
            size += len(b)
        return h.hexdigest(), size
    finally:
        os.close(fd)


def _read_bytes(dir_fd: int, name: str) -> bytes | None:
    try:
        fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        parts = []
        while True:
            b = os.read(fd, 1 << 22)
            if not b:
                break
            parts.append(b)
        return b"".join(parts)
    finally:
        os.close(fd)


class SweepStore:
    """One study's output folder. Use :meth:`open` (it checks, verifies and locks the folder)."""

    def __init__(self, root: Path, manifest: dict, lock_fd: int | None, root_fd: int) -> None:
        self.root = root
        self.manifest = manifest
        self._lock_fd = lock_fd
        self._root_fd = root_fd
        self._dir_fds: dict[str, int] = {}
        self._journal_fd: int | None = None
        self._journal_ok = True

    # --- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, manifest: dict, *, resume: bool, compare: dict | None = None,
             expected_keys: Callable[[int], np.ndarray] | None = None, allow_mixed_code: bool = False,
             key_columns: tuple[str, str] = DEFAULT_KEY_COLUMNS) -> "SweepStore":
        """Create ``root`` for a new study, or reopen it with ``resume=True``.

        A new study refuses a non-empty folder. Resuming refuses a folder holding a study of another
        plan (``manifest["plan_hash"]`` differs; the message names what differs, from ``compare``),
        one written by other code (unless ``allow_mixed_code``), and one with a symbolic link
        inside. Recorded chunks are verified (``expected_keys(c)``: the (n, 2) run keys the plan
        puts in chunk ``c``); those that fail are removed and will be computed again.
        """
        root = Path(root)
        if root.is_symlink() and not root.exists():
            raise ValueError(f"--out {root}: is a symbolic link to nothing")
        if root.exists() and not root.is_dir():
            raise ValueError(f"--out {root}: exists and is not a folder")
        existing = os.path.lexists(root / MANIFEST)
        non_empty = root.is_dir() and any(root.iterdir())
        if non_empty and not resume:
            what = "a sweep" if existing else "files"
            raise ValueError(
                f"--out {root}: the folder is not empty (it holds {what}); "
                "use --resume to continue the sweep there, or choose another folder"
            )
        if non_empty and not existing:
            raise ValueError(f"--resume {root}: the folder is not empty and holds no {MANIFEST}; it is not a sweep's folder")
        root.mkdir(parents=True, exist_ok=True)
        root_fd = open_dir(root)
        lock_fd = None
        store = None
        made_lock = not os.path.lexists(root / ".lock")
        try:
            lock_fd = _lock(root, root_fd)
            scan_links(root, (RUNS, ELEMENTS))
            identity = model_identity()
            session = dict((manifest.get("sessions") or [{}])[-1])
            session["model"] = identity
            if existing:
                old, problems = _read_manifest(root, root_fd)
                if old.get("plan_hash") != manifest["plan_hash"]:
                    diffs = _differences(old.get("plan", {}), (compare or manifest).get("plan", {}))
                    raise ValueError(
                        f"--resume {root}: the folder holds a different sweep (plan {old.get('plan_hash')}, "
                        f"this one {manifest['plan_hash']}"
                        + (f"; differs in: {diffs}" if diffs else "")
                        + "); resume it with the spec that started it, or choose another folder"
                    )
                if int(old.get("format_version", 1)) < FORMAT_VERSION:
                    raise ValueError(
                        f"--resume {root}: the store was written by an older coherence-sim (store format "
                        f"{old.get('format_version', 1)}), which recorded neither the model's identity nor checksums, "
                        "so its runs cannot be checked against this code; load it as it is, and run the study again "
                        "into a new folder"
                    )
                if not same_model(old.get("model"), identity):
                    if not allow_mixed_code:
                        raise ValueError(
                            f"--resume {root}: the stored runs were computed by {describe_model(old.get('model'))}, "
                            f"and this is {describe_model(identity)}; resuming would mix results of different code "
                            "in one store. Run the study into a new folder, or pass --allow-mixed-code to resume "
                            "anyway (the mix is then recorded in the manifest)"
                        )
                    old.setdefault("mixed_code", []).append(
                        {"session": len(old.get("sessions", [])), "model": identity, "stored_model": old.get("model")})
                merged = dict(old)
                merged["sessions"] = list(old.get("sessions", [])) + [session]
                merged["status"] = "running"
                merged.setdefault("key_columns", list(key_columns))
                store = cls(root, merged, lock_fd, root_fd)
                store._open_subdirs()
                store._verify(expected_keys, problems)
                store._drop_orphans()
            else:
                new = dict(manifest, completed={}, status="running", format=FORMAT, format_version=FORMAT_VERSION,
                           model=identity, key_columns=list(key_columns), sessions=[session])
                store = cls(root, new, lock_fd, root_fd)
                store._open_subdirs()
            store._clean_tmp()
            store.write_manifest()
            store._open_journal()
            return store
        except BaseException:
            if made_lock and lock_fd is not None and (store is None or not store._dir_fds):
                remove_file(".lock", root_fd)  # refused before anything was written: leave the folder as it was
            if store is not None:
                store._close_fds()
            else:
                _unlock(lock_fd)
                os.close(root_fd)
            raise

    def _open_subdirs(self) -> None:
        for sub in (RUNS, ELEMENTS):
            self._dir_fds[sub] = open_dir(self.root / sub, root=self.root, create=True)

    def _open_journal(self) -> None:
        self._journal_fd = os.open(JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC, 0o644,
                                   dir_fd=self._root_fd)

    def _close_fds(self) -> None:
        for fd in [self._journal_fd, *self._dir_fds.values()]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._journal_fd = None
        self._dir_fds = {}
        _unlock(self._lock_fd)
        self._lock_fd = None
        if self._root_fd is not None:
            try:
                os.close(self._root_fd)
            except OSError:
                pass
            self._root_fd = None

    def close(self) -> None:
        self._close_fds()

    # --- state -------------------------------------------------------------------------------
    @property
    def model(self) -> dict:
        return self.manifest.get("sessions", [{}])[-1].get("model") or model_identity()

    def completed(self) -> set[int]:
        return {int(c) for c in self.manifest.get("completed", {})}

    def completed_info(self) -> dict[int, dict]:
        return {int(c): v for c, v in self.manifest.get("completed", {}).items()}

    def set_status(self, status: str, **extra: Any) -> None:
        self.manifest["status"] = status
        if extra and self.manifest.get("sessions"):
            self.manifest["sessions"][-1].update(extra)
        self.write_manifest()

    # --- writing -----------------------------------------------------------------------------
    def write_static(self, name: str, content) -> Path:
        """Write a file of the folder (design, scenario) once, atomically (``content``: bytes, or a
        function writing into a binary file object)."""
        p = self.root / name
        if not os.path.lexists(p):
            self._write(self._root_fd, name, content, self.root)
        return p

    def write_static_again(self, name: str, content) -> Path:
        """Write (or replace) a file of the folder derived from the runs (a rollout's summary), atomically."""
        self._write(self._root_fd, name, content, self.root)
        return self.root / name

    def _write(self, dir_fd: int, name: str, content, where: Path) -> tuple[str, int]:
        try:
            return write_at(dir_fd, name, content, where=where)
        except OSError as exc:
            if is_disk_full(exc) and not isinstance(exc, DiskFullError):
                raise DiskFullError(exc.errno, exc.strerror or os.strerror(exc.errno), where / name, self.root) from exc
            raise

    def write_chunk(self, chunk: int, runs: pa.Table, elements: pa.Table, info: dict) -> None:
        """Write a chunk's two tables, then record the chunk as complete.

        If a write fails (a full disk), the temporary file is removed and so is the chunk's other
        file if already in place: a chunk not recorded leaves nothing behind. ``info["model"]``
        (the identity of the code that computed the chunk, from the worker) must be this
        session's: a worker running other code is refused."""
        info = dict(info)
        worker_model = info.pop("model", None)
        if worker_model is not None and not same_model(worker_model, self.model):
            raise ValueError(
                f"chunk {chunk} was computed by a worker ({info.get('worker', '?')}) running {describe_model(worker_model)}, "
                f"but this session runs {describe_model(self.model)}: every worker must run the same code "
                "(install the same version on the cluster's workers)")
        key = str(chunk)
        recorded = key in self.manifest.get("completed", {})
        meta = {b"coherence_sim.plan_hash": str(self.manifest.get("plan_hash")).encode(),
                b"coherence_sim.chunk": key.encode()}
        files: dict[str, list] = {}
        written: list[str] = []
        try:
            for sub, table in ((ELEMENTS, elements), (RUNS, runs)):
                table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
                sha, size = self._write(self._dir_fds[sub], chunk_name(chunk), _table_bytes(table), self.root / sub)
                files[sub] = [sha, size]
                written.append(sub)
        except BaseException:
            if not recorded:
                for sub in written:
                    try:
                        remove_file(chunk_name(chunk), self._dir_fds[sub])
                    except OSError:
                        pass
            raise
        cols = tuple(self.manifest.get("key_columns") or DEFAULT_KEY_COLUMNS)
        rec = {"chunk": chunk, **info, "files": files, "keys": keys_digest(_table_keys(runs, cols)),
               "session": len(self.manifest.get("sessions", [])) - 1}
        rec["check"] = record_check(rec)
        # the chunk's files are durable: record it. Should the journal's write fail, the chunk
        # stays recorded here (the session's final manifest write may still save it); on disk
        # either no record (the files are then removed and recomputed on resume) or the whole line.
        self.manifest.setdefault("completed", {})[key] = rec
        self._append(rec)

    def _append(self, rec: dict) -> None:
        fd = self._journal_fd
        if fd is None or not self._journal_ok:
            return
        line = (json.dumps(rec, separators=(",", ":"), allow_nan=False, default=str) + "\n").encode("utf-8", "surrogatepass")
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            _files._write_fd(fd, memoryview(line), JOURNAL)
            os.fsync(fd)
        except BaseException as exc:
            try:
                os.ftruncate(fd, end)  # no half line left behind
            except OSError:
                self._journal_ok = False  # a torn last line is ignored when read; append no more
            if isinstance(exc, OSError) and is_disk_full(exc):
                raise DiskFullError(exc.errno, exc.strerror or os.strerror(exc.errno), self.root / JOURNAL, self.root) from exc
            raise

    def write_manifest(self) -> None:
        """Rewrite ``manifest.json`` with every record, then empty the journal (a session's start
        and end; never per chunk)."""
        m = dict(self.manifest)
        m["completed"] = {str(k): m["completed"][k] for k in sorted(m.get("completed", {}), key=int)}
        # indented while small; compact for studies of many chunks
        indent = 1 if len(m["completed"]) < 1000 else None
        data = json.dumps(m, indent=indent, allow_nan=False, default=str).encode("utf-8", "surrogatepass")
        self._write(self._root_fd, MANIFEST, data, self.root)
        if self._journal_fd is not None:
            try:
                os.ftruncate(self._journal_fd, 0)
                fsync_fd(self._journal_fd)
                self._journal_ok = True
            except OSError:
                pass  # the journal's lines repeat records the manifest now holds: harmless

    # --- checking on resume ------------------------------------------------------------------
    def _verify(self, expected_keys: Callable[[int], np.ndarray] | None, problems: list[str]) -> None:
        """Drop every recorded chunk that does not verify (it will be computed again)."""
        done = self.manifest.get("completed", {})
        dropped: dict[str, str] = {}
        for key in list(done):
            rec = done[key]
            reason = _record_problem(key, rec)
            if reason is None and expected_keys is not None:
                try:
                    want = keys_digest(expected_keys(int(key)))
                except (IndexError, ValueError):
                    want = None
                if want is None:
                    reason = "it is not a chunk of this plan"
                elif rec["keys"] != want:
                    reason = "it holds other runs than the plan puts in this chunk"
            if reason is None:
                for sub in (RUNS, ELEMENTS):
                    got = _hash_file(self._dir_fds[sub], chunk_name(int(key)))
                    sha, size = rec["files"][sub]
                    if got is None:
                        reason = f"{sub}/{chunk_name(int(key))} is missing"
                    elif got[1] != size:
                        reason = f"{sub}/{chunk_name(int(key))} has {got[1]} bytes, not the {size} recorded (truncated or replaced)"
                    elif got[0] != sha:
                        reason = f"{sub}/{chunk_name(int(key))} does not match its checksum (damaged or replaced)"
                    if reason:
                        break
            if reason is not None:
                del done[key]
                dropped[key] = reason
        session = self.manifest["sessions"][-1]
        if dropped:
            session["recomputed"] = dropped
        if problems:
            session["manifest_problems"] = problems[:20]

    def _drop_orphans(self) -> None:
        """Remove chunk files no record lists (left by an interruption between a chunk's files and
        its record, or dropped by :meth:`_verify`): they are computed again under the same names,
        and this keeps ``runs/`` and ``elements/`` readable as plain datasets without duplicates."""
        listed = {chunk_name(int(c)) for c in self.manifest.get("completed", {})}
        for sub in (RUNS, ELEMENTS):
            fd = self._dir_fds[sub]
            with os.scandir(fd) as it:
                names = [e.name for e in it if e.name.startswith("chunk-") and e.name.endswith(".parquet")]
            for name in names:
                if name not in listed:
                    remove_file(name, fd)

    def _clean_tmp(self) -> None:
        """Remove temporary files left by an interruption (never following a link)."""
        for fd in (self._root_fd, *self._dir_fds.values()):
            with os.scandir(fd) as it:
                names = [e.name for e in it if e.name.endswith(".tmp") and e.is_file(follow_symlinks=False)]
            for name in names:
                remove_file(name, fd)


# --- reading -----------------------------------------------------------------------------------
def _manifest_error(p: Path, what: str) -> StoreError:
    return StoreError(
        f"{p}: {what}. The manifest was damaged or edited by hand; it cannot be trusted to say which runs "
        "are stored. Restore it from a copy, or run the study again into a new folder")


def _read_manifest(root: Path, dir_fd: int | None = None) -> tuple[dict, list[str]]:
    """The manifest with every chunk record (``manifest.json`` merged with ``chunks.jsonl``),
    and the problems found in the journal (lines that are damaged; a torn last line is not one)."""
    p = root / MANIFEST
    own = dir_fd is None
    if own:
        try:
            dir_fd = open_dir(root)
        except OSError:
            raise StoreError(f"{root}: no {MANIFEST}; not a sweep's output folder") from None
    try:
        raw = _read_bytes(dir_fd, MANIFEST)
        if raw is None:
            if os.path.lexists(p) and os.path.islink(p):
                raise LinkRefused(f"{p} is a symbolic link; a store must hold plain files")
            raise StoreError(f"{root}: no {MANIFEST}; not a sweep's output folder")
        try:
            m = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _manifest_error(p, f"not UTF-8 text (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise _manifest_error(p, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        except RecursionError:
            raise _manifest_error(p, "not valid JSON (nested too deeply)") from None
        if not isinstance(m, dict):
            raise _manifest_error(p, f"expected a JSON object, found {type(m).__name__}")
        if m.get("format") != FORMAT:
            raise StoreError(f"{p}: not a coherence-sim sweep manifest (format {_short(m.get('format'))})")
        fv = m.get("format_version", 0)
        if isinstance(fv, bool) or not isinstance(fv, int):
            raise _manifest_error(p, f"format_version is {_short(fv)}, not a whole number")
        if fv > FORMAT_VERSION:
            raise StoreError(f"{p}: written by a newer coherence-sim (format {fv}); upgrade to read it")
        for field, kind, name in (("plan_hash", str, "text"), ("completed", dict, "a table"), ("sessions", list, "a list"),
                                  ("plan", dict, "a table"), ("status", str, "text")):
            if field in m and not isinstance(m[field], kind):
                raise _manifest_error(p, f"{field} is {_short(m[field])}, not {name}")
        if "plan_hash" not in m:
            raise _manifest_error(p, "plan_hash is missing")
        m.setdefault("completed", {})
        m.setdefault("sessions", [])
        if not all(isinstance(s, dict) for s in m["sessions"]):
            raise _manifest_error(p, "sessions must be a list of tables")
        if not all(isinstance(k, str) and k.isdigit() for k in m["completed"]):
            bad = next(k for k in m["completed"] if not (isinstance(k, str) and k.isdigit()))
            raise _manifest_error(p, f"completed lists {_short(bad)}, not a chunk number")
        problems: list[str] = []
        journal = _read_bytes(dir_fd, JOURNAL) if fv >= 2 else None
        if journal:
            lines = journal.split(b"\n")
            if lines and lines[-1] != b"":
                lines = lines[:-1]  # a torn last line (the process died while appending): not recorded
            for i, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                    problems.append(f"{JOURNAL} line {i}: not valid JSON")
                    continue
                if not isinstance(rec, dict) or isinstance(rec.get("chunk"), bool) or not isinstance(rec.get("chunk"), int) \
                        or rec.get("check") != record_check(rec):
                    problems.append(f"{JOURNAL} line {i}: damaged or edited by hand")
                    continue
                m["completed"][str(rec["chunk"])] = rec
        return m, problems
    finally:
        if own:
            os.close(dir_fd)


def read_manifest(root: str | Path) -> dict:
    """The manifest of a store with every chunk recorded (``manifest.json`` and ``chunks.jsonl``).
    A damaged or hand-edited manifest raises :class:`StoreError` (one paragraph, naming the file)."""
    root = Path(root)
    m, problems = _read_manifest(root)
    if problems:
        raise _manifest_error(root / JOURNAL, problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return m


def read_chunks(root: str | Path, subs: tuple[str, ...] = (RUNS, ELEMENTS), columns: dict[str, list[str] | None] | None = None,
                manifest: dict | None = None) -> dict[str, pa.Table | None]:
    """The chunks the manifest records, verified, as one Arrow table per sub-folder (None when no
    chunk is recorded). A chunk that does not verify (its record, the size or SHA-256 of a file,
    the plan and chunk written in the file, its run keys, a run stored twice) raises
    :class:`StoreError` naming it. Stores of format 1 (no checksums) are read with a warning."""
    root = Path(root)
    m = manifest if manifest is not None else read_manifest(root)
    chunks = sorted(int(c) for c in m.get("completed", {}))
    legacy = int(m.get("format_version", 1)) < 2
    if legacy and chunks:
        warnings.warn(f"{root}: written by an older coherence-sim (store format 1) without checksums: "
                      "its chunks are read unverified", UserWarning, stacklevel=3)
    cols = tuple(m.get("key_columns") or DEFAULT_KEY_COLUMNS)
    plan_hash = str(m.get("plan_hash"))
    out: dict[str, pa.Table | None] = {}
    root_fd = open_dir(root)
    try:
        seen: list[np.ndarray] = []
        for sub in subs:
            try:
                fd = open_dir(root / sub, root=root)
            except FileNotFoundError:
                if chunks:
                    raise StoreError(f"{root / sub}: missing, but the manifest records {len(chunks)} chunk(s)") from None
                out[sub] = None
                continue
            try:
                parts = []
                for c in chunks:
                    rec = m["completed"][str(c)]
                    name = f"{sub}/{chunk_name(c)}"
                    where = f"{root}: chunk {c} ({name})"
                    if not legacy:
                        problem = _record_problem(str(c), rec)
                        if problem:
                            raise _damaged(where, problem)
                    data = _read_bytes(fd, chunk_name(c))
                    if data is None:
                        raise _damaged(where, "the file is missing")
                    if not legacy:
                        sha, size = rec["files"][sub]
                        if len(data) != size:
                            raise _damaged(where, f"the file has {len(data)} bytes, not the {size} recorded (truncated or replaced)")
                        if hashlib.sha256(data).hexdigest() != sha:
                            raise _damaged(where, "the file does not match its checksum (damaged or replaced)")
                    try:
                        t = pq.read_table(pa.BufferReader(data))
                    except (pa.ArrowException, OSError, ValueError) as exc:
                        raise _damaged(where, f"not a readable Parquet file ({str(exc)[:200]})") from None
                    if not legacy:
                        meta = t.schema.metadata or {}
                        if meta.get(b"coherence_sim.plan_hash", plan_hash.encode()).decode() != plan_hash \
                                or meta.get(b"coherence_sim.chunk", str(c).encode()).decode() != str(c):
                            raise _damaged(where, "the file belongs to another store or chunk (its plan hash or chunk number differs)")
                        if sub == RUNS:
                            keys = _table_keys(t, cols)
                            if keys_digest(keys) != rec["keys"]:
                                raise _damaged(where, "the file holds other runs than its record lists")
                            seen.append(keys)
                    parts.append(t)
                out[sub] = pa.concat_tables(parts, promote_options="default") if parts else None
            finally:
                os.close(fd)
        if seen:
            allk = np.concatenate(seen)
            if len(allk):
                uniq = np.unique(allk, axis=0)
                if len(uniq) != len(allk):
                    raise StoreError(f"{root}: some runs are stored twice (in more than one chunk); the store was "
                                     "damaged or chunk files were copied by hand; run the study again with --resume to repair it")
    finally:
        os.close(root_fd)
    if columns:
        for sub, want in columns.items():
            if want is not None and out.get(sub) is not None:
                out[sub] = out[sub].select([c for c in dict.fromkeys(want) if c in out[sub].column_names])
    return out


def _damaged(where: str, what: str) -> StoreError:
    return StoreError(f"{where}: {what}. The store does not verify, so nothing is loaded; run the same "
                      "command again with --resume to recompute the damaged chunk, or restore the folder from a copy")


def load_results(root: str | Path, *, codes: str = "int") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs and district-elements tables of a sweep as pandas DataFrames, in plan order.

    Only chunks the manifest records as complete are read, each verified (:func:`read_chunks`):
    a store with a damaged, foreign or duplicated chunk raises :class:`StoreError` naming it.
    ``codes="int"`` keeps the element codes as small ints (the ``sim.vocab`` IntEnum values:
    e.g. substantiveness 0 no_change, 1 add_on, 2 transform); ``codes="keys"`` turns them into
    categoricals of the vocabulary's keys.
    """
    if codes not in ("int", "keys"):
        raise ValueError(f"codes: {codes!r} is not allowed; allowed: int, keys")
    root = Path(root)
    tables = read_chunks(root)
    runs, elements = ((t.to_pandas() if t is not None else pd.DataFrame()).reset_index(drop=True)
                      for t in (tables[RUNS], tables[ELEMENTS]))
    if codes == "keys" and len(elements):
        for col, keys in CODE_KEYS.items():
            elements[col] = pd.Categorical.from_codes(elements[col].astype("int64"), categories=keys)
        elements["element"] = pd.Categorical(elements["element"], categories=list(Element.keys()))
    return runs, elements


def runs_saved(root: str | Path) -> tuple[int, int | None]:
    """(runs stored, runs planned or None) of the sweep in ``root``, from its manifest on disk."""
    m, _ = _read_manifest(Path(root))
    done = sum(int(v.get("runs", 0)) for v in m.get("completed", {}).values() if isinstance(v, dict))
    planned = (m.get("plan") or {}).get("n_runs")
    return done, (int(planned) if isinstance(planned, int) else None)


# --- helpers -----------------------------------------------------------------------------------
def _short(v: Any, limit: int = 60) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _differences(old: dict, new: dict) -> str:
    if not isinstance(old, dict):
        old = {}
    keys = [k for k in sorted(set(old) | set(new), key=str) if old.get(k) != new.get(k)]
    parts = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, (int, float, str, type(None))) and isinstance(b, (int, float, str, type(None))):
            parts.append(f"{k} ({_short(a)} there, {_short(b)} here)")
        else:
            parts.append(str(k))
    return ", ".join(parts)


__all__ = [
    "CODE_COLUMNS",
    "CODE_KEYS",
    "DISK_FULL_ERRNOS",
    "JOURNAL",
    "MANIFEST",
    "DiskFullError",
    "StoreError",
    "SweepStore",
    "chunk_name",
    "elements_schema",
    "is_disk_full",
    "keys_digest",
    "load_results",
    "read_chunks",
    "read_manifest",
    "runs_saved",
]
