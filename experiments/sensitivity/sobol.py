"""Sobol' indices (first, total, second order) with N doubling until the confidence intervals stop
moving; the N design is a prefix of the 2N design, so every run is reused."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import numpy as np
import pandas as pd
from ..execution.provenance import content_hash
from .engine import _Engine, _load_runs
from .factors import FactorSpace
from .outputs import noise_table, output_columns, replicate_means, runs_to_arrays
from .spec import SensitivityError, SensitivitySpec


@dataclass
class SobolRun:
    """The doubling's outcome for any evaluator: indices at the final N, their history, the data."""

    indices: pd.DataFrame
    second_order: pd.DataFrame
    history: pd.DataFrame
    noise: pd.DataFrame
    N: int
    converged: bool
    X: np.ndarray
    Yr: np.ndarray
    W: np.ndarray
    Y: np.ndarray
    imputed: np.ndarray
    labels: list[str]
    problem: dict
    salib: dict = field(default_factory=dict, repr=False)


def sobol_design(problem: dict, N: int, *, second_order: bool, seed: int) -> np.ndarray:
    """Saltelli design from the first N points of one scrambled Sobol' sequence (SALib)."""
    from SALib.sample import sobol as sobol_sample

    return sobol_sample.sample(problem, N, calc_second_order=second_order, scramble=True, seed=seed)


def rows_per_base(problem: dict, second_order: bool) -> int:
    g = len(dict.fromkeys(problem.get("groups") or problem["names"]))
    return 2 * g + 2 if second_order else g + 2


def sobol_indices(problem: dict, X: np.ndarray, Y: np.ndarray, labels: Sequence[str], *, second_order: bool,
                  num_resamples: int, conf_level: float, seed: int, N: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """SALib Sobol' analysis of replicate-mean outputs (ProblemSpec.set_samples/set_results), as
    DataFrames: (output, group, S1, S1_conf, ST, ST_conf) and (output, group_a, group_b, S2, S2_conf).
    A constant output gets zero indices (SALib would divide by its zero variance)."""
    from SALib import ProblemSpec

    names = list(dict.fromkeys(problem.get("groups") or problem["names"]))
    first, second, raw = [], [], {}
    for j, lab in enumerate(labels):
        y = np.asarray(Y[:, j], float)
        if np.ptp(y) <= 1e-12 * max(1.0, abs(float(y.mean()))):
            z = np.zeros(len(names))
            first.append(pd.DataFrame({"output": lab, "group": names, "S1": z, "S1_conf": z, "ST": z, "ST_conf": z}))
            if second_order:
                for a in range(len(names)):
                    for b in range(a + 1, len(names)):
                        second.append({"output": lab, "group_a": names[a], "group_b": names[b], "S2": 0.0, "S2_conf": 0.0})
            continue
        sp = ProblemSpec(dict(problem))
        sp.set_samples(np.asarray(X, float))
        sp.set_results(y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sp.analyze_sobol(calc_second_order=second_order, num_resamples=num_resamples, conf_level=conf_level, seed=seed)
        Si = sp.analysis
        raw[lab] = Si
        first.append(pd.DataFrame({"output": lab, "group": names, "S1": np.asarray(Si["S1"], float), "S1_conf": np.asarray(Si["S1_conf"], float),
                                   "ST": np.asarray(Si["ST"], float), "ST_conf": np.asarray(Si["ST_conf"], float)}))
        if second_order:
            S2, C2 = np.asarray(Si["S2"], float), np.asarray(Si["S2_conf"], float)
            for a in range(len(names)):
                for b in range(a + 1, len(names)):
                    second.append({"output": lab, "group_a": names[a], "group_b": names[b], "S2": S2[a, b], "S2_conf": C2[a, b]})
    fo = pd.concat(first, ignore_index=True)
    so = pd.DataFrame(second, columns=["output", "group_a", "group_b", "S2", "S2_conf"])
    if N is not None:
        fo.insert(0, "N", N)
        so.insert(0, "N", N)
    return fo, so, raw


def ci_movement(prev: pd.DataFrame, cur: pd.DataFrame) -> float:
    """Largest move of an S1 or ST confidence-interval endpoint (index -/+ conf) between two analyses."""
    m = prev.merge(cur, on=["output", "group"], suffixes=("_a", "_b"))
    moves = []
    for s in ("S1", "ST"):
        for sign in (-1, 1):
            a = m[f"{s}_a"] + sign * m[f"{s}_conf_a"]
            b = m[f"{s}_b"] + sign * m[f"{s}_conf_b"]
            moves.append(np.abs(b - a).to_numpy())
    v = np.concatenate(moves)
    v = v[np.isfinite(v)]
    return float(v.max()) if len(v) else float("nan")


def sobol_doubling(problem: dict, evaluate: Callable[[np.ndarray, int], Any], *, labels: Sequence[str], n_start: int, n_max: int,
                   second_order: bool = True, seed: int = 12, tolerance: float = 0.03, num_resamples: int = 200,
                   conf_level: float = 0.95, analysis_seed: int = 7, on_step: Callable[[int, float], None] | None = None) -> SobolRun:
    """Sobol' indices with N doubling from ``n_start`` until the S1/ST confidence intervals stop
    moving (:func:`ci_movement` <= ``tolerance`` between N/2 and N) or N = ``n_max``.

    ``evaluate(X_new, first_row)`` gets only the design rows not evaluated before (the N design is
    a prefix of the 2N design) and returns per-replicate values ``(rows, replicates, outputs)``, or a
    pair ``(values, weights)`` for outputs that are ratios pooled over replicates.
    """
    if n_start & (n_start - 1) or n_max & (n_max - 1) or n_max < n_start:
        raise SensitivityError(f"sobol: n_start ({n_start}) and n_max ({n_max}) must be powers of two with n_start <= n_max")
    N = n_start
    X = np.empty((0, problem["num_vars"]))
    Yr_parts, W_parts = [], []
    history, prev, converged = [], None, False
    while True:
        Xn = sobol_design(problem, N, second_order=second_order, seed=seed)
        if len(X) and not np.array_equal(Xn[: len(X)], X):
            raise SensitivityError("sobol: the N design is not a prefix of the 2N design (SALib/scipy changed?); runs cannot be reused")
        new = Xn[len(X):]
        out = evaluate(new, len(X))
        yr, w = out if isinstance(out, tuple) else (out, None)
        yr = np.asarray(yr, float)
        if yr.ndim == 2:
            yr = yr[:, None, :]
        Yr_parts.append(yr)
        W_parts.append(np.ones_like(yr) if w is None else np.asarray(w, float).reshape(yr.shape))
        X = Xn
        Yr, W = np.concatenate(Yr_parts), np.concatenate(W_parts)
        Y, imputed = replicate_means(Yr, W)
        fo, so, raw = sobol_indices(problem, X, Y, labels, second_order=second_order, num_resamples=num_resamples,
                                    conf_level=conf_level, seed=analysis_seed, N=N)
        move = ci_movement(prev, fo) if prev is not None else float("nan")
        history.append(fo.assign(movement=move))
        if on_step is not None:
            on_step(N, move)
        if prev is not None and np.isfinite(move) and move <= tolerance:
            converged = True
            break
        if N >= n_max:
            break
        prev = fo
        N *= 2
    return SobolRun(indices=fo.drop(columns="N").assign(N=N), second_order=so.drop(columns="N").assign(N=N),
                    history=pd.concat(history, ignore_index=True), noise=noise_table(Yr, Y, labels, imputed), N=N,
                    converged=converged, X=X, Yr=Yr, W=W, Y=Y, imputed=imputed, labels=list(labels), problem=problem, salib=raw)


@dataclass
class SobolResult:
    """Sobol' indices of the model (DataFrames), with the doubling history, noise and types."""

    indices: pd.DataFrame
    second_order: pd.DataFrame
    history: pd.DataFrame
    noise: pd.DataFrame
    types: pd.DataFrame
    type_means: pd.DataFrame
    N: int
    converged: bool
    groups: list[str]
    factors: list[str]
    n_runs: int
    store: Path | None = None
    natural: pd.DataFrame | None = field(default=None, repr=False)
    Y: np.ndarray | None = field(default=None, repr=False)
    labels: list[str] = field(default_factory=list)
    salib: dict = field(default_factory=dict, repr=False)


def run_sobol(spec: SensitivitySpec, out_dir: str | Path, *, groups: Sequence[str] | None = None, workers=None, scheduler=None,
              quiet: bool = False, _engine: _Engine | None = None) -> SobolResult:
    """Sobol' indices of ``groups`` (default: every group) of ``spec``; the other factors stay at
    their nominal values. Runs are stored under ``out_dir/runs`` and reused by later calls."""
    space = _engine.space if _engine is not None else FactorSpace(spec)
    engine = _engine or _Engine(space, spec.study.replicates, spec.study.seed, workers, scheduler, quiet)
    try:
        groups = list(space.group_names if groups is None else groups)
        if len(groups) < 2:
            raise SensitivityError(f"sobol: needs at least two groups, got {groups}")
        names = space.members(groups)
        prob = space.problem(names)
        s = spec.sobol
        n_replicates = spec.study.replicates
        step = rows_per_base(prob, s.second_order)
        m = 1
        while m * 2 <= s.n_start and (m * 2) * step * n_replicates <= spec.study.chunk_runs:
            m *= 2
        plan = {"stage": "sobol", "mapping": space.describe(), "varied": names, "groups": prob["groups"], "second_order": s.second_order,
                "design_seed": s.seed, "replicates": n_replicates, "seed": spec.study.seed, "chunk_rows": m * step}
        root = Path(out_dir) / "runs" / f"sobol-{content_hash(plan)[:10]}"
        cols = output_columns(spec.study.outputs, engine.districts)
        labels = [c[0] for c in cols]
        designs: list[np.ndarray] = []

        def evaluate(Xnew: np.ndarray, first: int):
            Xall = np.concatenate(designs + [Xnew]) if designs else Xnew
            designs.append(Xnew)
            U = space.full(Xall, names)
            engine.ensure(root, plan, U, m * step, f"sobol N={len(U) // step}")
            runs = _load_runs(root, len(U), n_replicates, [c[1] for c in cols] + [c[2] for c in cols])
            Yr, W = runs_to_arrays(runs, len(U), n_replicates, cols)
            return Yr[first:], W[first:]

        def step_note(N, move):
            if not engine.quiet:
                mv = "" if not np.isfinite(move) else f"; largest CI move since N/2: {move:.3f} (tolerance {s.tolerance})"
                print(f"sensitivity: Sobol' N = {N} ({N * step * n_replicates} runs){mv}", flush=True)

        res = sobol_doubling(prob, evaluate, labels=labels, n_start=s.n_start, n_max=s.n_max, second_order=s.second_order, seed=s.seed,
                             tolerance=s.tolerance, num_resamples=s.num_resamples, conf_level=s.conf_level, on_step=step_note)
        natural = space.natural(space.full(res.X, names))
        groups_of = dict(zip(space.names, space.groups))
        usable = {t: c for t, c in spec.types.items() if all(groups_of.get(k) in groups for k in c if k in groups_of)}
        from .types import type_indices

        tix, tmeans = type_indices(res, natural, usable, groups_of, num_resamples=s.num_resamples, conf_level=s.conf_level)
        return SobolResult(indices=res.indices, second_order=res.second_order, history=res.history, noise=res.noise, types=tix,
                           type_means=tmeans, N=res.N, converged=res.converged, groups=groups, factors=names,
                           n_runs=len(res.X) * n_replicates, store=root, natural=natural, Y=res.Y, labels=labels, salib=res.salib)
    finally:
        if _engine is None:
            engine.close()
