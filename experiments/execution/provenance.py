"""Provenance attached to every result: package version, git commit (when known), time, inputs."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path


def package_version() -> str:
    try:
        return metadata.version("coherence-sim")
    except metadata.PackageNotFoundError:  # running from a source tree without installation
        return "0+unknown"


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@lru_cache(maxsize=1)
def git_dirty() -> bool | None:
    """True if the working tree has uncommitted changes (the commit alone does not describe the code)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def content_hash(obj) -> str:
    """A short stable hash of JSON-serialisable content (scenario, parameters)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def provenance(**extra) -> dict:
    """What every result carries. ``defaults`` says which parameter defaults this installation starts
    from (``"calibrated (sha256 ...)"`` or ``"prior centre (...)"``, experiments.evidence.model_defaults);
    a scenario's own parameter values, written beside the result, take precedence over them."""
    from ..evidence import defaults_provenance

    return {
        "package": "coherence-sim",
        "version": package_version(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **defaults_provenance(),
        **extra,
    }
