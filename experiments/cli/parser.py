"""The ``coherence-sim`` command line's grammar: one sub-parser per command, built from the shared
options of :mod:`.options`."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import options as opt

SET_HELP = "override a scenario key, e.g. --set horizon_months=60 (repeatable)"


def build_parser() -> argparse.ArgumentParser:
    from ..execution.provenance import package_version

    parser = argparse.ArgumentParser(
        prog="coherence-sim",
        description="Agent-based simulation of district infrastructure change for early mathematics "
        "(Pre-K to 3 Coherence Collaboration).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    quiet = opt.quiet_option()

    case = sub.add_parser(
        "case",
        parents=[opt.replicates_option(), opt.seed_option(), opt.out_option("results/case", "output folder (default results/case)"),
                 opt.set_option(SET_HELP), quiet],
        help="run the four-district case and compare it with the report's Tables 2-5",
        description="Run the four-district case over the starting capacities consistent with the report; "
        "print simulated vs observed Tables 2-5 and write DIR/summary.json plus figures.",
    )
    case.add_argument("--case-file", type=Path, default=None, help="a case file (TOML with sourced facts); default: the packaged four-district case")
    case.add_argument("--scenario", type=Path, default=None, help="a scenario file (TOML/YAML) instead of the case file")
    case.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    case.add_argument("--posterior", action="store_true",
                      help="draw the calibrated parameters per replicate from the stored posterior "
                      "(experiments/evidence/data/posterior_samples.csv) to propagate parameter uncertainty")

    calibrate = sub.add_parser(
        "calibrate",
        parents=[opt.seed_option(), opt.out_option(None, "output folder (default results/calibration/BUDGET)"),
                 opt.quiet_option("no progress lines")],
        help="ABC-SMC calibration against the report (split fit, held-out test, final fit, calibrated defaults)",
        description="Calibrate the free parameters against the report's evidence with pyabc's ABC-SMC: fit on the "
        "split's fitted part, test on the held-out part, refit on all evidence; write DIR/report.md, PNGs, "
        "calibration.json, posterior CSVs and the SQLite histories, and (--write-defaults) publish the "
        "calibrated defaults (experiments/evidence/data/calibrated.toml).",
    )
    calibrate.add_argument("--budget", choices=("quick", "full"), default="quick",
                           help="quick: deterministic, < 2 min (tests, CI); full: the real study (<= 30 min on 2 cores)")
    calibrate.add_argument("--scheduler", default=None, metavar="NAME",
                           help="single (deterministic), processes, dask (local cluster) or a Dask scheduler address "
                           "tcp://HOST:PORT (default: single for quick, processes for full)")
    calibrate.add_argument("--workers", type=opt.positive, default=None, help="worker processes (default: every core)")
    calibrate.add_argument("--write-defaults", action=argparse.BooleanOptionalAction, default=None,
                           help="publish experiments/evidence/data/calibrated.toml and posterior_samples.csv (default: on for full)")
    calibrate.add_argument("--resume", action="store_true", help="continue the calibration already in --out")
    calibrate.add_argument("--no-figures", action="store_true", help="skip the PNG figures")

    whatif = sub.add_parser(
        "whatif",
        parents=[opt.replicates_option(help="replicates per arm"), opt.seed_option(help="root seed of both arms"),
                 opt.out_option(None, "output folder (default results/whatif/NAME)"),
                 opt.set_option("a change for the counterfactual, e.g. --set districts.Diamond.shocks=[] (repeatable; "
                                "applied after --whatif's own changes)"), quiet],
        help="run a counterfactual beside its baseline (same random numbers) and report the differences",
        description="Run a what-if (a named one from the library and/or --set overrides) beside its baseline "
        "with common random numbers; print baseline, counterfactual and difference [5th, 95th percentile] per "
        "outcome and district, and the Tables 2-5 cell differences; write DIR/whatif.json, DIR/whatif.png and "
        "both scenarios.",
    )
    whatif.add_argument("base", nargs="?", type=Path, default=None,
                        help="base scenario file (TOML/YAML); default: the four-district case")
    whatif.add_argument("--whatif", dest="whatif_name", metavar="NAME", default=None,
                        help="a named what-if from the library (see --list)")
    whatif.add_argument("--baseline", metavar="NAME|FILE", default=None,
                        help="compare with this what-if (by name) or scenario file instead of the what-if's own "
                        "baseline (library field 'baseline'; default: the base scenario)")
    whatif.add_argument("--list", action="store_true", help="list the named what-ifs and exit")
    whatif.add_argument("--no-figure", action="store_true", help="skip whatif.png")

    sweep = sub.add_parser(
        "sweep",
        parents=[opt.out_option(None, "output folder (default results/sweeps/NAME)"),
                 opt.executor_options(resume="continue the sweep already in --out (same spec)"), quiet],
        help="run a grid, Latin-hypercube or file design x replicates into a resumable Parquet dataset",
        description="Run the sweep described by SPEC (TOML/YAML: [sweep] and [design]; see "
        "experiments/data/sweeps/) on local processes or a Dask cluster; results stream to DIR/runs and "
        "DIR/elements (Parquet) with DIR/manifest.json. An interrupted sweep continues with --resume.",
    )
    sweep.add_argument("spec", type=Path, help="the sweep spec file (TOML or YAML)")

    sens = sub.add_parser(
        "sensitivity",
        parents=[opt.out_option(None, "output folder (default results/sensitivity/NAME)"), opt.executor_options(),
                 opt.quiet_option("no progress bar or progress lines")],
        help="Morris screening then Sobol' indices (SALib) of capacity, leadership and the model's parameters",
        description="Run the sensitivity study described by SPEC (TOML; see experiments/data/sensitivity/default.toml): "
        "Morris over every factor, Sobol' (N doubling until the intervals stop moving) on the groups that matter, "
        "and write DIR/report.md with figures and CSV/Parquet indices. Running it again into the same DIR reuses "
        "every stored run (resume).",
    )
    sens.add_argument("spec", type=Path, help="the sensitivity spec file (TOML)")

    disc = sub.add_parser(
        "discover",
        parents=[opt.out_option(None, "output folder (default results/discovery/STORE-OUTCOME-above|below-THRESHOLD)"),
                 opt.quiet_option("no progress lines")],
        help="scenario discovery (PRIM): which conditions of a sweep or sensitivity store give an outcome above or below a threshold",
        description="Find the factor ranges of STORE (a sweep's folder, a sensitivity study's folder or one of its stores) "
        "where OUTCOME is above (or below) a threshold: EMA Workbench's PRIM with the documented box rule, the box's "
        "stability under bootstrap resampling, feature scores, a peeling-trajectory and a box figure, and a short "
        "answer; writes answer.txt, boxes.json, CSV tables and PNGs into DIR (see docs/api.md). Needs the "
        "'discovery' extra (pip install -e '.[discovery]').",
    )
    disc.add_argument("store", type=Path, help="a sweep's folder, a sensitivity study's folder, or one of its stores")
    disc.add_argument("--outcome", required=True, help="a runs column, overall (share_consistent) or per district "
                      "(Diamond.share_consistent)")
    threshold = disc.add_mutually_exclusive_group(required=True)
    threshold.add_argument("--above", type=float, default=None, metavar="X", help="cases of interest: outcome > X")
    threshold.add_argument("--below", type=float, default=None, metavar="X", help="cases of interest: outcome < X")
    disc.add_argument("--aggregate", choices=("mean", "share"), default="mean",
                      help="a design point's value: its replicates pooled (mean, default) or the share of its "
                      "replicates beyond the threshold (share)")
    disc.add_argument("--share-min", type=float, default=0.5,
                      help="with --aggregate share: a design point is a case when at least this share is beyond (default 0.5)")
    disc.add_argument("--nan", choices=("exclude", "not_of_interest"), default="exclude",
                      help="design points no replicate defines the outcome for: left out (default) or not of interest")
    disc.add_argument("--stage", default=None, help="of a sensitivity study: only the stores whose name starts with "
                      "this (e.g. morris)")
    disc.add_argument("--min-coverage", type=float, default=0.5, help="box rule: the least coverage (default 0.5)")
    disc.add_argument("--density-tolerance", type=float, default=0.02,
                      help="box rule: boxes within this of the highest density compete (default 0.02)")
    disc.add_argument("--significance", type=float, default=0.1,
                      help="limits whose quasi-p value exceeds this are released (default 0.1)")
    disc.add_argument("--bootstrap", type=opt.whole_number(0, 10_000, "a number of resamples"), default=50,
                      help="bootstrap resamples for the box's stability (default 50; 0 skips)")
    disc.add_argument("--seed", type=opt.seed, default=0, help="seed of the bootstrap and feature scores (default 0)")
    disc.add_argument("--no-figures", action="store_true", help="skip peeling_trajectory.png and box.png")

    app = sub.add_parser(
        "app",
        help="serve the interactive app (Mesa SolaraViz): step the model month by month in a browser",
        description="Serve the Solara app of experiments/app/: choose a scenario and a district, adjust "
        "leadership and starting capacities, step or play month by month; the elements, the four dimensions "
        "and the narrative event log update as it runs. Served offline (solara-assets).",
    )
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    app.add_argument("--port", type=opt.port, default=8765, help="port (default 8765; 0 picks a free port)")

    rollout = sub.add_parser(
        "rollout",
        parents=[opt.replicates_option(10, "replicates per district"), opt.seed_option(),
                 opt.set_option("provider.KEY=VALUE (e.g. provider.subsidy_share=0.8) or parameters.NAME=VALUE; repeatable"),
                 opt.out_option(None, "output folder (default results/rollout/STATE-PROVIDER)"),
                 opt.executor_options(resume="continue the rollout already in --out (same request)"), quiet],
        help="roll a provider's offer out to a state's synthetic districts: who joins, what changes, at what cost",
        description="Draw synthetic districts of STATE (CA, TX, NY, FL, or a population TOML file; see "
        "experiments/data/populations/) and run each under the chosen provider type with simulated recruitment, "
        "locally or on a Dask cluster; runs stream to DIR/runs (Parquet) and DIR/summary.csv aggregates by "
        "district type with 90% intervals over replicates.",
    )
    rollout.add_argument("state", help="CA, TX, NY, FL, or a population file (TOML)")
    rollout.add_argument("--provider", default="pl_provider",
                         help="pl_provider (default), publisher, lead_generation, cross_selling or bundle")
    rollout.add_argument("--districts", type=opt.positive, default=None, help="number of districts (default: the state's)")
    return parser
