"""Morris screening of every factor (SALib), and the rule that selects the groups Sobol' varies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np
import pandas as pd
from ..execution.provenance import content_hash
from .engine import _Engine, _load_runs
from .factors import FactorSpace
from .outputs import noise_table, output_columns, replicate_means, runs_to_arrays
from .spec import SensitivityError, SensitivitySpec


@dataclass
class MorrisResult:
    """Morris screening: ``indices`` (one row per output x factor), ``selection`` (per group)."""

    indices: pd.DataFrame
    selection: pd.DataFrame
    noise: pd.DataFrame
    selected_groups: list[str]
    n_runs: int
    store: Path | None = None
    salib: dict = field(default_factory=dict, repr=False)


def morris_design(space_or_problem, trajectories: int, levels: int, seed: int) -> np.ndarray:
    from SALib.sample import morris as morris_sample

    problem = space_or_problem.problem(grouped=False) if isinstance(space_or_problem, FactorSpace) else space_or_problem
    return morris_sample.sample(problem, trajectories, num_levels=levels, seed=seed)


def morris_indices(problem: dict, X: np.ndarray, Y: np.ndarray, labels: Sequence[str], *, levels: int, num_resamples: int,
                   conf_level: float, seed: int) -> tuple[pd.DataFrame, dict]:
    """SALib Morris on given samples and replicate-mean outputs (via ProblemSpec.set_samples/set_results)."""
    from SALib import ProblemSpec

    frames, raw = [], {}
    for j, lab in enumerate(labels):
        sp = ProblemSpec({k: v for k, v in problem.items() if k != "groups"})
        sp.set_samples(np.asarray(X, float))
        sp.set_results(np.asarray(Y[:, j], float))
        sp.analyze_morris(num_resamples=num_resamples, conf_level=conf_level, num_levels=levels, seed=seed)
        Si = sp.analysis
        raw[lab] = Si
        df = pd.DataFrame({"output": lab, "factor": list(problem["names"]), "mu": np.asarray(Si["mu"], float),
                           "mu_star": np.asarray(Si["mu_star"], float), "sigma": np.asarray(Si["sigma"], float),
                           "mu_star_conf": np.asarray(Si["mu_star_conf"], float)})
        top = df["mu_star"].max()
        df["mu_star_norm"] = df["mu_star"] / top if top > 0 else 0.0
        df["mu_star_conf_norm"] = df["mu_star_conf"] / top if top > 0 else 0.0
        frames.append(df)
    return pd.concat(frames, ignore_index=True), raw


def select_groups(indices: pd.DataFrame, groups: Mapping[str, str], *, threshold: float, max_groups: int,
                  always: Sequence[str] = ()) -> pd.DataFrame:
    """The selection rule: a group's score is its members' largest mu*/max(mu*) over every output;
    keep the ``always`` groups, then groups with score >= threshold by score, at most ``max_groups``."""
    df = indices.assign(group=indices["factor"].map(groups))
    score = df.groupby("group", sort=False)["mu_star_norm"].max()
    order = sorted(score.index, key=lambda g: (g not in always, -score[g]))
    rows, kept = [], 0
    for g in order:
        if g in always:
            sel, why = True, "always (a factor of the question)"
        elif score[g] >= threshold and kept < max_groups:
            sel, why = True, f"score {score[g]:.2f} >= {threshold}"
        elif score[g] >= threshold:
            sel, why = False, f"score {score[g]:.2f} >= {threshold} but max_groups = {max_groups} reached"
        else:
            sel, why = False, f"score {score[g]:.2f} < {threshold}"
        kept += sel
        rows.append({"group": g, "score": float(score[g]), "selected": sel, "why": why,
                     "factors": ", ".join(k for k, v in groups.items() if v == g)})
    return pd.DataFrame(rows)


def run_morris(spec: SensitivitySpec, out_dir: str | Path, *, workers=None, scheduler=None, quiet: bool = False,
               _engine: _Engine | None = None) -> MorrisResult:
    """Morris screening of every factor of ``spec`` (runs stored under ``out_dir/runs``)."""
    space = _engine.space if _engine is not None else FactorSpace(spec)
    engine = _engine or _Engine(space, spec.study.replicates, spec.study.seed, workers, scheduler, quiet)
    try:
        m = spec.morris
        prob = space.problem(grouped=False)
        always = [g for g in m.always]
        bad = [g for g in always if g not in space.group_names]
        if bad:
            raise SensitivityError(f"morris.always: unknown group(s) {', '.join(bad)}; allowed: {', '.join(space.group_names)}")
        X = morris_design(prob, m.trajectories, m.levels, m.seed)
        k = len(space.names)
        per_traj = k + 1
        traj_chunk = max(1, min(m.trajectories, spec.study.chunk_runs // (per_traj * spec.study.replicates)))
        while m.trajectories % traj_chunk:
            traj_chunk -= 1
        plan = {"stage": "morris", "mapping": space.describe(), "trajectories": m.trajectories, "levels": m.levels,
                "design_seed": m.seed, "replicates": spec.study.replicates, "seed": spec.study.seed, "chunk_rows": traj_chunk * per_traj}
        root = Path(out_dir) / "runs" / f"morris-{content_hash(plan)[:10]}"
        engine.ensure(root, plan, X, traj_chunk * per_traj, "morris")
        cols = output_columns(spec.study.outputs, engine.districts)
        runs = _load_runs(root, len(X), spec.study.replicates, [c[1] for c in cols] + [c[2] for c in cols])
        Yr, W = runs_to_arrays(runs, len(X), spec.study.replicates, cols)
        Y, imputed = replicate_means(Yr, W)
        labels = [c[0] for c in cols]
        idx, raw = morris_indices(prob, X, Y, labels, levels=m.levels, num_resamples=m.num_resamples, conf_level=m.conf_level, seed=m.seed)
        idx.insert(2, "group", idx["factor"].map(dict(zip(space.names, space.groups))))
        sel = select_groups(idx, dict(zip(space.names, space.groups)), threshold=m.threshold, max_groups=m.max_groups, always=always)
        return MorrisResult(indices=idx, selection=sel, noise=noise_table(Yr, Y, labels, imputed),
                            selected_groups=[g for g in space.group_names if g in set(sel.loc[sel["selected"], "group"])],
                            n_runs=len(X) * spec.study.replicates, store=root, salib=raw)
    finally:
        if _engine is None:
            engine.close()
