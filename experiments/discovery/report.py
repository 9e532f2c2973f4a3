"""``discover``: from a store to boxes, their stability, feature scores, figures, the JSON and the
plain-language answer."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .core import DiscoveryError, Points, Settings, _find, _limits, _row, feature_scores, inside, load_points, stability

_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILES = ("answer.txt", "boxes.json", "trajectory.csv", "points.csv", "feature_scores.csv", "peeling_trajectory.png", "box.png")


@dataclass
class Box:
    """One box: its id on the peeling trajectory, its limits (restricted factors only), its statistics."""

    id: int
    limits: dict[str, dict]
    coverage: float
    density: float
    mass: float
    n: int
    k: int
    res_dim: int
    phase: str = "peel"  # "peel" (PRIM's peeling and pasting) | "release" (a non-significant limit released)

    def to_dict(self) -> dict:
        return {"id": self.id, "phase": self.phase, "coverage": self.coverage, "density": self.density, "mass": self.mass,
                "n": self.n, "k": self.k, "res_dim": self.res_dim, "limits": self.limits}


@dataclass
class Discovery:
    """What :func:`discover` found. ``boxes`` is PRIM's peeling trajectory (every candidate box, its
    coverage and density), ``chosen`` the box the rule picked (after releasing non-significant limits),
    ``stability`` its bootstrap, ``feature_scores`` the extra-trees scores, ``text`` the answer. ``prim``
    and ``prim_box`` are EMA Workbench's objects, for interactive use (``prim_box.inspect(...)``)."""

    outcome: str
    direction: str
    threshold: float
    settings: Settings
    points: Points
    boxes: list[Box]
    chosen: Box
    chosen_from: int
    stability: dict
    feature_scores: pd.Series
    text: str = ""
    files: list[Path] = field(default_factory=list)
    prim: Any = field(default=None, repr=False)
    prim_box: Any = field(default=None, repr=False)

    @property
    def trajectory(self) -> pd.DataFrame:
        return pd.DataFrame([{k: v for k, v in b.to_dict().items() if k != "limits"} for b in self.boxes])

    @property
    def unstable(self) -> bool | None:
        return self.stability.get("unstable")

    def to_dict(self) -> dict:
        p = self.points
        return _clean({
            "format": "coherence-sim discovery",
            "format_version": 1,
            "source": p.source,
            "stages": p.stages,
            "outcome": self.outcome,
            "direction": self.direction,
            "threshold": self.threshold,
            "case_of_interest": _case_rule(self),
            "settings": self.settings.__dict__,
            "design_points": int(len(p.x)),
            "cases_of_interest": int(p.case.sum()),
            "runs": p.runs,
            "runs_failed": p.runs_failed,
            "replicates_per_point": list(p.replicates),
            "design_points_without_outcome": p.dropped_nan,
            "factors": list(p.x.columns),
            "fixed_factors": p.fixed,
            "box_rule": BOX_RULE,
            "chosen": dict(self.chosen.to_dict(), chosen_from=self.chosen_from,
                           unrestricted=[c for c in p.x.columns if c not in self.chosen.limits]),
            "stability": self.stability,
            "feature_scores": {k: float(v) for k, v in self.feature_scores.items()},
            "trajectory": [b.to_dict() for b in self.boxes],
            "answer": self.text,
        })


BOX_RULE = ("PRIM (EMA Workbench, peel_alpha/paste_alpha/mass_min as in settings) finds one box; on its peeling trajectory, "
            "among the boxes with coverage >= min_coverage, those with density within density_tolerance of the highest are "
            "kept, and of these the one restricting the fewest factors (then the highest coverage) is chosen; then every "
            "limit whose quasi-p value exceeds significance is released, the least significant first, until all are significant.")


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def discover(store: Any, outcome: str, above: float | None = None, below: float | None = None, *, out: str | Path | None = None,
             aggregate: str = "mean", share_min: float = 0.5, nan: str = "exclude", stage: str | None = None,
             min_coverage: float = 0.5, density_tolerance: float = 0.02, significance: float = 0.1,
             peel_alpha: float = 0.05, paste_alpha: float = 0.05, mass_min: float = 0.05,
             bootstrap: int = 50, match: float = 0.5, stable_share: float = 0.5, seed: int = 0,
             figures: bool = True, progress: Callable[[str], None] | None = None) -> Discovery:
    """Which factor ranges of a sweep or sensitivity store give ``outcome`` above ``above`` (or below ``below``)?

    ``store``: a sweep's folder, a sensitivity study's folder (its stores under ``runs/``; ``stage``
    keeps those whose name starts with it, e.g. ``"morris"``), one such store, or a runs DataFrame.
    ``outcome``: a column of the runs table, overall (``share_consistent``) or per district
    (``Diamond.share_consistent``). Replicates are aggregated per design point (``aggregate``, ``nan``:
    see :func:`experiments.discovery.load_points`). PRIM, the box rule (:data:`BOX_RULE`), the
    bootstrap (``bootstrap`` resamples; unstable when reproduced in fewer than ``stable_share``) and
    the feature scores are described in the package docstring. With ``out``, writes (only inside that
    folder, each file through a temporary file and ``os.replace``): answer.txt, boxes.json,
    trajectory.csv, points.csv, feature_scores.csv, peeling_trajectory.png and box.png."""
    if (above is None) == (below is None):
        raise DiscoveryError("above/below: give exactly one threshold: above=X (cases: outcome > X) or below=X (cases: outcome < X)")
    direction, threshold = ("above", above) if above is not None else ("below", below)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not math.isfinite(float(threshold)):
        raise DiscoveryError(f"{direction}: {threshold!r} is not allowed; allowed: a finite number")
    threshold = float(threshold)
    s = Settings(aggregate=aggregate, share_min=share_min, nan=nan, peel_alpha=peel_alpha, paste_alpha=paste_alpha, mass_min=mass_min,
                 min_coverage=min_coverage, density_tolerance=density_tolerance, significance=significance, bootstrap=bootstrap,
                 match=match, stable_share=stable_share, seed=seed)
    s.check()
    out_dir = _check_out(out)
    say = progress or (lambda msg: None)
    pts = load_points(store, outcome, threshold, direction, s, stage=stage)
    n_cases = int(pts.case.sum())
    if n_cases == 0 or n_cases == len(pts.case):
        v = pts.value.astype(float)
        what = "none" if n_cases == 0 else "every one"
        raise DiscoveryError(
            f"{direction}: {threshold:g} leaves {what} of the {len(pts.case)} design points of interest "
            f"({_value_label(s, outcome)} ranges from {v.min():.4g} to {v.max():.4g}"
            + (f"; {pts.dropped_nan} design point(s) without the outcome left out" if pts.dropped_nan else "")
            + "); choose a threshold inside that range so that some points are cases of interest and some are not")
    say(f"discover: PRIM on {len(pts.x)} design points, {n_cases} cases of interest, {pts.x.shape[1]} varied factors")
    found = _find(pts.x, pts.case, s)
    boxes = []
    for i in range(len(found.box.peeling_trajectory)):
        qp = found.box.p_values[i]
        boxes.append(Box(id=i, limits=_limits(found.box.box_lims[i], found.prim.box_init, qp), phase="peel" if i < found.n_peel else "release",
                         **_row(found.box, i)))
    chosen = replace(boxes[found.chosen], limits=found.limits)
    say(f"discover: {s.bootstrap} bootstrap resamples")
    stab = stability(pts.x, pts.case, found.limits, s)
    scores = feature_scores(pts.x, pts.case, s.seed)
    res = Discovery(outcome=outcome, direction=direction, threshold=threshold, settings=s, points=pts, boxes=boxes, chosen=chosen,
                    chosen_from=found.chosen_from, stability=stab, feature_scores=scores, prim=found.prim, prim_box=found.box)
    res.text = answer_text(res)
    if out_dir is not None:
        res.files = write_outputs(res, out_dir, figures=figures)
    return res


def default_out(store: str | Path, outcome: str, direction: str, threshold: float, root: str | Path = "results/discovery") -> Path:
    """The output folder the command line uses when none is given:
    ``results/discovery/<store folder>-<outcome>-<above|below>-<threshold>``."""
    name = Path(store).resolve().name if isinstance(store, (str, Path)) else "runs"
    return Path(root) / f"{name}-{outcome}-{direction}-{float(threshold):g}"


def _check_out(out: str | Path | None) -> Path | None:
    if out is None:
        return None
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise DiscoveryError(f"out {p}: exists and is not a folder")
    return p


# === the answer ===============================================================================
def _num(v: float) -> str:
    if v is None:
        return "?"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a == 0:
        return "0"
    return f"{v:.3g}"


def describe_limit(factor: str, lim: dict) -> str:
    """One restriction in words: ``a ≥ 0.6``, ``0.2 ≤ b ≤ 0.5``, ``c is true``, ``d in {x, y}``."""
    if "in" in lim:
        vals = lim["in"]
        if len(vals) == 1 and isinstance(vals[0], bool):
            return f"{factor} is {'true' if vals[0] else 'false'}"
        if len(vals) == 1:
            return f"{factor} = {vals[0]}"
        return f"{factor} in {{{', '.join(map(str, vals))}}}"
    lo, hi = lim.get("min"), lim.get("max")
    if lo is not None and hi is not None:
        return f"{_num(lo)} ≤ {factor} ≤ {_num(hi)}"
    if lo is not None:
        return f"{factor} ≥ {_num(lo)}"
    return f"{factor} ≤ {_num(hi)}"


def _value_label(s: Settings, outcome: str) -> str:
    if s.aggregate == "mean":
        return f"{outcome} pooled over replicates"
    return f"the share of replicates with {outcome} beyond the threshold"


def _case_rule(res: Discovery) -> str:
    s, o, d, t = res.settings, res.outcome, res.direction, res.threshold
    sign = ">" if d == "above" else "<"
    if s.aggregate == "mean":
        rule = f"{o} pooled over the design point's replicates (shares: ratio of sums, see experiments.api.OUTCOMES) {sign} {t:g}"
    else:
        rule = f"at least {s.share_min:g} of the design point's replicates (among those defining it) have {o} {sign} {t:g}"
    nan = ("design points where no replicate defines the outcome are left out" if s.nan == "exclude"
           else "design points where no replicate defines the outcome count as not of interest")
    return f"{rule}; {nan}"


def answer_text(res: Discovery) -> str:
    """The plain-language answer (a few sentences)."""
    p, c, s = res.points, res.chosen, res.settings
    n, k = len(p.x), int(p.case.sum())
    reps = f"{p.replicates[0]}" + (f"-{p.replicates[1]}" if p.replicates[1] != p.replicates[0] else "")
    subject = (f"{res.outcome} (pooled over {reps} replicate{'' if reps == '1' else 's'})" if s.aggregate == "mean"
               else f"{res.outcome} (in at least {s.share_min:.0%} of replicates)")
    lines = []
    if not c.limits:
        lines.append(f"No box separates the cases: {subject} is {res.direction} {res.threshold:g} in {k} of {n} design points "
                     f"({k / n:.0%}), and no restriction of the factors concentrates them (coverage 1, density {c.density:.2f}).")
    else:
        conds = " and ".join(describe_limit(f, c.limits[f]) for f in sorted(c.limits, key=lambda f: -res.feature_scores.get(f, 0.0)))
        lines.append(f"{subject} is {res.direction} {res.threshold:g} in {c.density:.0%} of the {c.n} design points with {conds} "
                     f"(coverage {c.coverage:.2f}, density {c.density:.2f}); over all {n} design points it is {res.direction} "
                     f"{res.threshold:g} in {k / n:.0%}.")
        free = [f for f in res.feature_scores.index if f not in c.limits]
        if free:
            top = free[:3]
            more = len(free) - len(top)
            names = top + ([f"{more} other factor" + ("s" if more > 1 else "")] if more else [])
            verb = "does" if len(names) == 1 and not more else "do"
            lines.append(f"{_join(names)} {verb} not restrict the box (the unrestricted factors with the highest feature scores first).")
    st = res.stability
    if st.get("bootstrap") and not c.limits:
        lines.append(f"In {st['reproduced']} of {st['bootstrap']} bootstrap resamples the search found no box either"
                     + (" (in the others it found one: the cases may hold a weak pattern)." if st["reproduced"] < st["bootstrap"] else "."))
    elif st.get("bootstrap"):
        verdict = f"UNSTABLE (reproduced in under {st['stable_share']:.0%} of the resamples)" if st["unstable"] else "stable"
        lines.append(f"The box reappeared in {st['reproduced']} of {st['bootstrap']} bootstrap resamples ({st['share']:.0%}; "
                     f"agreement on the design points held, Cohen's kappa ≥ {st['match']:g}): {verdict}.")
    top = res.feature_scores.head(5)
    lines.append("Feature scores (extra trees): " + ", ".join(f"{f} {v:.2f}" for f, v in top.items()) + ".")
    if p.dropped_nan:
        lines.append(f"{p.dropped_nan} design point(s) where no replicate defines {res.outcome} (nothing changed) were left out.")
    if p.runs_failed:
        lines.append(f"{p.runs_failed} failed run(s) were left out.")
    return "\n".join(lines)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# === writing ==================================================================================
def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file created in the same folder (``mkstemp``: O_EXCL, no symlink
    followed) and ``os.replace`` it onto ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes it 0600; the result is an ordinary file
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def write_outputs(res: Discovery, out: str | Path, *, figures: bool = True) -> list[Path]:
    """Write the answer, the JSON, the tables and the figures into ``out`` (created if needed)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    data = res.to_dict()
    written.append(_atomic(out / "answer.txt", lambda p: p.write_text(res.text + "\n", encoding="utf-8")))
    written.append(_atomic(out / "boxes.json", lambda p: p.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")))
    written.append(_atomic(out / "trajectory.csv", lambda p: res.trajectory.to_csv(p, index=False)))
    pts = res.points.x.copy()
    pts.insert(0, "value", res.points.value.to_numpy())
    pts.insert(1, "case_of_interest", res.points.case)
    pts["in_chosen_box"] = inside(res.points.x, res.chosen.limits)
    written.append(_atomic(out / "points.csv", lambda p: pts.to_csv(p)))
    written.append(_atomic(out / "feature_scores.csv", lambda p: res.feature_scores.rename_axis("factor").to_csv(p)))
    if figures:
        from .figures import box_figure, trajectory_figure

        written.append(_atomic(out / "peeling_trajectory.png", lambda p: trajectory_figure(res, p)))
        written.append(_atomic(out / "box.png", lambda p: box_figure(res, p)))
    return written
