"""The defaults every entry point starts from, and the calibrated file they come from.

``experiments/evidence/data/calibrated.toml`` holds the calibration's point estimate of the model's
parameters, with its provenance; ``posterior_samples.csv`` equal-weight draws of the calibrated
parameters. ``coherence-sim calibrate`` writes both through :func:`calibration.defaults.publish`;
everything that runs the model reads them here, without importing the fitting code.

**One source of defaults.** :func:`model_defaults` decides the parameter values that the command
line, ``experiments.case.run_case``, ``experiments.api.evaluate``, what-ifs, sweeps, rollouts, the
app and the notebooks start from (through :func:`experiments.scenario.default_scenario`):

* the calibrated values, when ``calibrated.toml`` exists and was written for this model's parameter
  set (every name it sets is a parameter of ``sim.parameters.PARAMETER_SPECS`` and every value is
  inside that parameter's range); model parameters the file does not set keep their prior centre and
  are listed in the provenance;
* otherwise the documented prior centre (``sim.Parameters()``): silently when there is no file, with
  a :class:`DefaultsWarning` naming the mismatch when the file is for another parameter set (names the
  model does not have, values outside its ranges, another format version).

Which one is in force is said by :attr:`ModelDefaults.label` -- ``"calibrated (sha256 0123456789ab)"``,
``"prior centre (no calibrated file)"`` or ``"prior centre (calibrated.toml is for another parameter
set: ...)"`` -- and is recorded as ``defaults`` in the provenance of every result
(``experiments.execution.provenance``). ``sim.Parameters()`` stays the prior centre (``sim/`` reads
no files).
"""

from __future__ import annotations

import functools
import hashlib
import math
import tomllib
import warnings
from dataclasses import dataclass, field
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
    "DefaultsWarning",
    "ModelDefaults",
    "apply_calibrated_defaults",
    "default_parameters",
    "defaults_provenance",
    "model_defaults",
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
    """The calibrated-defaults file as a dict, or None if it does not exist. Raises ValueError when
    it is not readable TOML; whether it fits this model's parameters is :func:`model_defaults`' job."""
    p = _path(path)
    if not p.exists():
        return None
    st = p.stat()
    return _load(str(p.resolve()), st.st_mtime_ns, st.st_size)[0]


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime: int, size: int) -> tuple[dict[str, Any], str]:
    try:
        data = Path(path).read_bytes()
        raw = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read as TOML ({exc})") from None
    return raw, hashlib.sha256(data).hexdigest()


class DefaultsWarning(UserWarning):
    """The calibrated file exists but was written for another parameter set: the prior centre is used."""


@dataclass(frozen=True)
class ModelDefaults:
    """The parameter defaults in force and where they come from (see the module docstring)."""

    parameters: Parameters
    source: str  # "calibrated" | "prior centre"
    label: str
    path: str | None = None
    sha256: str | None = None
    at_prior_centre: tuple[str, ...] = ()  # model parameters the calibrated file does not set
    mismatch: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def calibrated(self) -> bool:
        return self.source == "calibrated"

    def provenance(self) -> dict[str, Any]:
        """What results record: ``defaults`` (the label) and ``defaults_detail`` (the file, its sha256,
        the calibration's own provenance, the parameters it leaves at the prior centre)."""
        detail: dict[str, Any] = {"source": self.source, "file": None if self.path is None else _shown(self.path),
                                  "sha256": self.sha256}
        if self.mismatch is not None:
            detail["mismatch"] = self.mismatch
        if self.calibrated:
            detail["calibration"] = {k: self.meta.get(k) for k in ("created", "budget", "git_commit", "n_simulations")}
            detail["at_prior_centre"] = list(self.at_prior_centre)
        return {"defaults": self.label, "defaults_detail": detail}


def _shown(path: str) -> str:
    """A path as results record it: relative to the source tree when inside it (no home folders)."""
    root = Path(__file__).resolve().parents[2]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def _mismatch(raw: dict[str, Any]) -> str | None:
    """Why the file does not fit this model's parameters (None: it does)."""
    meta = raw.get("meta", {})
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        got = meta.get("format_version") if isinstance(meta, dict) else None
        return f"meta.format_version is {got!r}; this version reads {FORMAT_VERSION}"
    params = raw.get("parameters")
    if not isinstance(params, dict) or not params:
        return "it has no [parameters] table"
    unknown = [k for k in params if k not in PARAMETER_SPECS]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        return f"it sets {len(unknown)} parameter(s) the model does not have ({shown})"
    for k, v in params.items():
        spec = PARAMETER_SPECS[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not spec.low <= v <= spec.high:
            return f"parameters.{k} = {v!r} is outside the model's range [{spec.low:g}, {spec.high:g}]"
    return None


_WARNED: set[tuple[str, str]] = set()


def model_defaults(path: str | Path | None = None) -> ModelDefaults:
    """The parameter defaults every entry point starts from: calibrated or prior centre (module docstring)."""
    p = _path(path)
    if not p.exists():
        return ModelDefaults(Parameters(), "prior centre", "prior centre (no calibrated file)", path=None)
    st = p.stat()
    d = _defaults(str(p.resolve()), st.st_mtime_ns, st.st_size)
    if d.mismatch is not None and (d.path, d.sha256) not in _WARNED:
        _WARNED.add((d.path, d.sha256))
        warnings.warn(f"{_shown(d.path)}: {d.mismatch}: the file is for another parameter set, so every command starts from "
                      f"the documented prior centre (sim.Parameters()); regenerate it with `coherence-sim calibrate "
                      f"--budget full`", DefaultsWarning, stacklevel=2)
    return d


@functools.lru_cache(maxsize=8)
def _defaults(path: str, mtime: int, size: int) -> ModelDefaults:
    raw, sha = _load(path, mtime, size)
    reason = _mismatch(raw)
    if reason is not None:
        return ModelDefaults(Parameters(), "prior centre",
                             f"prior centre ({_shown(path)} is for another parameter set: {reason})",
                             path=path, sha256=sha, mismatch=reason, meta=dict(raw.get("meta", {}) or {}))
    values = Parameters().to_dict()
    values.update({k: float(v) for k, v in raw["parameters"].items()})
    missing = tuple(k for k in PARAMETER_SPECS if k not in raw["parameters"])
    return ModelDefaults(Parameters(**values), "calibrated", f"calibrated (sha256 {sha[:12]})", path=path, sha256=sha,
                         at_prior_centre=missing, meta=dict(raw.get("meta", {})))


def default_parameters(path: str | Path | None = None) -> Parameters:
    """The parameter values every entry point starts from (:func:`model_defaults`)."""
    return model_defaults(path).parameters


def defaults_provenance(path: str | Path | None = None) -> dict[str, Any]:
    """``{"defaults": "calibrated (sha256 ...)" | "prior centre (...)", ...}`` for a result's provenance."""
    return model_defaults(path).provenance()


def calibrated_parameters(path: str | Path | None = None) -> Parameters | None:
    """The calibrated point estimate as ``Parameters``; None if there is no calibrated file or it is
    for another parameter set (:func:`model_defaults` warns)."""
    d = model_defaults(path)
    return d.parameters if d.calibrated else None


def apply_calibrated_defaults(scenario, path: str | Path | None = None):
    """The scenario with its parameters set to the defaults in force (:func:`model_defaults`:
    calibrated, or the prior centre when there is no usable calibrated file)."""
    from ..scenario import apply_overrides

    params = default_parameters(path)
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
    d = model_defaults()
    out: dict[str, Any] = {
        "parameter_defaults": (
            f"the defaults: {d.label}" if run.parameters == d.parameters else f"the scenario's parameters (defaults: {d.label})"
        ),
        "calibration": None if not d.calibrated else {
            k: d.meta.get(k) for k in ("created", "budget", "git_commit", "n_simulations", "wall_time_s")
        },
    }
    if posterior:
        out["posterior"] = posterior_provenance(run)
    return out


def forget_cached() -> None:
    """Forget the files read so far (after :func:`calibration.defaults.publish` rewrote them)."""
    _load.cache_clear()
    _defaults.cache_clear()
    _WARNED.clear()
