"""What the command line tells a user whose disk filled up during a run (the store itself,
experiments/execution/store.py, keeps what was saved complete; this says so, and what to do)."""

from __future__ import annotations

import errno
from pathlib import Path

from ..execution.store import runs_saved

__all__ = ["disk_full_message"]


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
