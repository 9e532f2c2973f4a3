"""The results store of a sweep: a folder of Parquet chunks plus a manifest, written so that an
interrupted sweep (Ctrl-C, kill -9, a lost worker, a power cut) resumes without recomputing or
duplicating finished runs.

Layout of ``OUT/``::

    manifest.json                  plan, hashes, provenance, sessions, completed chunks (rewritten atomically)
    scenario.toml                  the base scenario (with the spec's fixed overrides), loadable by load_scenario
    design.parquet                 the design: one row per design point, one column per factor
    runs/chunk-000123.parquet      one row per run (design point x replicate) of chunk 123
    elements/chunk-000123.parquet  one row per district-element of each successful run of chunk 123

A chunk's two files are written to hidden temporary names, flushed to disk and renamed (elements
first, then runs); only then is the chunk added to the manifest, which is itself written to a
temporary file and renamed. So the manifest never lists a chunk whose files are incomplete, and a
chunk computed again after an interruption replaces its files under the same names: no run can be
stored twice. :func:`load_results` reads exactly the chunks the manifest lists. The folders are also
plain Parquet datasets (``pandas.read_parquet(OUT / "runs")``; hidden temporary files are ignored).

A lock (``OUT/.lock``, ``fcntl.flock``; released by the OS when the process dies, even by kill -9)
keeps two sweeps from writing into one folder at once.

A full disk (``ENOSPC``, a quota ``EDQUOT``, a file-size limit ``EFBIG``) while writing raises
:class:`DiskFullError` (an ``OSError`` with the same errno, naming the folder) after removing the
half-written temporary file and, if the chunk was not recorded, the chunk's other file: what the
manifest lists stays complete and loadable, and ``resume`` after freeing space finishes the sweep.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.vocab import Alignment, Capacity, Consistency, Continuity, Element, Substantiveness

from .files import (
    DISK_FULL_ERRNOS,
    DiskFullError,
    _fsync_dir,
    _fsync_file,
    _lock,
    _unlink_quietly,
    _unlock,
    _write_json_file,
    _write_table_file,
    is_disk_full,
)

MANIFEST = "manifest.json"
FORMAT = "coherence-sim sweep"
FORMAT_VERSION = 1
RUNS, ELEMENTS = "runs", "elements"


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


class SweepStore:
    """One sweep's output folder. Use :meth:`open` (it checks and locks the folder)."""

    def __init__(self, root: Path, manifest: dict, lock_fd: int | None) -> None:
        self.root = root
        self.manifest = manifest
        self._lock_fd = lock_fd

    # --- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, manifest: dict, *, resume: bool, compare: dict | None = None) -> "SweepStore":
        """Create ``root`` for a new sweep, or reopen it with ``resume=True``.

        A new sweep refuses a non-empty folder. Resuming refuses a folder holding a sweep of another
        plan (``manifest["plan_hash"]`` differs; the message names what differs, from ``compare``).
        """
        root = Path(root)
        existing = root / MANIFEST
        if root.exists() and not root.is_dir():
            raise ValueError(f"--out {root}: exists and is not a folder")
        non_empty = root.is_dir() and any(root.iterdir())
        if non_empty and not resume:
            what = "a sweep" if existing.exists() else "files"
            raise ValueError(
                f"--out {root}: the folder is not empty (it holds {what}); "
                "use --resume to continue the sweep there, or choose another folder"
            )
        if non_empty and not existing.exists():
            raise ValueError(f"--resume {root}: the folder is not empty and holds no {MANIFEST}; it is not a sweep's folder")
        root.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(root)
        try:
            if existing.exists():
                old = read_manifest(root)
                if old.get("plan_hash") != manifest["plan_hash"]:
                    diffs = _differences(old.get("plan", {}), (compare or manifest).get("plan", {}))
                    raise ValueError(
                        f"--resume {root}: the folder holds a different sweep (plan {old.get('plan_hash')}, "
                        f"this one {manifest['plan_hash']}"
                        + (f"; differs in: {diffs}" if diffs else "")
                        + "); resume it with the spec that started it, or choose another folder"
                    )
                merged = dict(old)
                merged["sessions"] = list(old.get("sessions", [])) + list(manifest.get("sessions", []))
                merged["status"] = "running"
                store = cls(root, merged, lock_fd)
                store._drop_missing()
                store._drop_orphans()
            else:
                store = cls(root, dict(manifest, completed={}, status="running"), lock_fd)
            store._clean_tmp()
            (root / RUNS).mkdir(exist_ok=True)
            (root / ELEMENTS).mkdir(exist_ok=True)
            store.write_manifest()
            return store
        except BaseException:
            _unlock(lock_fd)
            raise

    def close(self) -> None:
        _unlock(self._lock_fd)
        self._lock_fd = None

    # --- state -------------------------------------------------------------------------------
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
    def write_static(self, name: str, write) -> Path:
        """Write a file of the folder (design, scenario) once, atomically, via ``write(tmp_path)``."""
        p = self.root / name
        if not p.exists():
            self._atomic(p, write)
        return p

    def write_chunk(self, chunk: int, runs: pa.Table, elements: pa.Table, info: dict) -> None:
        """Write a chunk's two tables, then record the chunk as complete.

        If a write fails (a full disk), the temporary file is removed and so is the chunk's other
        file if already in place: a chunk not in the manifest leaves nothing behind."""
        recorded = str(chunk) in self.manifest.get("completed", {})
        written: list[Path] = []
        try:
            for sub, table in ((ELEMENTS, elements), (RUNS, runs)):
                final = self.root / sub / chunk_name(chunk)
                self._atomic(final, lambda tmp, table=table: _write_table_file(table, tmp))
                written.append(final)
            _fsync_dir(self.root / ELEMENTS)
            _fsync_dir(self.root / RUNS)
        except BaseException:
            if not recorded:
                for f in written:
                    _unlink_quietly(f)
            raise
        # the chunk's files are durable: record it. Should the manifest's own write fail, the chunk
        # stays recorded here (a later manifest write, e.g. the final status, may still save it);
        # on disk either the old manifest (chunk not listed, recomputed on resume) or the new one.
        self.manifest.setdefault("completed", {})[str(chunk)] = info
        self.write_manifest()

    def write_manifest(self) -> None:
        m = dict(self.manifest)
        m["completed"] = {str(k): m["completed"][k] for k in sorted(m.get("completed", {}), key=int)}
        # indented while small; compact for sweeps of many chunks (it is rewritten after each one)
        indent = 1 if len(m["completed"]) < 1000 else None
        self._atomic(self.root / MANIFEST, lambda tmp: _write_json_file(m, tmp, indent))
        _fsync_dir(self.root)

    def _atomic(self, final: Path, write) -> None:
        """``write(tmp)`` to a hidden temporary name beside ``final``, flush it to disk, rename it.
        On any failure the temporary file is removed; a full disk raises :class:`DiskFullError`."""
        tmp = final.with_name(f".{final.name}.tmp")
        try:
            write(tmp)
            _fsync_file(tmp)
            os.replace(tmp, final)
        except BaseException as exc:
            _unlink_quietly(tmp)
            if is_disk_full(exc) and not isinstance(exc, DiskFullError):
                raise DiskFullError(exc.errno, exc.strerror or os.strerror(exc.errno), final, self.root) from exc
            raise

    def _drop_missing(self) -> None:
        """Forget completed chunks whose files are gone (they will be computed again)."""
        done = self.manifest.get("completed", {})
        for c in list(done):
            name = chunk_name(int(c))
            if not ((self.root / RUNS / name).is_file() and (self.root / ELEMENTS / name).is_file()):
                del done[c]

    def _drop_orphans(self) -> None:
        """Remove chunk files the manifest does not list (left by an interruption between a chunk's
        files and the manifest): they would be computed again and replaced anyway, and this keeps
        ``runs/`` and ``elements/`` readable as plain datasets without duplicates."""
        listed = {chunk_name(int(c)) for c in self.manifest.get("completed", {})}
        for sub in (self.root / RUNS, self.root / ELEMENTS):
            if sub.is_dir():
                for p in sub.glob("chunk-*.parquet"):
                    if p.name not in listed:
                        _unlink_quietly(p)

    def _clean_tmp(self) -> None:
        for sub in (self.root, self.root / RUNS, self.root / ELEMENTS):
            if sub.is_dir():
                for p in sub.glob(".*.tmp"):
                    p.unlink(missing_ok=True)
        for p in self.root.glob("*.tmp"):  # e.g. scenario.toml.tmp of experiments.scenario.dump_scenario
            if p.is_file():
                p.unlink(missing_ok=True)


# --- reading -----------------------------------------------------------------------------------
def read_manifest(root: str | Path) -> dict:
    p = Path(root) / MANIFEST
    if not p.is_file():
        raise ValueError(f"{root}: no {MANIFEST}; not a sweep's output folder")
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: cannot be read ({exc})") from None
    if m.get("format") != FORMAT:
        raise ValueError(f"{p}: not a coherence-sim sweep manifest")
    if m.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{p}: written by a newer coherence-sim (format {m.get('format_version')}); upgrade to read it")
    return m


def load_results(root: str | Path, *, codes: str = "int") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs and district-elements tables of a sweep as pandas DataFrames, in plan order.

    Only chunks the manifest records as complete are read, so a sweep that is still running or was
    interrupted loads consistently. ``codes="int"`` keeps the element codes as small ints (the
    ``sim.vocab`` IntEnum values: e.g. substantiveness 0 no_change, 1 add_on, 2 transform);
    ``codes="keys"`` turns them into categoricals of the vocabulary's keys.
    """
    if codes not in ("int", "keys"):
        raise ValueError(f"codes: {codes!r} is not allowed; allowed: int, keys")
    root = Path(root)
    m = read_manifest(root)
    chunks = sorted(int(c) for c in m.get("completed", {}))
    tables = []
    for sub in (RUNS, ELEMENTS):
        files = [root / sub / chunk_name(c) for c in chunks]
        if files:
            parts = [pq.read_table(f) for f in files]
            t = pa.concat_tables(parts, promote_options="default")
            df = t.to_pandas()
        else:
            df = pd.DataFrame()
        tables.append(df.reset_index(drop=True))
    runs, elements = tables
    if codes == "keys" and len(elements):
        for col, keys in CODE_KEYS.items():
            elements[col] = pd.Categorical.from_codes(elements[col].astype("int64"), categories=keys)
        elements["element"] = pd.Categorical(elements["element"], categories=list(Element.keys()))
    return runs, elements


def runs_saved(root: str | Path) -> tuple[int, int | None]:
    """(runs stored, runs planned or None) of the sweep in ``root``, from its manifest on disk."""
    m = read_manifest(root)
    done = sum(int(v.get("runs", 0)) for v in m.get("completed", {}).values())
    planned = (m.get("plan") or {}).get("n_runs")
    return done, (int(planned) if isinstance(planned, int) else None)


# --- helpers -----------------------------------------------------------------------------------


def _differences(old: dict, new: dict) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    parts = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, (int, float, str, type(None))) and isinstance(b, (int, float, str, type(None))):
            parts.append(f"{k} ({a!r} there, {b!r} here)")
        else:
            parts.append(k)
    return ", ".join(parts)


def disk_full_message(exc: OSError, folder: str | Path | None = None) -> str:
    """One paragraph for a user whose disk filled up: what happened, where, what is saved, what to do."""
    where = getattr(exc, "folder", None) or folder
    if where is None and exc.filename:
        where = Path(exc.filename).parent
    reason = {errno.ENOSPC: "the disk is full", errno.EFBIG: "a file-size limit was reached"}.get(exc.errno, "the disk quota is exceeded")
    text = f"{reason} (no space left on the device)" if exc.errno == errno.ENOSPC else reason
    parts = [f"coherence-sim: error: {text}"]
    if exc.filename:
        parts[0] += f" while writing {exc.filename}"
    parts[0] += "."
    saved = None
    if where is not None:
        try:
            saved = runs_saved(where)
        except (ValueError, OSError):
            saved = None
    if saved is not None:
        done, planned = saved
        of = f" of {planned}" if planned is not None else ""
        parts.append(f"{done}{of} runs are saved in {where} and intact (the chunk being written was discarded).")
        parts.append("Free some space on that disk (or move the folder to a bigger one) and run the same command "
                     "again with --resume: saved runs are kept, not computed again, and the rest are finished.")
    else:
        if where is not None:
            parts.append(f"Output folder: {where}.")
        parts.append("Free some space on that disk and run the command again (with --resume for a sweep or a rollout).")
    return " ".join(parts)


__all__ = [
    "CODE_COLUMNS",
    "CODE_KEYS",
    "DISK_FULL_ERRNOS",
    "MANIFEST",
    "DiskFullError",
    "SweepStore",
    "disk_full_message",
    "elements_schema",
    "is_disk_full",
    "load_results",
    "read_manifest",
    "runs_saved",
]
