"""The calibrated defaults: ``calibration/data/calibrated.toml`` and its posterior draws.

``coherence-sim calibrate`` (with ``--write-defaults``; on by default for ``--budget full``) writes

* ``calibration/data/calibrated.toml``: every model parameter (the final posterior's weighted
  marginal median for the calibrated ones, the documented default for the fixed ones), each free
  parameter's prior and 90% interval, the split, the distance, the budget, the number of
  simulations, the wall time, the package version and git commit;
* ``calibration/data/posterior_samples.csv``: equal-weight draws of the free parameters from the
  final posterior (``case --posterior`` uses them), referenced from calibrated.toml by its sha256.

``sim.Parameters()`` stays the documented prior centre (``sim/`` reads no files);
:func:`experiments.scenario.default_scenario` applies the calibrated values when the file exists.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import Parameters
from sim.parameters import PARAMETER_SPECS

__all__ = [
    "CALIBRATED_FILE",
    "POSTERIOR_FILE",
    "apply_calibrated_defaults",
    "calibrated_parameters",
    "data_dir",
    "load_calibrated",
    "load_posterior_samples",
    "run_scenario_posterior",
    "write_calibrated",
]

CALIBRATED_FILE = "calibrated.toml"
POSTERIOR_FILE = "posterior_samples.csv"
FORMAT_VERSION = 1
_POSTERIOR_KEY = 2**31 - 16


def data_dir() -> Path:
    """The package's data folder (calibration/data/)."""
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
    from experiments.scenario import apply_overrides

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


# --------------------------------------------------------------------------------------------
# case --posterior
# --------------------------------------------------------------------------------------------


def posterior_draw_order(seed: int, n_draws: int) -> np.ndarray:
    """Replicate r uses posterior draw ``order[r % n_draws]``: a permutation fixed by the seed."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(_POSTERIOR_KEY,)))
    return rng.permutation(n_draws)


def run_scenario_posterior(
    scenario,
    replicates: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    overrides: tuple[str, ...] = (),
    samples: pd.DataFrame | None = None,
):
    """Run a scenario with parameters drawn from the stored posterior, one draw per replicate.

    Replicate r runs exactly like replicate r of ``run_scenario`` (seed ``run_seed(seed, 0, r)``,
    capacity assignment ``order[r % K]``) except that the calibrated parameters take the values of
    posterior draw ``order'[r % N]`` (``posterior_draw_order``); the scenario's other parameters
    are kept. Returns a ``CaseRun`` whose ``parameters`` are the scenario's (the point estimate when
    the scenario is the default one) and whose ``posterior_draws`` attribute lists each replicate's
    draw index.
    """
    from experiments.case import CaseRun
    from experiments.runner import run_replicates

    if replicates < 1:
        raise ValueError(f"replicates: {replicates!r} must be >= 1")
    draws = samples if samples is not None else load_posterior_samples()
    sampled = list(draws.columns)
    overridden = [o.split("=", 1)[0].strip() for o in overrides]
    clash = [k for k in overridden if k.startswith("parameters.") and k.split(".", 1)[1] in sampled]
    if clash:
        raise ValueError(f"--set {clash[0]}: this parameter is drawn from the posterior with --posterior; drop one of the two")
    base = scenario.parameters_()
    conditions = scenario.conditions()
    order = posterior_draw_order(seed, len(draws))
    values = draws.to_numpy(dtype=float)
    results, index, used = [], [], []
    for r in range(replicates):
        j = int(order[r % len(draws)])
        params = base.replace(**{c: float(values[j, i]) for i, c in enumerate(sampled)})
        ((_, k, res),) = run_replicates(conditions, params, seed, [r])
        results.append(res)
        index.append(k)
        used.append(j)
        if progress is not None:
            progress(r + 1, replicates)
    run = CaseRun(scenario, base, seed, results, index, len(conditions), tuple(overrides))
    run.posterior_draws = used  # type: ignore[attr-defined]
    return run


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


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_calibrated(result, directory: str | Path | None = None) -> list[Path]:
    """Write calibrated.toml and posterior_samples.csv (atomically) from a CalibrationResult."""
    import tomli_w

    d = Path(directory) if directory is not None else data_dir()
    d.mkdir(parents=True, exist_ok=True)
    fin, fit = result.stages["final"], result.stages["fit"]
    rng = np.random.default_rng(np.random.SeedSequence(entropy=result.seed, spawn_key=(2**31 - 15,)))
    draws = fin.resample(result.budget.stored_draws, rng)
    csv_text = draws.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    csv_path = d / POSTERIOR_FILE
    _atomic(csv_path, csv_text)
    prov = result.provenance
    med, iv, con = fin.median(), fin.interval(), fin.contraction()
    fmed, fiv = fit.median(), fit.interval()
    point = result.point_estimate
    doc: dict[str, Any] = {
        "meta": {
            "format_version": FORMAT_VERSION,
            "description": "Calibrated defaults of the model's parameters: the posterior point estimate of the "
            "ABC-SMC calibration of the four-district case against the report (calibration/fit.py). "
            "Regenerate with `coherence-sim calibrate --budget full`.",
            "point_estimate": "weighted marginal posterior median of the final (all-evidence) fit",
            "interval": "90% weighted marginal posterior interval (5th-95th percentile)",
            "package": prov.get("package"),
            "version": prov.get("version"),
            "git_commit": prov.get("git_commit") or "",
            "git_dirty": bool(prov.get("git_dirty")),
            "created": prov.get("created"),
            "budget": result.budget.name,
            "seed": result.seed,
            "sampler": fin.sampler,
            "deterministic": bool(fit.deterministic and fin.deterministic),
            "wall_time_s": round(result.wall_time_s, 1),
            "n_simulations": result.n_simulations,
            "n_simulations_split_fit": fit.n_simulations,
            "n_simulations_final_fit": fin.n_simulations,
            "n_predictive_runs": result.predictive["n_runs"],
            "population": result.budget.population,
            "generations_split_fit": fit.generations,
            "generations_final_fit": fin.generations,
            "final_epsilon_split_fit": fit.final_epsilon,
            "final_epsilon_final_fit": fin.final_epsilon,
            "stop_reason_split_fit": fit.stop_reason,
            "stop_reason_final_fit": fin.stop_reason,
            "priors_sha256": result.priors.sha256(),
        },
        "split": {
            "file": result.split.source,
            "sha256": result.split.sha256(),
            "fit": list(result.split.sets["fit"]),
            "holdout": list(result.split.sets["holdout"]),
            "final": list(result.split.sets["final"]),
        },
        "distance": {
            "unit": "district-elements out of place",
            "tables": "sum over rows of 1/2 * sum |simulated - observed| (minimum over the readings the split allows)",
            "facts": "1 per violated depth or timing fact",
            "components": {n: {"weight": c.weight, "readings": len(c.readings) if c.kind == "table" else 0}
                           for n, c in result.split.components.items()},
        },
        "parameters": {k: float(v) for k, v in point.items()},
        "posterior_samples": {
            "file": POSTERIOR_FILE,
            "draws": int(len(draws)),
            "sha256": hashlib.sha256(csv_text.encode()).hexdigest(),
        },
        "free": {
            p.name: {
                "prior": p.label(),
                "informs": p.informs,
                "hand_set_default": p.spec_default,
                "median": med[p.name],
                "p05": iv[p.name][0],
                "p95": iv[p.name][1],
                "contraction": con[p.name],
                **({"split_fit_median": fmed[p.name], "split_fit_p05": fiv[p.name][0], "split_fit_p95": fiv[p.name][1]}
                   if p.name in fmed else {}),
            }
            for p in result.priors.free
        },
        "fixed": {k: {"value": PARAMETER_SPECS[k].default, "reason": v} for k, v in result.priors.fixed.items()},
    }
    header = (
        "# Calibrated defaults of coherence-sim's parameters (generated by `coherence-sim calibrate`; do not edit).\n"
        "# [parameters] is what experiments.scenario.default_scenario() and `coherence-sim case` use;\n"
        "# sim.Parameters() remains the documented prior centre. Provenance in [meta], the split in [split].\n\n"
    )
    toml_path = d / CALIBRATED_FILE
    _atomic(toml_path, header + tomli_w.dumps(doc))
    _load.cache_clear()
    return [toml_path, csv_path]


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def case_provenance(run, posterior: bool = False) -> dict[str, Any]:
    """Where a case run's parameters come from (added to summary.json's provenance by the CLI)."""
    raw = load_calibrated()
    calibrated = calibrated_parameters()
    out: dict[str, Any] = {
        "parameter_defaults": (
            "calibrated (calibration/data/calibrated.toml)" if calibrated is not None and run.parameters == calibrated
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
