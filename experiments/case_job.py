"""The case command's job as one library call: the scenario (a scenario file, or a case file with the
defaults every entry point starts from, :func:`experiments.scenario.default_scenario`), overrides, the runs (point estimate or posterior draws), the summary with
where its parameters come from, and the files: ``summary.json``, ``scenario.toml`` and the figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .case import CaseRun, element_shares, run_scenario, run_scenario_posterior, summarise
from .evidence import case_provenance, load_observed
from .scenario import apply_overrides, default_scenario, dump_scenario, load_case, load_scenario


@dataclass
class CaseJob:
    """What :func:`run_case_job` ran and wrote."""

    run: CaseRun
    summary: dict
    written: list[Path] = field(default_factory=list)


def run_case_job(
    out: str | Path,
    *,
    replicates: int,
    seed: int,
    scenario_file: str | Path | None = None,
    case_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    posterior: bool = False,
    figures: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> CaseJob:
    """Run the case (or a scenario file) and write its results into ``out``."""
    if scenario_file is not None and case_file is not None:
        raise ValueError("--scenario and --case-file: give one or the other")
    if scenario_file is not None:
        scenario = load_scenario(scenario_file)
    else:
        scenario = default_scenario(load_case(case_file) if case_file is not None else None)
    overrides = tuple(overrides)
    if overrides:
        scenario = apply_overrides(scenario, list(overrides))
    run_fn = run_scenario_posterior if posterior else run_scenario
    run = run_fn(scenario, replicates=replicates, seed=seed, progress=progress, overrides=overrides)
    summary = summarise(run)
    summary["provenance"].update(case_provenance(run, posterior=posterior))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dump_scenario(scenario, out / "scenario.toml")
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")
    tmp.replace(out / "summary.json")
    written = [out / "summary.json", out / "scenario.toml"]
    if figures:
        from .figures import write_case_figures

        written += write_case_figures(
            element_shares(run), summary, run.districts, out, observed_changed=load_observed().changed_elements
        )
    return CaseJob(run, summary, written)


__all__ = ["CaseJob", "run_case_job"]
