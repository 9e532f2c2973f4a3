"""Designs for sweeps: which scenario overrides each design point gets.

A design is a ``pandas.DataFrame`` with one row per design point (row ``i`` is design point ``i``)
and one column per factor, named by the factor's dotted scenario key (the keys of
``experiments.scenario.apply_overrides``, e.g. ``parameters.uptake_rate`` or
``districts.Diamond.lead.buy_in``). Three ways to make one:

* :func:`grid_design` -- the full factorial of the listed values (the first factor varies slowest);
* :func:`lhs_design` -- a Latin hypercube (``scipy.stats.qmc.LatinHypercube``) over ranges; ranges of
  model parameters default to their plausible bounds in ``sim.parameters.PARAMETER_SPECS``;
* :func:`read_design_file` -- a CSV or Parquet file whose columns are dotted keys (e.g. a SALib
  sample, or any design made elsewhere).

Nothing here checks that a value is allowed: the sweep validates every design point against the
base scenario before any run (see ``experiments.sweep.make_plan``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.parameters import PARAMETER_SPECS

LHS_OPTIMIZATIONS = ("random-cd", "lloyd")
LHS_SCALES = ("linear", "log")
DESIGN_FILE_TYPES = (".csv", ".parquet", ".pq")
MAX_DESIGN_POINTS = 10_000_000


@dataclass(frozen=True)
class Range:
    """A factor's range for a Latin hypercube: ``low``..``high`` (both included)."""

    low: float
    high: float
    integer: bool = False
    scale: str = "linear"  # "linear" | "log" (uniform in log(value); needs low > 0)


def parameter_range(key: str) -> tuple[float, float]:
    """The plausible range of ``parameters.NAME`` from ``PARAMETER_SPECS``."""
    name = key.removeprefix("parameters.")
    if not key.startswith("parameters.") or name not in PARAMETER_SPECS:
        allowed = ", ".join(f"parameters.{n}" for n in PARAMETER_SPECS)
        raise ValueError(f"{key}: no default range (only model parameters have one); give low and high, or use one of: {allowed}")
    spec = PARAMETER_SPECS[name]
    return float(spec.low), float(spec.high)


def grid_design(factors: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Every combination of the factors' values, the first factor varying slowest."""
    keys = list(factors)
    for k in keys:
        vals = factors[k]
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Sequence) or len(vals) == 0:
            raise ValueError(f"design.factors.{k}: expected a non-empty list of values, got {vals!r}")
    n = math.prod(len(factors[k]) for k in keys) if keys else 1
    if n > MAX_DESIGN_POINTS:
        raise ValueError(f"design.factors: the grid has {n} design points; at most {MAX_DESIGN_POINTS} are allowed")
    rows = list(itertools.product(*(list(factors[k]) for k in keys)))
    columns = {k: _column([r[i] for r in rows]) for i, k in enumerate(keys)}
    return pd.DataFrame(columns, index=pd.RangeIndex(n, name="design_point"))


def lhs_design(
    factors: Mapping[str, Range | Mapping[str, Any]],
    n: int,
    seed: int,
    optimization: str | None = None,
) -> pd.DataFrame:
    """A Latin hypercube of ``n`` points over the factors' ranges.

    Uniform on ``[low, high]`` (``scale="log"``: uniform in the logarithm). An ``integer`` factor
    takes ``floor(low + u * (high - low + 1))``, so each of the ``high - low + 1`` integers gets an
    equal share of the unit interval. The sample is fixed by ``seed``
    (``numpy.random.SeedSequence(seed)``, a stream no run uses).
    """
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_DESIGN_POINTS:
        raise ValueError(f"design.n: {n!r} is not allowed; allowed: a whole number in [1, {MAX_DESIGN_POINTS}]")
    if optimization is not None and optimization not in LHS_OPTIMIZATIONS:
        raise ValueError(f"design.optimization: {optimization!r} is not allowed; allowed: {', '.join(LHS_OPTIMIZATIONS)}")
    if not factors:
        raise ValueError("design.factors: a Latin hypercube needs at least one factor")
    ranges = {k: _as_range(k, v) for k, v in factors.items()}
    from scipy.stats import qmc

    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    u = qmc.LatinHypercube(d=len(ranges), optimization=optimization, rng=rng).random(n)
    columns = {}
    for j, (k, r) in enumerate(ranges.items()):
        columns[k] = _scale(u[:, j], r)
    return pd.DataFrame(columns, index=pd.RangeIndex(n, name="design_point"))


def read_design_file(path: str | Path) -> pd.DataFrame:
    """A design from a CSV or Parquet file: one row per design point, columns are dotted keys."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in DESIGN_FILE_TYPES:
        raise ValueError(f"design.path {p}: unknown file type {suffix!r}; allowed: {', '.join(DESIGN_FILE_TYPES)}")
    if not p.is_file():
        raise ValueError(f"design.path {p}: does not exist")
    try:
        df = pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"design.path {p}: cannot be read ({exc})") from None
    return normalise_design(df, where=f"design.path {p}")


def normalise_design(design: pd.DataFrame, where: str = "design") -> pd.DataFrame:
    """Check a design's shape and give it the index 0..n-1 (its row order is the design-point order)."""
    if not isinstance(design, pd.DataFrame):
        raise ValueError(f"{where}: expected a pandas DataFrame, got {type(design).__name__}")
    if len(design) == 0:
        raise ValueError(f"{where}: has no rows (design points)")
    if len(design) > MAX_DESIGN_POINTS:
        raise ValueError(f"{where}: {len(design)} design points; at most {MAX_DESIGN_POINTS} are allowed")
    cols = [str(c) for c in design.columns]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise ValueError(f"{where}: repeated column(s): {', '.join(dup)}")
    for c in cols:
        if not c or c != c.strip() or any(not part for part in c.split(".")):
            raise ValueError(f"{where}: column {c!r} is not a dotted scenario key like parameters.uptake_rate")
    out = design.copy()
    out.columns = cols
    out.index = pd.RangeIndex(len(out), name="design_point")
    return out


def design_values(design: pd.DataFrame, i: int) -> dict[str, Any]:
    """Design point ``i`` as ``{dotted key: plain Python value}``; a missing value is an error."""
    row = {}
    for k in design.columns:
        v = _plain(design[k].iat[i])
        if _missing(v):
            raise ValueError(f"design point {i}: {k}: missing value")
        row[k] = v
    return row


# --- helpers ---------------------------------------------------------------------------------
def _as_range(key: str, v: Range | Mapping[str, Any]) -> Range:
    if isinstance(v, Range):
        r = v
    else:
        d = dict(v)
        low, high = d.get("low"), d.get("high")
        if low is None or high is None:
            try:
                dlow, dhigh = parameter_range(key)
            except ValueError as exc:
                raise ValueError(f"design.factors.{exc}") from None
            low = dlow if low is None else low
            high = dhigh if high is None else high
        r = Range(low=low, high=high, integer=bool(d.get("integer", False)), scale=d.get("scale") or "linear")
    where = f"design.factors.{key}"
    for name in ("low", "high"):
        x = getattr(r, name)
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ValueError(f"{where}.{name}: {x!r} is not allowed; allowed: a finite number")
    if r.scale not in LHS_SCALES:
        raise ValueError(f"{where}.scale: {r.scale!r} is not allowed; allowed: {', '.join(LHS_SCALES)}")
    if not r.low <= r.high:
        raise ValueError(f"{where}: low ({r.low!r}) must not exceed high ({r.high!r})")
    if r.scale == "log" and r.low <= 0:
        raise ValueError(f"{where}.low: {r.low!r} is not allowed with scale = \"log\"; allowed: a number > 0")
    if r.integer and (float(r.low) != int(r.low) or float(r.high) != int(r.high)):
        raise ValueError(f"{where}: an integer factor needs whole-number low and high, got {r.low!r}, {r.high!r}")
    return r


def _scale(u: np.ndarray, r: Range) -> np.ndarray:
    if r.integer:
        lo, hi = int(r.low), int(r.high)
        if r.scale == "log":
            edges = np.log(np.arange(lo, hi + 2, dtype=float))  # integer k owns [log k, log(k+1))
            x = np.exp(edges[0] + u * (edges[-1] - edges[0]))
            return np.clip(np.floor(x), lo, hi).astype(np.int64)
        return np.clip(np.floor(lo + u * (hi - lo + 1)), lo, hi).astype(np.int64)
    lo, hi = float(r.low), float(r.high)
    if r.scale == "log":
        return np.clip(np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))), lo, hi)
    return lo + u * (hi - lo)


def _column(values: list[Any]) -> pd.Series | list:
    """Keep a grid column's values as given: ints stay ints, mixed int/float become float,
    anything else (bools, strings, lists) is kept as objects."""
    if all(isinstance(v, bool) for v in values):
        return pd.Series(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pd.Series(values, dtype="int64")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return pd.Series([float(v) for v in values], dtype="float64")
    if all(isinstance(v, str) for v in values):
        return pd.Series(values, dtype=object)
    return pd.Series(values, dtype=object)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float) and math.isnan(v)


__all__ = [
    "Range",
    "design_values",
    "grid_design",
    "lhs_design",
    "normalise_design",
    "parameter_range",
    "read_design_file",
]
