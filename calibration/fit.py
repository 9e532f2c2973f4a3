"""ABC-SMC calibration of the four-district case against the report's findings (pyabc).

Python API (``coherence-sim calibrate`` calls exactly this)::

    from calibration.fit import calibrate
    result = calibrate("quick", "results/calibration/quick")      # deterministic, < 2 min, 1 core
    result = calibrate("full", "results/calibration/full", scheduler="processes", workers=2,
                       write_defaults=True)                        # the real study
    result.stages["final"].median()       # the posterior point estimate (weighted marginal medians)

What it does (details in the module docstrings of calibration/priors.py, distance.py, simulator.py):

1. **Split fit.** ABC-SMC over the free parameters that the fitted evidence depends on
   (``informs = "fit"`` in priors.toml), with the distance of the split's ``fit`` set (Tables 2-3
   and consistency, calibration/data/split.toml). The parameters only held-out evidence depends on
   keep their prior (their split posterior IS their prior: the fitted summaries do not depend on
   them).
2. **Out-of-sample test.** Posterior predictive runs of the split fit are compared with the held-out
   evidence (Table 4, Table 5, end-of-run continuity, depth, timing) - next to the prior predictive
   and the hand-set defaults.
3. **Final fit.** ABC-SMC over every free parameter with the distance of the ``final`` set (all
   evidence). Its posterior's weighted marginal medians become the model's defaults
   (experiments/evidence/data/calibrated.toml, with ``write_defaults``), and 1,000 equal-weight draws are
   stored for ``coherence-sim case --posterior``.
4. **Report.** Posterior marginals and pairs against the priors, posterior predictive Tables 2-5
   with 90% intervals beside the observed counts, facts, a Markdown page (calibration/report.py).

ABC-SMC (Toni et al. 2009; Beaumont et al. 2009) as implemented by pyabc: each generation proposes
parameters from the previous population - a defensive mixture of pyabc's Gaussian kernel density
estimate (70%) and one heavy-tailed multivariate t fitted to the population (30%), which keeps the
importance weights from degenerating in 11-16 dimensions (calibration/abc_parts.py) - simulates one
run per proposal, accepts it when its distance is at most epsilon, and importance-weights the accepted
particles by prior / proposal density. Epsilon is the weighted median of the previous population's
distances (pyabc's ``QuantileEpsilon``, alpha = 0.5). Parameters are sampled on the scale
``z = Phi^-1(F(x))`` (F the prior CDF): the prior is standard normal there and no proposal falls
outside the prior's bounds. Distances are integers (elements out of place), so epsilon moves in
whole steps and can repeat.

Stopping (per stage, :class:`Budget`): the number of generations, the number of simulations
(checked after each generation, so the last generation can overshoot), the acceptance rate falling
below its minimum, and (full budget) a wall-clock limit per stage - also before a generation that
is predicted, from the last generation's throughput and acceptance rate, to end after it.

Reproducibility. With ``scheduler="single"`` (pyabc's SingleCoreSampler; the quick budget's
default) a calibration is bit-for-bit reproducible for a fixed seed: pyabc draws from numpy's
global generator, seeded here per stage, and every simulation is seeded from the root seed and its
parameter values (calibration/simulator.py). Under the parallel samplers (``processes``, ``dask``,
``tcp://...``) pyabc reseeds each worker from the operating system and accepts particles in
completion order (pyabc issues #392, #400), so populations differ between runs - but every single
simulation remains a deterministic function of (seed, parameters), and the posterior predictive runs
(``run_draws``, design point 0, replicate j) are reproducible given the stored posterior. A resumed
calibration is not bit-identical to an uninterrupted one.

The SQLite histories (``DIR/history_fit.db``, ``DIR/history_final.db``) keep every generation; an
interrupted calibration continues from its last finished generation with ``resume=True``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.execution.files import write_text
from experiments.numerics import weighted_quantile
from sim import Parameters

from .distance import Evidence, Split, load_split
from .priors import PriorSet, load_priors
from .rejuvenate import kish_ess

__all__ = [
    "BUDGETS",
    "DEFAULT_SEED",
    "Budget",
    "CalibrationResult",
    "StageResult",
    "calibrate",
    "run_stage",
    "weighted_quantile",
]

DEFAULT_SEED = 20201
#: Format version of calibration.json and calibrated.toml.
FORMAT_VERSION = 1
#: Spawn keys that separate the calibration's random streams from the case's (design points 0, 1, ...).
_STAGE_KEY = {"fit": 2**31 - 11, "final": 2**31 - 12}
_DRAWS_KEY = 2**31 - 13

ProgressFn = Callable[[dict], None]


@dataclass(frozen=True)
class Budget:
    """How much a calibration may spend, per stage (split fit, final fit)."""

    name: str
    population: int
    max_generations: int
    max_simulations: int
    min_acceptance_rate: float
    max_walltime_s: tuple[float, float] | None  # (split fit, final fit)
    predictive_draws: int
    scheduler: str
    stored_draws: int = 1000
    epsilon_quantile: float = 0.5
    defensive: float = 0.1
    write_defaults: bool = False
    rejuvenate_moves: int = 40  # resample-move sweeps at most (calibration/rejuvenate.py); 0: none
    min_ess_share: float = 0.2  # the posterior is the last generation whose importance-sampling ESS is at least this share of the population
    proposal: str = "gaussian"  # main proposal component: "gaussian" (fitted to the population) or "kde"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def walltime(self, stage: str) -> float | None:
        """The wall-clock limit of one stage in seconds (None: none)."""
        if self.max_walltime_s is None:
            return None
        return float(self.max_walltime_s[0 if stage == "fit" else 1])


BUDGETS: dict[str, Budget] = {
    # For tests and CI: deterministic (single core), about a minute in all.
    "quick": Budget(
        "quick", population=100, max_generations=4, max_simulations=1_500, min_acceptance_rate=0.05,
        max_walltime_s=None, predictive_draws=150, scheduler="single", stored_draws=400, rejuvenate_moves=8,
    ),
    # The real study: <= 30 min on 2 cores (benchmarks/bench_calibration.py).
    "full": Budget(
        "full", population=1500, max_generations=30, max_simulations=250_000, min_acceptance_rate=0.03,
        max_walltime_s=(10.5 * 60, 15 * 60), predictive_draws=1000, scheduler="processes", write_defaults=True,
        defensive=0.1, rejuvenate_moves=60,
    ),}


def resolve_budget(budget: str | Budget) -> Budget:
    if isinstance(budget, Budget):
        return budget
    if budget not in BUDGETS:
        raise ValueError(f"--budget: {budget!r} is not allowed; allowed: {', '.join(BUDGETS)}")
    return BUDGETS[budget]


# --------------------------------------------------------------------------------------------
# Weighted statistics
# --------------------------------------------------------------------------------------------


def systematic_resample(w: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` equal-weight draws from weights ``w`` (systematic resampling)."""
    c = np.cumsum(np.asarray(w, dtype=float))
    c /= c[-1]
    u = (rng.random() + np.arange(n)) / n
    idx = np.searchsorted(c, u, side="right")
    idx = np.minimum(idx, len(c) - 1)
    return rng.permutation(idx)


# --------------------------------------------------------------------------------------------
# One ABC-SMC stage
# --------------------------------------------------------------------------------------------


@dataclass
class StageResult:
    """One ABC-SMC run: its final population (natural scale) and how it got there."""

    name: str
    evidence: Evidence
    priors: PriorSet
    db: Path
    particles: pd.DataFrame  # one column per free parameter (natural scale), plus weight, distance
    populations: pd.DataFrame  # t, epsilon, samples, particles, acceptance_rate, wall_time_s
    n_simulations: int
    sampling_wall_time_s: float
    stop_reason: str
    sampler: str
    deterministic: bool
    rejuvenation: dict | None = None  # the resample-move step that gave ``particles`` (calibration/rejuvenate.py)

    @property
    def names(self) -> tuple[str, ...]:
        return self.priors.names

    @property
    def weights(self) -> np.ndarray:
        w = self.particles["weight"].to_numpy(dtype=float)
        return w / w.sum()

    @property
    def final_epsilon(self) -> float:
        return float(self.populations["epsilon"].iloc[-1])

    @property
    def generations(self) -> int:
        return int((self.populations["t"] >= 0).sum())

    @property
    def effective_sample_size(self) -> float:
        return kish_ess(self.weights)

    def median(self) -> dict[str, float]:
        """The point estimate: weighted marginal posterior medians."""
        return {n: weighted_quantile(self.particles[n], self.weights, 0.5) for n in self.names}

    def interval(self, level: float = 0.9) -> dict[str, tuple[float, float]]:
        a = (1 - level) / 2
        return {n: tuple(weighted_quantile(self.particles[n], self.weights, [a, 1 - a])) for n in self.names}

    def resample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """n equal-weight draws (rows) of the free parameters."""
        idx = systematic_resample(self.weights, n, rng)
        return self.particles.iloc[idx][list(self.names)].reset_index(drop=True)

    def contraction(self, level: float = 0.9) -> dict[str, float]:
        """1 - (posterior interval width / prior interval width), on the prior's CDF scale.

        0: the data say nothing about the parameter; 1: they pin it down completely. Measured on
        u = F(x) (F the prior CDF) so that uniform and log-uniform priors compare alike."""
        a = (1 - level) / 2
        out = {}
        for p in self.priors.free:
            u = p.cdf(self.particles[p.name].to_numpy())
            lo, hi = weighted_quantile(u, self.weights, [a, 1 - a])
            out[p.name] = float(1.0 - (hi - lo) / level)
        return out

    def summary(self) -> dict[str, Any]:
        med, iv, con = self.median(), self.interval(), self.contraction()
        return {
            "evidence": list(self.evidence.names),
            "parameters": list(self.names),
            "db": str(self.db),
            "sampler": self.sampler,
            "deterministic": self.deterministic,
            "n_simulations": self.n_simulations,
            "generations": self.generations,
            "final_epsilon": self.final_epsilon,
            "final_acceptance_rate": float(self.populations["acceptance_rate"].iloc[-1]),
            "effective_sample_size": self.effective_sample_size,
            "rejuvenation": self.rejuvenation,
            "population": int(len(self.particles)),
            "sampling_wall_time_s": round(self.sampling_wall_time_s, 2),
            "stop_reason": self.stop_reason,
            "epsilon_trajectory": [float(e) for e in self.populations.loc[self.populations["t"] >= 0, "epsilon"]],
            "acceptance_trajectory": [float(a) for a in self.populations.loc[self.populations["t"] >= 0, "acceptance_rate"]],
            "posterior": {
                n: {"median": med[n], "p05": iv[n][0], "p95": iv[n][1], "contraction": con[n]} for n in self.names
            },
        }


def _stage_seed(seed: int, stage: str) -> int:
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(_STAGE_KEY[stage],))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def run_stage(
    name: str,
    evidence: Evidence,
    priors: PriorSet,
    budget: Budget,
    db_path: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    scheduler: str = "single",
    workers: int | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    observed: dict[str, np.ndarray] | None = None,
) -> StageResult:
    """Run (or continue) one ABC-SMC calibration with pyabc; the history goes to ``db_path``.

    ``name`` is "fit" or "final" (it picks the stage's random stream). ``observed`` (count arrays)
    is stored in the history as pyabc's observed summary statistics, for the record; the distance
    itself is ``evidence`` (which holds every allowed reading).
    """
    import pyabc

    from .abc_parts import DefensiveTransition, make_sampler, normal_prior
    from .simulator import CaseSimulator, SamplerScaleSimulator

    if name not in _STAGE_KEY:
        raise ValueError(f"stage: {name!r} is not one of: {', '.join(_STAGE_KEY)}")
    for lg in ("ABC", "ABC.Sampler", "ABC.History", "ABC.Distance", "ABC.Epsilon", "ABC.Population", "ABC.Transition"):
        logging.getLogger(lg).setLevel(logging.ERROR)
    db_path = Path(db_path)
    marker = db_path.with_suffix(".json")
    if db_path.exists() and not resume:
        raise ValueError(f"{db_path}: a calibration history exists; continue it with --resume, or choose another --out")
    if db_path.exists():
        check_history(db_path)  # a damaged file is an error, never a history to delete and restart
    db_path.parent.mkdir(parents=True, exist_ok=True)
    url = "sqlite:///" + str(db_path.resolve())
    z_names = [f"z_{n}" for n in priors.names]
    model = SamplerScaleSimulator(priors, CaseSimulator(priors.names, seed))
    try:
        state = json.loads(marker.read_text()) if marker.exists() else {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{marker}: cannot be read ({exc}); the calibration's record of this stage is damaged: "
                         "restore it from a copy, or start again in a new --out") from None
    if state.get("complete"):
        return _stage_result(name, evidence, priors, db_path, state, min_ess=budget.min_ess_share * budget.population)

    sampler, close, desc = make_sampler(scheduler, workers)
    abc = pyabc.ABCSMC(
        model,
        normal_prior(z_names),
        evidence,
        population_size=budget.population,
        transitions=DefensiveTransition(defensive=budget.defensive, main=budget.proposal),
        eps=pyabc.QuantileEpsilon(alpha=budget.epsilon_quantile),
        sampler=sampler,
    )
    started = time.perf_counter()
    unrecorded = int(state.get("unrecorded_simulations", 0))
    resumed = False
    try:
        resumed = bool(db_path.exists() and resume and _has_populations(url))
        if db_path.exists() and not resumed:
            db_path.unlink()  # interrupted before its first generation: nothing to continue
        if resumed:
            history = abc.load(url, 1)
        else:
            s = _stage_seed(seed, name)
            np.random.seed(s)
            random.seed(s)
            history = abc.new(
                url,
                observed or {},
                meta_info={"stage": name, "seed": int(seed), "evidence": ",".join(evidence.names), "budget": budget.name},
            )
        done = history.max_t + 1
        remaining = budget.max_generations - done
        limit = budget.walltime(name)
        reason = f"reached the maximum of {budget.max_generations} generations"
        if remaining > 0 and history.total_nr_simulations < budget.max_simulations:
            t = abc.initialize_components_before_run(
                minimum_epsilon=0.0,
                max_nr_populations=remaining,
                min_acceptance_rate=budget.min_acceptance_rate,
                max_total_nr_simulations=budget.max_simulations,
                max_walltime=None if limit is None else timedelta(seconds=limit),
                min_eps_diff=0.0,
            )
            while True:
                ret = abc.run_generation(t=t)
                if not ret["successful"]:
                    unrecorded += int(getattr(abc.sampler, "nr_evaluations_", 0) or 0)
                    reason = (
                        f"generation {t} stopped: acceptance rate below {budget.min_acceptance_rate:g} "
                        f"(more than {budget.population / budget.min_acceptance_rate:.0f} simulations for "
                        f"{budget.population} particles); kept generation {t - 1}"
                    )
                    break
                acc = ret["acceptance_rate"]
                if progress is not None:
                    progress({
                        "stage": name, "generation": t, "epsilon": float(abc.eps(t)), "acceptance_rate": float(acc),
                        "simulations": int(history.total_nr_simulations), "elapsed_s": time.perf_counter() - started,
                    })
                if abc.check_terminate(t=t, acceptance_rate=acc):
                    reason = _why_stopped(abc, budget, limit, t, acc, history.total_nr_simulations, started)
                    break
                if limit is not None:
                    # pyabc checks the wall-clock limit only between generations; stop now if the
                    # next generation (acceptance assumed to fall to 60% of this one's) would end
                    # after the limit at this generation's simulation throughput.
                    sims = max(1, int(getattr(abc.sampler, "nr_evaluations_", 0) or 1))
                    rate = sims / max(1e-9, float(ret.get("timings", {}).get("simulation", 0.0)) or 1e-9)
                    need = budget.population / max(0.6 * acc, budget.min_acceptance_rate) / rate
                    elapsed = time.perf_counter() - started
                    if elapsed + need > limit:
                        reason = (f"the next generation (about {need:.0f} s) would end after the wall-clock limit "
                                  f"({limit:.0f} s; {elapsed:.0f} s used)")
                        break
                t += 1
        else:
            reason = "budget already spent by the stored history"
    finally:
        try:
            abc.history.done()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        try:
            abc.sampler.stop()
        finally:
            close()
    wall = time.perf_counter() - started
    state = {
        "complete": True,
        "stage": name,
        "stop_reason": reason,
        "sampler": desc,
        "deterministic": scheduler == "single" and not resumed,
        "unrecorded_simulations": unrecorded,
        "wall_time_s": float(state.get("wall_time_s", 0.0)) + wall,
    }
    write_text(marker, json.dumps(state, indent=2), root=marker.parent)
    return _stage_result(name, evidence, priors, db_path, state, min_ess=budget.min_ess_share * budget.population)


def rejuvenate_stage(stage: StageResult, path: Path, *, seed: int, workers: int | None, max_moves: int,
                     progress: ProgressFn | None = None) -> StageResult:
    """The stage with its final population resampled and moved (calibration/rejuvenate.py); the
    moved particles are kept in ``path`` (CSV) with their diagnostics beside it (JSON), so a resumed
    calibration reads them back instead of moving again."""
    import dataclasses

    from .rejuvenate import rejuvenate

    info = path.with_suffix(".json")
    if path.exists() and info.exists():
        diag = json.loads(info.read_text())
        return dataclasses.replace(stage, particles=pd.read_csv(path), rejuvenation=diag)
    r = rejuvenate(stage, seed=seed, workers=workers, max_moves=max_moves, progress=progress)
    diag = r.to_dict()
    # the particles before their diagnostics: the JSON is the sign that both are whole
    write_text(path, r.particles.to_csv(index=False, lineterminator="\n"), root=path.parent)
    write_text(info, json.dumps(diag, indent=2), root=path.parent)
    return dataclasses.replace(stage, particles=r.particles, rejuvenation=diag,
                               n_simulations=stage.n_simulations + r.n_simulations)


def check_history(db_path: str | Path) -> None:
    """Refuse a damaged calibration history (not SQLite, truncated, corrupted, not pyabc's) with
    one paragraph naming the file, instead of SQLAlchemy's traceback or a silent restart."""
    import sqlite3

    db_path = Path(db_path)
    what = None
    try:
        con = sqlite3.connect(f"file:{db_path.resolve()}?mode=ro", uri=True)
        try:
            ok = con.execute("PRAGMA quick_check").fetchone()
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
        if not ok or ok[0] != "ok":
            what = f"SQLite finds it damaged ({ok[0] if ok else 'no answer'})"
        elif not {"abc_smc", "populations"} <= tables:
            what = "it is not a pyabc history (no abc_smc and populations tables)"
    except sqlite3.Error as exc:
        what = f"SQLite cannot read it ({exc})"
    if what:
        raise ValueError(f"{db_path}: the calibration history is damaged: {what}. Restore it from a copy, or start "
                         "the calibration again in a new --out (or remove this file and its .json beside it)")


def history_settings(db_path: str | Path) -> dict:
    """The settings pyabc stored with a history (``meta_info``: stage, seed, evidence, budget name)."""
    import ast
    import sqlite3

    con = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT json_parameters FROM abc_smc ORDER BY id LIMIT 1").fetchone()
    finally:
        con.close()
    try:
        meta = ast.literal_eval(row[0]) if row and row[0] else {}
    except (ValueError, SyntaxError):
        meta = {}
    return meta if isinstance(meta, dict) else {}


def calibration_settings(budget: Budget, seed: int, split: Split, priors: PriorSet) -> dict[str, Any]:
    """Everything that fixes a calibration's result, stored in ``settings.json`` and compared on
    ``--resume``: seed, budget, split, priors and the model's identity (version, sim/ sources)."""
    from experiments.execution.provenance import model_identity

    ident = model_identity()
    return {"seed": int(seed), "budget": json.loads(json.dumps(budget.to_dict())), "split": split.to_dict(),
            "priors_sha256": priors.sha256(), "model": {"version": ident["version"], "sim_sha256": ident["sim_sha256"]}}


def check_resume_settings(out: Path, settings: dict[str, Any]) -> None:
    """On ``--resume``: refuse a mismatch between this call's settings and those the stored
    calibration was made with, naming the field (and both values when short)."""
    stored_file = out / "settings.json"
    histories = [p for p in (out / "history_fit.db", out / "history_final.db") if p.exists()]
    if not histories:
        return
    if stored_file.exists():
        try:
            stored = json.loads(stored_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{stored_file}: cannot be read ({exc}); restore it, or start again in a new --out") from None
    else:  # made before settings.json: what pyabc stored with the history
        for p in histories:
            check_history(p)
        meta = history_settings(histories[0])
        stored = {"seed": meta.get("seed", settings["seed"]),
                  "budget": {**settings["budget"], "name": meta.get("budget", settings["budget"]["name"])}}
    for field in ("seed", "budget", "split", "priors_sha256", "model"):
        if field not in stored or stored[field] == settings[field]:
            continue
        a, b = stored[field], settings[field]
        if isinstance(a, dict) and isinstance(b, dict):
            keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            detail = "; ".join(f"{field}.{k}: {a.get(k)!r} there, {b.get(k)!r} here" for k in keys[:4])
        else:
            detail = f"{field}: {a!r} there, {b!r} here"
        raise ValueError(f"--resume {out}: the stored calibration was made with other settings ({detail[:600]}); resuming "
                         "would label its posterior with settings it was not made with. Resume with the same settings, "
                         "or start a new calibration in another --out")


def _has_populations(url: str) -> bool:
    import pyabc

    try:
        h = pyabc.History(url, _id=1)
        return h.max_t >= 0
    except Exception:  # noqa: BLE001 - an empty or broken file: start afresh
        return False


def _why_stopped(abc, budget: Budget, limit: float | None, t: int, acc: float, total: int, started: float) -> str:
    if t >= abc.max_t:
        return f"reached the maximum of {budget.max_generations} generations"
    if total >= budget.max_simulations:
        return f"reached the simulation budget ({total:,} >= {budget.max_simulations:,})"
    if acc < budget.min_acceptance_rate:
        return f"acceptance rate {acc:.3g} fell below {budget.min_acceptance_rate:g}"
    if limit is not None and time.perf_counter() - started >= limit:
        return f"reached the wall-clock limit ({limit:.0f} s)"
    return "a pyabc termination criterion"


def _kept_generation(h, min_ess: float) -> tuple[int, list[float]]:
    """The last generation whose importance-sampling ESS is at least ``min_ess``, and every
    generation's ESS. Generation 0 (prior draws, equal weights) qualifies for any floor up to the
    population; if none qualifies, the last generation."""
    ess = [kish_ess(h.get_distribution(m=0, t=t)[1]) for t in range(h.max_t + 1)]
    kept = max((t for t, e in enumerate(ess) if e >= min_ess), default=h.max_t)
    return kept, ess


def _stage_result(name: str, evidence: Evidence, priors: PriorSet, db_path: Path, state: dict,
                  min_ess: float = 0.0) -> StageResult:
    """The stage's posterior: its last generation whose importance weights have not degenerated.

    An SMC population whose importance-sampling ESS has collapsed (a few particles carry most of
    the weight) is not a usable sample of the posterior at its tolerance, however small the
    tolerance (Del Moral, Doucet & Jasra 2012, Statistics and Computing 22, control the ESS for this
    reason). In 15-18 dimensions a generation's ESS can fall from ~500 to ~150 of 1,500 and recover
    in the next, so the run goes on and the posterior is the last generation with an ESS of at
    least ``min_ess``; the generations after it stay in the history and are named in the stop
    reason."""
    import pyabc

    check_history(db_path)
    h = pyabc.History("sqlite:///" + str(Path(db_path).resolve()), _id=1)
    kept, ess = _kept_generation(h, min_ess)
    reason = str(state.get("stop_reason", ""))
    if kept < h.max_t:
        later = ", ".join(f"{e:.0f}" for e in ess[kept + 1:])
        which = f"generation {h.max_t}" if kept + 1 == h.max_t else f"generations {kept + 1}-{h.max_t}"
        reason += (f"; {which} not used: importance-sampling ESS {later} below "
                   f"{min_ess:.0f} (degenerate weights); the posterior is generation {kept} (ESS {ess[kept]:.0f})")
    pop = h.get_population(t=kept)
    rows = []
    for p in pop.particles:
        x = priors.from_z(p.parameter)
        rows.append({**x, "weight": float(p.weight), "distance": float(p.distance)})
    particles = pd.DataFrame(rows)
    pops = h.get_all_populations()
    pops = pops.rename(columns={"wall_time": "wall_time_s"})
    pops["acceptance_rate"] = np.where(pops["t"] >= 0, pops["particles"] / pops["samples"], np.nan)
    keep = [c for c in ("t", "epsilon", "samples", "particles", "acceptance_rate", "wall_time_s") if c in pops.columns]
    pops = pops.loc[pops["t"] <= kept, keep].reset_index(drop=True)
    return StageResult(
        name=name,
        evidence=evidence,
        priors=priors,
        db=Path(db_path),
        particles=particles,
        populations=pops,
        n_simulations=int(h.total_nr_simulations) + int(state.get("unrecorded_simulations", 0)),
        sampling_wall_time_s=float(state.get("wall_time_s", float(pops["wall_time_s"].sum()) if "wall_time_s" in pops else 0.0)),
        stop_reason=reason,
        sampler=str(state.get("sampler", "")),
        deterministic=bool(state.get("deterministic", False)),
    )


# --------------------------------------------------------------------------------------------
# The whole calibration
# --------------------------------------------------------------------------------------------


@dataclass
class CalibrationResult:
    budget: Budget
    seed: int
    split: Split
    priors: PriorSet
    stages: dict[str, StageResult]
    predictive: dict[str, Any]
    out_dir: Path
    wall_time_s: float
    written: list[Path] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def point_estimate(self) -> dict[str, float]:
        """Every model parameter: final-posterior medians for the free ones, documented defaults otherwise."""
        values = Parameters().to_dict()
        values.update(self.stages["final"].median())
        return values

    @property
    def n_simulations(self) -> int:
        """ABC simulations of both stages (the posterior predictive runs are counted separately)."""
        return sum(s.n_simulations for s in self.stages.values())

    def summary(self) -> str:
        fit, fin = self.stages["fit"], self.stages["final"]
        lines = [
            f"calibration ({self.budget.name} budget, seed {self.seed}): {self.wall_time_s:.0f} s wall time, "
            f"{self.n_simulations:,} ABC simulations + {self.predictive['n_runs']:,} predictive runs",
            f"  split fit  ({', '.join(fit.evidence.names)}): {fit.generations} generations, final epsilon "
            f"{fit.final_epsilon:g}, {fit.n_simulations:,} simulations; {fit.stop_reason}",
            f"  final fit  (all evidence): {fin.generations} generations, final epsilon {fin.final_epsilon:g}, "
            f"{fin.n_simulations:,} simulations; {fin.stop_reason}",
            "  point estimate (final posterior median [90% interval]; hand-set default):",
        ]
        iv = fin.interval()
        for n, v in fin.median().items():
            lines.append(f"    {n:28s} {v:9.4g} [{iv[n][0]:.4g}, {iv[n][1]:.4g}]; {fin.priors[n].spec_default:g}")
        return "\n".join(lines)


def calibrate(
    budget: str | Budget = "quick",
    out_dir: str | Path | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    seed: int = DEFAULT_SEED,
    split: Split | str | Path | None = None,
    priors: PriorSet | str | Path | None = None,
    write_defaults: bool | None = None,
    defaults_dir: str | Path | None = None,
    resume: bool = False,
    figures: bool = True,
    progress: ProgressFn | None = None,
) -> CalibrationResult:
    """Calibrate the four-district case (see the module docstring); write everything to ``out_dir``.

    Writes DIR/report.md, DIR/*.png, DIR/calibration.json, DIR/history_{fit,final}.db,
    DIR/posterior_{fit,final}.csv (final populations with weights) and DIR/posterior_samples.csv
    (equal-weight draws). With ``write_defaults`` (default: the budget's; on for ``full``) also
    ``calibrated.toml`` and ``posterior_samples.csv`` in ``defaults_dir`` (default: the package's
    calibration/data/).
    """
    from .predictive import run_predictive

    b = resolve_budget(budget)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed: {seed!r} must be a whole number >= 0")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"--workers: {workers!r} must be a whole number >= 1")
    scheduler = scheduler or b.scheduler
    if scheduler not in ("single", "processes", "dask") and "://" not in scheduler:
        raise ValueError(f"--scheduler: {scheduler!r} is not allowed; allowed: single, processes, dask, or a Dask scheduler address like tcp://127.0.0.1:8786")
    out = Path(out_dir) if out_dir is not None else Path("results/calibration") / b.name
    split_ = split if isinstance(split, Split) else load_split(split)
    priors_ = priors if isinstance(priors, PriorSet) else load_priors(priors)
    write_defaults = b.write_defaults if write_defaults is None else bool(write_defaults)
    settings = calibration_settings(b, seed, split_, priors_)
    if resume:
        check_resume_settings(out, settings)  # seed, budget, split, priors, model: refused if any differs
    else:
        for p in (out / "history_fit.db", out / "history_final.db"):
            if p.exists():
                raise ValueError(f"{p}: a calibration history exists; continue it with --resume, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "settings.json").exists() or not resume:
        write_text(out / "settings.json", json.dumps(settings, indent=1))
    started = time.perf_counter()

    stages: dict[str, StageResult] = {}
    stage_calls = 0.0
    for stage, evidence_set, informs in (("fit", "fit", "fit"), ("final", "final", None)):
        evidence = split_.evidence(evidence_set)
        observed = {
            c.table: c.observed[0] for c in evidence.components_ if c.kind == "table"
        }
        t_call = time.perf_counter()
        stages[stage] = run_stage(
            stage, evidence, priors_.subset(informs), b, out / f"history_{stage}.db",
            seed=seed, scheduler=scheduler, workers=workers, resume=resume, progress=progress, observed=observed,
        )
        if b.rejuvenate_moves > 0 and stage == "final":
            stages[stage] = rejuvenate_stage(stages[stage], out / f"rejuvenated_{stage}.csv", seed=seed,
                                             workers=1 if scheduler == "single" else workers or 2,
                                             max_moves=b.rejuvenate_moves, progress=progress)
        stage_calls += time.perf_counter() - t_call

    after_stages = time.perf_counter()
    pred_workers = 1 if scheduler == "single" else (workers if scheduler in ("processes", "dask") else None)
    predictive = run_predictive(
        split_, priors_, stages, n=b.predictive_draws, seed=seed, workers=pred_workers, progress=progress,
    )
    # Wall time: each stage's own (accumulated over resumed invocations, in its marker file), plus
    # this invocation's set-up and predictive runs; for an uninterrupted run this is the elapsed time.
    setup = (after_stages - started) - stage_calls
    wall = sum(st.sampling_wall_time_s for st in stages.values()) + max(0.0, setup) + (time.perf_counter() - after_stages)
    from experiments.execution.provenance import provenance

    prov = provenance(
        budget=b.to_dict(),
        seed=seed,
        scheduler=scheduler,
        workers=workers,
        split=split_.to_dict(),
        priors_sha256=priors_.sha256(),
        resumed=bool(resume),
    )
    result = CalibrationResult(b, seed, split_, priors_, stages, predictive, out, wall, provenance=prov)
    from .report import write_outputs

    result.written = write_outputs(result, figures=figures)
    if write_defaults:
        from .defaults import publish

        result.written += publish(result, defaults_dir)
    return result


def format_progress(event: dict) -> str:
    """One progress line for the command line."""
    if event.get("stage") == "predictive":
        return f"calibrate [predictive] {event['set']} ({event['index'] + 1}/{event['of']})"
    if event.get("rejuvenation"):
        return (f"calibrate [{'split' if event['stage'] == 'fit' else event['stage']} fit] resample-move: "
                f"{max(0, min(event['done'], event['of'])):,} of {event['of']:,} particles through "
                + (f"{event['sweeps']} move sweeps" if event.get("sweeps", 1) != 1 else "a move sweep"))
    return (
        f"calibrate [{'split' if event['stage'] == 'fit' else event['stage']} fit] generation {event['generation']}: epsilon {event['epsilon']:g}, "
        f"acceptance {event['acceptance_rate']:.3f}, {event['simulations']:,} simulations, {event['elapsed_s']:.0f} s"
    )
