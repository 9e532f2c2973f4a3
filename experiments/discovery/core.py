"""Scenario discovery over a sweep or sensitivity store: which factor ranges give an outcome above
(or below) a threshold. PRIM is EMA Workbench's (``ema_workbench.analysis.prim``); this module
prepares the design points, applies a documented rule to pick a box from PRIM's peeling trajectory,
tests the box under bootstrap resampling and writes the answer (see ``experiments/discovery/__init__``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.api import outcome_columns, pool_replicates

# Columns of a runs table that are neither factors nor outcomes (experiments.execution.store's layout).
BOOKKEEPING = frozenset({"design_point", "replicate", "seed", "assignment", "status", "error", "traceback",
                         "scenario_hash", "version", "git_commit", "stage"})
AGGREGATES = ("mean", "share")
NAN_RULES = ("exclude", "not_of_interest")
MANIFEST = "manifest.json"


class DiscoveryError(ValueError):
    """Input discovery cannot use; the message names the field (outcome, above/below, store, ...)."""


# === settings =================================================================================
@dataclass(frozen=True)
class Settings:
    """How discovery runs. Defaults are EMA Workbench's PRIM defaults and the box rule documented
    in :func:`choose_box`."""

    aggregate: str = "mean"
    share_min: float = 0.5
    nan: str = "exclude"
    peel_alpha: float = 0.05
    paste_alpha: float = 0.05
    mass_min: float = 0.05
    min_coverage: float = 0.5
    density_tolerance: float = 0.02
    significance: float = 0.1
    bootstrap: int = 50
    match: float = 0.5
    stable_share: float = 0.5
    seed: int = 0

    def check(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise DiscoveryError(f"aggregate: {self.aggregate!r} is not allowed; allowed: {', '.join(AGGREGATES)}")
        if self.nan not in NAN_RULES:
            raise DiscoveryError(f"nan: {self.nan!r} is not allowed; allowed: {', '.join(NAN_RULES)}")
        for name, lo, hi, lo_open in (("share_min", 0.0, 1.0, True), ("peel_alpha", 0.0, 0.5, True), ("paste_alpha", 0.0, 0.5, True),
                                      ("mass_min", 0.0, 1.0, True), ("min_coverage", 0.0, 1.0, True), ("density_tolerance", 0.0, 1.0, False),
                                      ("significance", 0.0, 1.0, True), ("match", 0.0, 1.0, True), ("stable_share", 0.0, 1.0, True)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not (lo < v if lo_open else lo <= v) or not v <= hi:
                raise DiscoveryError(f"{name}: {v!r} is not allowed; allowed: a number in {'(' if lo_open else '['}{lo}, {hi}]")
        for name, lo, hi in (("bootstrap", 0, 10_000), ("seed", 0, 2**63 - 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise DiscoveryError(f"{name}: {v!r} is not allowed; allowed: a whole number in [{lo}, {hi}]")


# === the design points ========================================================================
@dataclass
class Points:
    """Design points ready for PRIM: varied factors ``x``, the aggregated outcome ``value`` and
    ``case`` (of interest), plus what was left out and why."""

    x: pd.DataFrame
    value: pd.Series
    case: np.ndarray
    fixed: dict[str, Any]
    source: str
    runs: int
    runs_failed: int
    replicates: tuple[int, int]
    dropped_nan: int
    stages: dict[str, int] = field(default_factory=dict)


def read_runs(store: Any, stage: str | None = None) -> tuple[pd.DataFrame, str, dict[str, int]]:
    """The runs table of a sweep store, a sensitivity study's folder (every stage's store under
    ``runs/``, or those whose name starts with ``stage``), one of its stage stores, or a DataFrame."""
    from experiments.sweep import load_results

    if isinstance(store, tuple) and store and isinstance(store[0], pd.DataFrame):
        store = store[0]
    if isinstance(store, pd.DataFrame):
        return store.copy(), "a runs table", {}
    if not isinstance(store, (str, Path)):
        raise DiscoveryError(f"store: expected a folder or a runs DataFrame, got {type(store).__name__}")
    p = Path(store)
    if not p.is_dir():
        raise DiscoveryError(f"store {p}: does not exist or is not a folder")
    if (p / MANIFEST).is_file():
        try:
            runs, _ = load_results(p)
        except ValueError as exc:
            raise DiscoveryError(f"store {p}: {exc}") from None
        return runs, str(p), {}
    stores = sorted(q for q in (p / "runs").glob("*") if (q / MANIFEST).is_file()) if (p / "runs").is_dir() else []
    if not stores:
        raise DiscoveryError(f"store {p}: not a sweep store (no {MANIFEST}) nor a sensitivity study folder (no runs/*/{MANIFEST})")
    names = [q.name for q in stores]
    if stage is not None:
        stores = [q for q in stores if q.name.startswith(stage)]
        if not stores:
            raise DiscoveryError(f"stage: {stage!r} matches none of the study's stores; allowed: {', '.join(names)}")
    frames, counts = [], {}
    for q in stores:
        try:
            r, _ = load_results(q)
        except ValueError as exc:
            raise DiscoveryError(f"store {q}: {exc}") from None
        if len(r):
            frames.append(r.assign(stage=q.name))
            counts[q.name] = int(r["design_point"].nunique()) if "design_point" in r else len(r)
    if not frames:
        raise DiscoveryError(f"store {p}: its stores hold no runs yet")
    return pd.concat(frames, ignore_index=True), str(p), counts


def factor_columns(runs: pd.DataFrame) -> dict[str, str]:
    """Factor name -> column: a sensitivity store's natural values ``x.NAME``, or else every column
    that is neither bookkeeping, nor an outcome, nor a unit-cube value ``u.NAME``."""
    xs = {c[2:]: c for c in runs.columns if c.startswith("x.")}
    if xs:
        return xs
    outs = set(outcome_columns(runs.columns))
    return {c: c for c in runs.columns if c not in BOOKKEEPING and c not in outs and not c.startswith(("u.", "_"))}


def load_points(store: Any, outcome: str, threshold: float, direction: str, settings: Settings = Settings(),
                stage: str | None = None) -> Points:
    """Read a store, check the outcome, aggregate replicates per design point and mark the cases of interest.

    ``aggregate="mean"``: the design point's value is the outcome pooled over its replicates the
    project's way (shares as ratios of sums, see ``experiments.api.OUTCOMES``); it is a case of
    interest when that value is above (below) the threshold. ``aggregate="share"``: the value is the
    share of its replicates whose outcome is above (below) the threshold, among the replicates that
    define it; a case when that share is at least ``share_min``. A design point whose value is NaN (no
    replicate defines the outcome: the district changed nothing in every replicate) is left out
    (``nan="exclude"``) or counted as not of interest (``nan="not_of_interest"``)."""
    runs, source, stages = read_runs(store, stage)
    n_runs = len(runs)
    failed = 0
    if "status" in runs.columns:
        ok = runs["status"].astype(str) == "ok"
        failed = int((~ok).sum())
        runs = runs[ok]
    if not len(runs):
        raise DiscoveryError(f"store {source}: no successful runs ({failed} failed)")
    available = outcome_columns(runs.columns)
    if not isinstance(outcome, str) or outcome not in available:
        raise DiscoveryError(f"outcome: {outcome!r} is not an outcome of {source}; allowed: {', '.join(available)}")
    if "design_point" not in runs.columns:
        runs = runs.assign(design_point=np.arange(len(runs)))
    key = ["stage", "design_point"] if "stage" in runs.columns else ["design_point"]
    fcols = factor_columns(runs)
    if not fcols:
        raise DiscoveryError(f"store {source}: no factor columns (columns: {', '.join(map(str, runs.columns))})")
    grouped = runs.groupby(key, sort=True)
    design = grouped[list(fcols.values())].first()
    design.columns = list(fcols)
    varies = grouped[list(fcols.values())].nunique(dropna=False).max()
    inside = [f for f, c in fcols.items() if varies[c] > 1]
    if inside:
        raise DiscoveryError(f"store {source}: factor {inside[0]!r} takes several values within one design point; not a design column")
    for f in design.columns:
        if design[f].isna().any():
            raise DiscoveryError(f"store {source}: factor {f!r} has missing values at {int(design[f].isna().sum())} design point(s)")
    nunique = design.nunique(dropna=False)
    varied = [f for f in design.columns if nunique[f] > 1]
    fixed = {f: _plain(design[f].iat[0]) for f in design.columns if nunique[f] <= 1}
    if not varied:
        raise DiscoveryError(f"store {source}: no factor varies across its {len(design)} design point(s) "
                             f"(factors: {', '.join(map(str, design.columns))}); discovery needs a sweep or study that varies at least one")
    above = direction == "above"
    if settings.aggregate == "mean":
        pooled = pool_replicates(runs, [outcome], by=key)
        value = pooled[outcome]
        case = (value > threshold) if above else (value < threshold)
    else:
        v = runs[outcome].astype(float)
        beyond = pd.Series(np.where(v.isna(), np.nan, (v > threshold) if above else (v < threshold)), index=runs.index, dtype=float)
        value = beyond.groupby([runs[k] for k in key]).mean()
        case = value >= settings.share_min
    reps = grouped.size()
    value = value.reindex(design.index)
    case = case.reindex(design.index).fillna(False).to_numpy(bool)
    nan = value.isna().to_numpy()
    dropped = int(nan.sum())
    x = design[varied]
    if dropped and settings.nan == "exclude":
        x, value, case = x[~nan], value[~nan], case[~nan]
    if len(x) < 2:
        raise DiscoveryError(f"outcome: {outcome} is defined at {len(x)} design point(s) of {source} ({dropped} without any replicate "
                             f"defining it); discovery needs more")
    return Points(x=x, value=value, case=case, fixed=fixed, source=source, runs=n_runs, runs_failed=failed,
                  replicates=(int(reps.min()), int(reps.max())), dropped_nan=dropped if settings.nan == "exclude" else 0, stages=stages)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def prim_frame(x: pd.DataFrame) -> pd.DataFrame:
    """Factor columns as EMA's PRIM takes them: numbers as float64 (its pasting writes float limits
    into integer columns, which pandas 3 refuses), booleans kept (PRIM treats them as categories),
    anything else as text categories."""
    out = {}
    for c in x.columns:
        s = x[c]
        if pd.api.types.is_bool_dtype(s):
            out[c] = s.astype(bool)
        elif pd.api.types.is_numeric_dtype(s):
            out[c] = s.astype("float64")
        else:
            out[c] = s.map(lambda v: v if isinstance(v, str) else json.dumps(_plain(v), default=str)).astype(object)
    return pd.DataFrame(out, index=x.index).reset_index(drop=True)


# === PRIM and the box rule ====================================================================
@contextlib.contextmanager
def _quiet():
    """EMA Workbench warns at import (no ipyparallel) and logs; sklearn warns about OOB estimates."""
    loggers = [logging.getLogger(n) for n in ("EMA", "EMA.ema_workbench", "ema_workbench")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, lv in zip(loggers, levels):
                lg.setLevel(lv)


def _ema():
    try:
        with _quiet():
            from ema_workbench.analysis import prim
            from ema_workbench.analysis.feature_scoring import get_ex_feature_scores
            from ema_workbench.analysis.scenario_discovery_util import RuleInductionType
    except ImportError as exc:  # pragma: no cover - the optional extra is missing
        raise DiscoveryError("scenario discovery needs EMA Workbench: pip install 'coherence-sim[discovery]' "
                             f"(or ema_workbench>=3.0) ({exc})") from None
    return prim, get_ex_feature_scores, RuleInductionType


def choose_box(trajectory: pd.DataFrame, min_coverage: float, density_tolerance: float) -> int:
    """The box rule: among the boxes of the peeling trajectory whose coverage is at least
    ``min_coverage``, take those whose density is within ``density_tolerance`` of the highest
    density; of these, the one restricting the fewest factors, then the one with the highest coverage
    (then the earliest). The first box (everything) always qualifies."""
    t = trajectory.reset_index(drop=True)
    ok = t[t["coverage"] >= min_coverage - 1e-12]
    if not len(ok):
        ok = t.iloc[:1]
    best = ok["density"].max()
    near = ok[ok["density"] >= best - density_tolerance - 1e-12]
    near = near.sort_values(["res_dim", "coverage", "id"], ascending=[True, False, True], kind="stable")
    return int(near.index[0])


def _limits(box_lims: pd.DataFrame, box_init: pd.DataFrame, qp: Mapping[str, Sequence[float]] | None = None) -> dict[str, dict]:
    """A box as plain data: restricted factor -> {"min", "max"} (None on an unrestricted side) or
    {"in": [values]}, with its quasi-p values ("qp": [lower, upper] or [qp])."""
    out: dict[str, dict] = {}
    qp = qp or {}
    for c in box_init.columns:
        lo, hi = box_lims[c].iloc[0], box_lims[c].iloc[1]
        ilo, ihi = box_init[c].iloc[0], box_init[c].iloc[1]
        q = [None if (v is None or v == -1 or not np.isfinite(v)) else float(v) for v in qp.get(c, [])]
        if isinstance(ilo, (set, frozenset)):
            if set(lo) != set(ilo):
                out[c] = {"in": sorted((_plain(v) for v in lo), key=str), "qp": q[:1]}
        else:
            mn = None if lo == ilo else float(lo)
            mx = None if hi == ihi else float(hi)
            if mn is not None or mx is not None:
                out[c] = {"min": mn, "max": mx, "qp": q}
    return out


def inside(x: pd.DataFrame, limits: Mapping[str, Mapping]) -> np.ndarray:
    """Which rows of ``x`` (factor values as in the store) lie in the box ``limits``."""
    mask = np.ones(len(x), bool)
    for c, lim in limits.items():
        if "in" in lim:
            mask &= prim_frame(x[[c]])[c].isin(list(lim["in"])).to_numpy(bool)
        else:
            v = x[c].to_numpy(float)
            if lim.get("min") is not None:
                mask &= v >= lim["min"]
            if lim.get("max") is not None:
                mask &= v <= lim["max"]
    return mask


@dataclass
class _Found:
    prim: Any
    box: Any
    n_peel: int
    chosen_from: int
    chosen: int
    limits: dict


def _find(x: pd.DataFrame, y: np.ndarray, s: Settings) -> _Found:
    """PRIM's first box, the rule's choice on its peeling trajectory, then the chosen box with every
    limit whose quasi-p value exceeds ``significance`` released, one at a time (largest first; EMA
    Workbench's box.update records each step on the trajectory)."""
    prim, _, _ = _ema()
    xp = prim_frame(x)
    with _quiet():
        p = prim.Prim(xp, np.asarray(y, int), peel_alpha=s.peel_alpha, paste_alpha=s.paste_alpha, mass_min=s.mass_min)
        box = p.find_box()
    n_peel = len(box.peeling_trajectory)
    i = choose_box(box.peeling_trajectory.iloc[:n_peel], s.min_coverage, s.density_tolerance)
    chosen_from = i
    lims = box.box_lims[i].copy()
    qp = box.p_values[i]
    for _ in range(2 * len(xp.columns) + 2):
        worst, where = None, None
        for c, vals in qp.items():
            for side, v in enumerate(vals):
                if v is not None and v != -1 and np.isfinite(v) and v > s.significance and (worst is None or v > worst):
                    worst, where = v, (c, side)
        if where is None:
            break
        c, side = where
        new = lims.copy()
        if isinstance(p.box_init[c].iloc[0], (set, frozenset)):
            new[c] = [set(p.box_init[c].iloc[0]), set(p.box_init[c].iloc[0])]
        else:
            new.loc[side, c] = p.box_init[c].iloc[side]
        idx = np.flatnonzero(inside(xp, _limits(new, p.box_init)))
        with _quiet():
            box.update(new, idx)
        i = len(box.peeling_trajectory) - 1
        lims, qp = new, box.p_values[i]
    return _Found(prim=p, box=box, n_peel=n_peel, chosen_from=chosen_from, chosen=i, limits=_limits(lims, p.box_init, qp))


def _row(box, i: int) -> dict:
    r = box.peeling_trajectory.iloc[i]
    return {"coverage": float(r["coverage"]), "density": float(r["density"]), "mass": float(r["mass"]),
            "n": int(r["n"]), "k": int(r["k"]), "res_dim": int(r["res_dim"])}


def stability(x: pd.DataFrame, y: np.ndarray, limits: Mapping[str, Mapping], s: Settings) -> dict:
    """Bootstrap the box: ``bootstrap`` resamples of the design points (with replacement, seeded by
    ``seed``), each searched exactly as the original (PRIM, the box rule, the release of
    non-significant limits). A resampled box *reproduces* the chosen box when, applied to every
    design point, it holds nearly the same points: Cohen's kappa of the two in-box indicators
    (:func:`kappa`: agreement beyond chance, so two large unrelated boxes do not count) is at least
    ``match``. The box is unstable when it is reproduced in fewer than ``stable_share`` of the
    resamples. Also: how often each factor is restricted across the resamples."""
    n = len(x)
    if s.bootstrap == 0:
        return {"bootstrap": 0, "reproduced": None, "share": None, "unstable": None, "match": s.match,
                "stable_share": s.stable_share, "kappa": [], "restricted": {}}
    rng = np.random.default_rng(np.random.SeedSequence(int(s.seed)))
    ref = inside(x, limits)
    agree, restricted = [], dict.fromkeys(x.columns, 0)
    for _ in range(s.bootstrap):
        idx = rng.integers(0, n, n)
        yb = np.asarray(y)[idx]
        if yb.all() or not yb.any():
            agree.append(0.0)
            continue
        f = _find(x.iloc[idx].reset_index(drop=True), yb, s)
        agree.append(kappa(ref, inside(x, f.limits)))
        for c in f.limits:
            restricted[c] += 1
    reproduced = int(sum(a >= s.match for a in agree))
    share = reproduced / s.bootstrap
    return {
        "bootstrap": s.bootstrap,
        "reproduced": reproduced,
        "share": share,
        "unstable": bool(share < s.stable_share),
        "match": s.match,
        "stable_share": s.stable_share,
        "kappa": [round(a, 4) for a in agree],
        "restricted": {c: restricted[c] / s.bootstrap for c in sorted(restricted, key=lambda c: -restricted[c])},
    }


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two in-box indicators over the same design points: agreement beyond what two
    unrelated boxes holding as many points would reach (1: the same points; about 0: unrelated).
    Two boxes that both hold every point (or none) agree fully (1)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    po = float((a == b).mean())
    pa, pb = a.mean(), b.mean()
    pe = float(pa * pb + (1 - pa) * (1 - pb))
    if pe >= 1.0 - 1e-12:
        return 1.0 if po >= 1.0 - 1e-12 else 0.0
    return (po - pe) / (1.0 - pe)


def feature_scores(x: pd.DataFrame, y: np.ndarray, seed: int) -> pd.Series:
    """EMA Workbench's extra-trees feature scores of the factors for the cases of interest (sums to 1)."""
    _, get_ex_feature_scores, RuleInductionType = _ema()
    xp = prim_frame(x)
    with _quiet():
        scores, _ = get_ex_feature_scores(xp, np.asarray(y, int), mode=RuleInductionType.CLASSIFICATION,
                                          max_features=max(1, round(xp.shape[1] / 3)), random_state=int(seed) % 2**32)
    s = scores.iloc[:, 0].astype(float)
    s.index = [str(i) for i in s.index]
    s.name = "feature_score"
    return s.reindex([c for c in x.columns]).fillna(0.0).sort_values(ascending=False, kind="stable")
