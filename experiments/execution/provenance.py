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


@lru_cache(maxsize=1)
def sim_sources_hash() -> str:
    """SHA-256 (first 16 hex digits) of the installed model's sources: every file of the ``sim``
    package (path and bytes; compiled caches excluded). Any edit of the model changes it, committed
    or not, whatever the git commit says."""
    import sim

    root = Path(sim.__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if "__pycache__" in p.parts or p.suffix in (".pyc", ".pyo") or not p.is_file():
            continue
        h.update(p.relative_to(root).as_posix().encode("utf-8", "surrogateescape") + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def model_identity() -> dict:
    """What computed a result: the package version and the hash of the ``sim/`` sources (which
    decide whether two results may be mixed), plus the git commit and whether the tree had
    uncommitted edits, when known (for the record). Computed once per process."""
    return dict(_model_identity())


@lru_cache(maxsize=1)
def _model_identity() -> dict:
    return {"version": package_version(), "sim_sha256": sim_sources_hash(), "git_commit": git_commit(),
            "git_dirty": git_dirty()}


def same_model(a: dict | None, b: dict | None) -> bool:
    """Whether two model identities describe the same code (version and sim/ sources)."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    return a.get("version") == b.get("version") and a.get("sim_sha256") == b.get("sim_sha256")


def describe_model(m: dict | None) -> str:
    """A model identity in words: ``coherence-sim 0.1.0, sim/ sources 1a2b..., git 1234567 (uncommitted edits)``."""
    if not isinstance(m, dict):
        return "an unrecorded version (written before model identities were recorded)"
    text = f"coherence-sim {m.get('version')}, sim/ sources {m.get('sim_sha256')}"
    if m.get("git_commit"):
        text += f", git {str(m['git_commit'])[:12]}" + (" with uncommitted edits" if m.get("git_dirty") else "")
    return text


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
