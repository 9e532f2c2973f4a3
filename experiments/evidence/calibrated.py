"""The calibrated defaults, as running reads them: ``experiments/evidence/data/calibrated.toml`` (the
calibration's point estimate of every model parameter, with its provenance) and
``posterior_samples.csv`` (equal-weight draws of the calibrated parameters).

``coherence-sim calibrate`` writes both through :func:`calibration.defaults.publish`; everything that
runs the model reads them here, without importing the fitting code. ``sim.Parameters()`` stays the
documented prior centre (``sim/`` reads no files); :func:`experiments.scenario.default_scenario`
applies the calibrated values when the file exists.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import Parameters
from sim.parameters import PARAMETER_SPECS

__all__ = [
    "CALIBRATED_FILE",
    "FORMAT_VERSION",
    "POSTERIOR_FILE",
    "apply_calibrated_defaults",
    "calibrated_parameters",
    "case_provenance",
    "data_dir",
    "forget_cached",
    "load_calibrated",
    "load_posterior_samples",
    "posterior_provenance",
]

CALIBRATED_FILE = "calibrated.toml"
POSTERIOR_FILE = "posterior_samples.csv"
FORMAT_VERSION = 1


def data_dir() -> Path:
    """Where the calibrated defaults are published (experiments/evidence/data/)."""
    return Path(__file__).resolve().parent / "data"


def _path(path: str | Path | None) -> Path:
    return Path(path) if path is not None else data_dir() / CALIBRATED_FILE


def load_calibrated(path: str | Path | None = None) -> dict[str, Any] | None:
    """The calibrated-defaults file as a dict (validated), or None if it does not exist."""
    p = _path(path)
    if not p.exists():
        return None
    st = p.stat()
    return _load(str(p.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime: int, size: int) -> dict[str, Any]:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read as TOML ({exc})") from None
    params = raw.get("parameters")
    if not isinstance(params, dict):
        raise ValueError(f"{path}: parameters: missing or not a table")
    Parameters.from_mapping(params, prefix=f"{Path(path).name}: parameters")
    meta = raw.get("meta", {})
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: meta.format_version: {meta.get('format_version')!r}; this version reads {FORMAT_VERSION}")
    return raw


def calibrated_parameters(path: str | Path | None = None) -> Parameters | None:
    """The calibrated point estimate as ``Parameters`` (None if there is no calibrated file)."""
    raw = load_calibrated(path)
    if raw is None:
        return None
    values = Parameters().to_dict()
    values.update({k: float(v) for k, v in raw["parameters"].items()})
    return Parameters(**values)


def apply_calibrated_defaults(scenario, path: str | Path | None = None):
    """The scenario with its parameters set to the calibrated point estimate (unchanged if no file)."""
    params = calibrated_parameters(path)
    if params is None:
        return scenario
    from ..scenario import apply_overrides

    return apply_overrides(scenario, {f"parameters.{k}": v for k, v in params.to_dict().items()})


def load_posterior_samples(path: str | Path | None = None, calibrated: str | Path | None = None) -> pd.DataFrame:
    """The stored posterior draws (one row per draw, one column per calibrated parameter)."""
    p = Path(path) if path is not None else data_dir() / POSTERIOR_FILE
    if not p.exists():
        raise ValueError(f"{p}: no posterior samples; run `coherence-sim calibrate --budget full` first")
    df = pd.read_csv(p)
    if df.empty:
        raise ValueError(f"{p}: no draws")
    unknown = [c for c in df.columns if c not in PARAMETER_SPECS]
    if unknown:
        raise ValueError(f"{p}: column {unknown[0]!r} is not a model parameter")
    for c in df.columns:
        spec = PARAMETER_SPECS[c]
        bad = ~np.isfinite(df[c]) | (df[c] < spec.low) | (df[c] > spec.high)
        if bad.any():
            raise ValueError(f"{p}: {c} row {int(np.flatnonzero(bad)[0])}: outside [{spec.low}, {spec.high}]")
    raw = load_calibrated(calibrated)
    if raw is not None and path is None:
        want = raw.get("posterior_samples", {}).get("sha256")
        got = hashlib.sha256(p.read_bytes()).hexdigest()
        if want and want != got:
            raise ValueError(f"{p}: sha256 {got[:12]} does not match calibrated.toml's {want[:12]}; the two files come from different calibrations")
    return df


def posterior_provenance(run, path: str | Path | None = None) -> dict[str, Any]:
    """What ``case --posterior`` adds to summary.json's provenance."""
    p = Path(path) if path is not None else data_dir() / POSTERIOR_FILE
    raw = load_calibrated() or {}
    return {
        "posterior_samples": str(p),
        "posterior_samples_sha256": hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None,
        "calibration_created": raw.get("meta", {}).get("created"),
        "sampled_parameters": list(load_posterior_samples(path).columns),
        "draws_used": len(set(getattr(run, "posterior_draws", []))),
        "seeding": "replicate r: run_seed(seed, 0, r), capacity assignment order[r % K], posterior draw "
        "order'[r % N] (a permutation keyed by the seed); the other parameters are the scenario's",
    }


def case_provenance(run, posterior: bool = False) -> dict[str, Any]:
    """Where a case run's parameters come from (added to summary.json's provenance by the CLI)."""
    raw = load_calibrated()
    calibrated = calibrated_parameters()
    out: dict[str, Any] = {
        "parameter_defaults": (
            "calibrated (experiments/evidence/data/calibrated.toml)" if calibrated is not None and run.parameters == calibrated
            else "the scenario's parameters" if calibrated is not None
            else "documented prior centre (sim.Parameters(); no calibrated.toml)"
        ),
        "calibration": None if raw is None else {
            k: raw["meta"].get(k) for k in ("created", "budget", "git_commit", "n_simulations", "wall_time_s")
        },
    }
    if posterior:
        out["posterior"] = posterior_provenance(run)
    return out


def forget_cached() -> None:
    """Forget the files read so far (after :func:`calibration.defaults.publish` rewrote them)."""
    _load.cache_clear()
