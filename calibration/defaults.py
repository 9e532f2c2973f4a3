"""Publishing the calibration's result as the defaults every command starts from.

``coherence-sim calibrate`` (with ``--write-defaults``; on by default for ``--budget full``) calls
:func:`publish`, which writes into the folder that running reads (:func:`experiments.evidence.calibrated.data_dir`)

* ``calibrated.toml``: every model parameter (the final posterior's weighted marginal median for
  the calibrated ones, the documented default for the fixed ones), each free parameter's prior and
  90% interval, the split, the distance, the budget, the number of simulations, the wall time, the
  package version and git commit;
* ``posterior_samples.csv``: equal-weight draws of the free parameters from the final posterior
  (``case --posterior`` uses them), referenced from calibrated.toml by its sha256.

Reading them is :mod:`experiments.evidence.calibrated`'s job: running the model never imports this
package.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from experiments.evidence.calibrated import CALIBRATED_FILE, FORMAT_VERSION, POSTERIOR_FILE, data_dir, forget_cached
from experiments.execution.files import write_text
from sim.parameters import PARAMETER_SPECS

__all__ = ["publish", "write_calibrated"]


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
    forget_cached()
    return [toml_path, csv_path]


def _atomic(path: Path, text: str) -> None:
    """Whole or not at all, through a randomly named temporary file (never a fixed NAME.tmp)."""
    write_text(path, text)


def publish(result, directory: str | Path | None = None) -> list[Path]:
    """Publish a calibration's result as the defaults of every command (see the module docstring)."""
    return write_calibrated(result, directory)
