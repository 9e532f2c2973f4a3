"""Free parameters of the calibration and their priors, read from ``calibration/data/priors.toml``.

Every free parameter has a prior family (``uniform`` or ``loguniform``) on bounds inside its range in
:data:`sim.parameters.PARAMETER_SPECS`, and a reason; every other model parameter is listed under
``[fixed]`` with the reason it stays at its documented default (``sim.Parameters()``). The loader
refuses a file that leaves a parameter unaccounted for, names one twice or uses a bound outside the
spec's range, with a message naming the key.

pyabc is imported only by :meth:`PriorSet.pyabc_distribution` (its import costs about 4 s).
"""

from __future__ import annotations

import functools
import hashlib
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from sim.parameters import PARAMETER_SPECS

__all__ = ["Prior", "PriorSet", "load_priors"]

_FAMILIES = ("uniform", "loguniform")


@dataclass(frozen=True)
class Prior:
    """One free parameter's prior."""

    name: str
    family: str
    low: float
    high: float
    reason: str
    informs: str = "fit"

    @property
    def spec_default(self) -> float:
        return PARAMETER_SPECS[self.name].default

    def label(self) -> str:
        return f"{self.family}({self.low:g}, {self.high:g})"

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n)
        return self.ppf(u)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        if self.family == "uniform":
            return self.low + u * (self.high - self.low)
        return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, dtype=float), self.low, self.high)
        if self.family == "uniform":
            return (x - self.low) / (self.high - self.low)
        return (np.log(x) - np.log(self.low)) / (np.log(self.high) - np.log(self.low))

    def pdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        inside = (x >= self.low) & (x <= self.high)
        if self.family == "uniform":
            return np.where(inside, 1.0 / (self.high - self.low), 0.0)
        with np.errstate(divide="ignore"):
            return np.where(inside, 1.0 / (np.maximum(x, 1e-300) * (np.log(self.high) - np.log(self.low))), 0.0)

    def quantile(self, q: float) -> float:
        return float(self.ppf(np.array([q]))[0])

    # --- the sampler's scale: z = Phi^-1(F(x)), F this prior's CDF, Phi the normal CDF ----------
    # Under the prior z is standard normal whatever the family, and every real z maps inside
    # [low, high]: the ABC's Gaussian proposals never leave the prior's support, and a Gaussian
    # proposal matches the prior's shape in the directions the data do not inform (which keeps the
    # importance weights even; a logistic scale made them spread several times more).
    def to_z(self, x: np.ndarray) -> np.ndarray:
        u = np.clip(self.cdf(x), 1e-12, 1 - 1e-12)
        return ndtri(u)

    def from_z(self, z: np.ndarray) -> np.ndarray:
        u = ndtr(np.asarray(z, dtype=float))
        return np.clip(self.ppf(u), self.low, self.high)


@dataclass(frozen=True)
class PriorSet:
    """The free parameters (in file order) with their priors, and the fixed ones with reasons."""

    free: tuple[Prior, ...]
    fixed: dict[str, str]
    text: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.free)

    def __getitem__(self, name: str) -> Prior:
        for p in self.free:
            if p.name == name:
                return p
        raise KeyError(name)

    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def subset(self, informs: str | None) -> "PriorSet":
        """The free parameters informed by one evidence set (``None``: all of them)."""
        if informs is None:
            return self
        return PriorSet(tuple(p for p in self.free if p.informs == informs), self.fixed, self.text)

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """n independent prior draws of every free parameter (name -> array)."""
        return {p.name: p.sample(rng, n) for p in self.free}

    def z_name(self, name: str) -> str:
        return f"z_{name}"

    def from_z(self, z: Mapping[str, float]) -> dict[str, float]:
        """Sampler-scale values (keys ``z_<name>``) -> natural parameter values (keys ``<name>``)."""
        return {p.name: float(p.from_z(np.asarray(z[f"z_{p.name}"]))) for p in self.free}

    def to_z(self, x: Mapping[str, float]) -> dict[str, float]:
        return {f"z_{p.name}": float(p.to_z(np.asarray(x[p.name]))) for p in self.free}

    def pyabc_distribution(self):
        """The prior as a ``pyabc.Distribution`` (scipy ``uniform``/``loguniform`` random variables)."""
        import pyabc

        rvs = {}
        for p in self.free:
            if p.family == "uniform":
                rvs[p.name] = pyabc.RV("uniform", p.low, p.high - p.low)
            else:
                rvs[p.name] = pyabc.RV("loguniform", p.low, p.high)
        return pyabc.Distribution(**rvs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "free": {
                p.name: {"prior": p.family, "low": p.low, "high": p.high, "informs": p.informs, "reason": p.reason}
                for p in self.free
            },
            "fixed": dict(self.fixed),
        }


def load_priors(path: str | Path | None = None) -> PriorSet:
    """Read and validate the priors file (default: the packaged ``calibration/data/priors.toml``)."""
    if path is None:
        return _load_packaged()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"priors file {p}: cannot be read ({exc})") from None
    return _parse(text, str(p))


@functools.cache
def _load_packaged() -> PriorSet:
    text = resources.files("calibration").joinpath("data/priors.toml").read_text(encoding="utf-8")
    return _parse(text, "calibration/data/priors.toml")


def _parse(text: str, where: str) -> PriorSet:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: not valid TOML ({exc})") from None
    unknown = set(raw) - {"meta", "free", "fixed"}
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown top-level key; allowed: meta, free, fixed")
    free_raw = raw.get("free")
    if not isinstance(free_raw, dict) or not free_raw:
        raise ValueError("free: missing or empty; expected [free.<parameter>] tables")
    fixed = raw.get("fixed", {})
    if not isinstance(fixed, dict):
        raise ValueError("fixed: expected a table of parameter = reason")
    free = []
    for name, node in free_raw.items():
        key = f"free.{name}"
        if name not in PARAMETER_SPECS:
            raise ValueError(f"{key}: unknown parameter; allowed: {', '.join(PARAMETER_SPECS)}")
        if not isinstance(node, dict):
            raise ValueError(f"{key}: expected a table with prior, low, high, reason")
        extra = set(node) - {"prior", "low", "high", "reason", "informs"}
        if extra:
            raise ValueError(f"{key}.{sorted(extra)[0]}: unknown key; allowed: prior, low, high, reason, informs")
        informs = node.get("informs", "fit")
        if informs not in ("fit", "holdout"):
            raise ValueError(f"{key}.informs: {informs!r} is not allowed; allowed: fit, holdout")
        family = node.get("prior")
        if family not in _FAMILIES:
            raise ValueError(f"{key}.prior: {family!r} is not allowed; allowed: {', '.join(_FAMILIES)}")
        spec = PARAMETER_SPECS[name]
        bounds = []
        for b in ("low", "high"):
            v = node.get(b)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{key}.{b}: expected a number, got {v!r}")
            if not spec.low <= v <= spec.high:
                raise ValueError(f"{key}.{b}: {v!r} is outside the parameter's range [{spec.low}, {spec.high}]")
            bounds.append(float(v))
        low, high = bounds
        if not low < high:
            raise ValueError(f"{key}: low ({low}) must be below high ({high})")
        if family == "loguniform" and low <= 0:
            raise ValueError(f"{key}.low: a log-uniform prior needs low > 0, got {low}")
        reason = node.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"{key}.reason: missing; say why the parameter is free")
        free.append(Prior(name, family, low, high, reason, informs))
    for name, reason in fixed.items():
        if name not in PARAMETER_SPECS:
            raise ValueError(f"fixed.{name}: unknown parameter; allowed: {', '.join(PARAMETER_SPECS)}")
        if name in free_raw:
            raise ValueError(f"fixed.{name}: also listed under [free]")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"fixed.{name}: expected the reason it is not calibrated")
    missing = [n for n in PARAMETER_SPECS if n not in free_raw and n not in fixed]
    if missing:
        raise ValueError(f"fixed.{missing[0]}: parameter neither free nor fixed; list it in one of them")
    return PriorSet(tuple(free), dict(fixed), text)
