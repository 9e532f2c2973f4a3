"""The case command's job as one library call: the scenario (a scenario file, or a case file with the
defaults every entry point starts from, :func:`experiments.scenario.default_scenario`), overrides,
the runs (point estimate or posterior draws), the summary with where its parameters come from, and
the files: ``summary.json``, ``scenario.toml``, the figures and ``manifest.json``, written as a whole
(``experiments.execution.outputs.StagedOutput``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .case import CaseRun, _check_replicates, element_shares, run_scenario, run_scenario_posterior, summarise
from .evidence import case_provenance, load_observed
from .execution.outputs import StagedOutput, check_out
from .scenario import apply_overrides, default_scenario, load_case, load_scenario
from .scenario.io import scenario_text
from .scenario.overrides import override_keys, refuse_repeated_keys


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
    """Run the case (or a scenario file) and write its results into ``out``.

    ``out`` is checked before anything runs (``experiments.execution.outputs.check_out``): an empty
    name, a file, a folder of another kind (a sweep store, someone's files) or with a link inside is
    refused. The folder is written as a whole (``StagedOutput``): ``summary.json``, ``scenario.toml``,
    the figures and ``manifest.json`` (each file's SHA-256) appear together, replacing a previous
    case folder entirely, or -- on an error, Ctrl-C or kill -9 -- not at all."""
    if scenario_file is not None and case_file is not None:
        raise ValueError("--scenario and --case-file: give one or the other")
    _check_replicates(replicates)  # before anything else: a bound, with a reason
    out = check_out(out, "case", replaces=True)
    if scenario_file is not None:
        scenario = load_scenario(scenario_file)
    else:
        scenario = default_scenario(load_case(case_file) if case_file is not None else None)
    overrides = tuple(overrides)
    refuse_repeated_keys(override_keys(list(overrides)), "--set")
    if overrides:
        scenario = apply_overrides(scenario, list(overrides))
    scenario_toml = scenario_text(scenario, ".toml")  # before running: a scenario too large to re-read is refused
    run_fn = run_scenario_posterior if posterior else run_scenario
    run = run_fn(scenario, replicates=replicates, seed=seed, progress=progress, overrides=overrides)
    summary = summarise(run)
    summary["provenance"].update(case_provenance(run, posterior=posterior))
    with StagedOutput(out, "case") as stage:
        written = [stage.write("summary.json", json.dumps(summary, indent=2, allow_nan=False).encode("utf-8")),
                   stage.write("scenario.toml", scenario_toml.encode("utf-8"))]
        if figures:
            from .figures import write_case_figures

            written += stage.record(write_case_figures(
                element_shares(run), summary, run.districts, stage.path, observed_changed=load_observed().changed_elements))
        stage.commit(provenance=summary["provenance"])
    return CaseJob(run, summary, written)


__all__ = ["CaseJob", "run_case_job"]
