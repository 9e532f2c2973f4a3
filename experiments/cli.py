"""The ``coherence-sim`` command line. It parses arguments and calls the Python API; nothing else."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path



def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return v


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port in [0, 65535]")
    return v


def build_parser() -> argparse.ArgumentParser:
    from .case import DEFAULT_REPLICATES, DEFAULT_SEED
    from .execution.provenance import package_version

    parser = argparse.ArgumentParser(
        prog="coherence-sim",
        description="Agent-based simulation of district infrastructure change for early mathematics "
        "(Pre-K to 3 Coherence Collaboration).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    case = sub.add_parser(
        "case",
        help="run the four-district case and compare it with the report's Tables 2-5",
        description="Run the four-district case over the starting capacities consistent with the report; "
        "print simulated vs observed Tables 2-5 and write DIR/summary.json plus figures.",
    )
    case.add_argument("--replicates", type=_positive_int, default=DEFAULT_REPLICATES, help=f"replicates (default {DEFAULT_REPLICATES})")
    case.add_argument("--seed", type=_seed, default=DEFAULT_SEED, help=f"root seed (default {DEFAULT_SEED})")
    case.add_argument("--out", type=Path, default=Path("results/case"), help="output folder (default results/case)")
    case.add_argument("--case-file", type=Path, default=None, help="a case file (TOML with sourced facts); default: the packaged four-district case")
    case.add_argument("--scenario", type=Path, default=None, help="a scenario file (TOML/YAML) instead of the case file")
    case.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a scenario key, e.g. --set horizon_months=60 (repeatable)")
    case.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    case.add_argument("--quiet", action="store_true", help="no progress bar")
    case.add_argument("--posterior", action="store_true",
                      help="draw the calibrated parameters per replicate from the stored posterior "
                      "(experiments/evidence/data/posterior_samples.csv) to propagate parameter uncertainty")

    calibrate = sub.add_parser(
        "calibrate",
        help="ABC-SMC calibration against the report (split fit, held-out test, final fit, calibrated defaults)",
        description="Calibrate the free parameters against the report's evidence with pyabc's ABC-SMC: fit on the "
        "split's fitted part, test on the held-out part, refit on all evidence; write DIR/report.md, PNGs, "
        "calibration.json, posterior CSVs and the SQLite histories, and (--write-defaults) "
        "experiments/evidence/data/calibrated.toml.",
    )
    calibrate.add_argument("--budget", choices=("quick", "full"), default="quick",
                           help="quick: deterministic, < 2 min (tests, CI); full: the real study (<= 30 min on 2 cores)")
    calibrate.add_argument("--out", type=Path, default=None, help="output folder (default results/calibration/BUDGET)")
    calibrate.add_argument("--scheduler", default=None, metavar="NAME",
                           help="single (deterministic), processes, dask (local cluster) or a Dask scheduler address "
                           "tcp://HOST:PORT (default: single for quick, processes for full)")
    calibrate.add_argument("--workers", type=_positive_int, default=None, help="worker processes (default: every core)")
    calibrate.add_argument("--seed", type=_seed, default=DEFAULT_SEED, help=f"root seed (default {DEFAULT_SEED})")
    calibrate.add_argument("--write-defaults", action=argparse.BooleanOptionalAction, default=None,
                           help="write experiments/evidence/data/calibrated.toml and posterior_samples.csv (default: on for full)")
    calibrate.add_argument("--resume", action="store_true", help="continue the calibration already in --out")
    calibrate.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    calibrate.add_argument("--quiet", action="store_true", help="no progress lines")

    whatif = sub.add_parser(
        "whatif",
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
    whatif.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a change for the counterfactual, e.g. --set districts.Diamond.shocks=[] (repeatable; "
                        "applied after --whatif's own changes)")
    whatif.add_argument("--list", action="store_true", help="list the named what-ifs and exit")
    whatif.add_argument("--replicates", type=_positive_int, default=DEFAULT_REPLICATES,
                        help=f"replicates per arm (default {DEFAULT_REPLICATES})")
    whatif.add_argument("--seed", type=_seed, default=DEFAULT_SEED, help=f"root seed of both arms (default {DEFAULT_SEED})")
    whatif.add_argument("--out", type=Path, default=None, help="output folder (default results/whatif/NAME)")
    whatif.add_argument("--no-figure", action="store_true", help="skip whatif.png")
    whatif.add_argument("--quiet", action="store_true", help="no progress bar")

    sweep = sub.add_parser(
        "sweep",
        help="run a grid, Latin-hypercube or file design x replicates into a resumable Parquet dataset",
        description="Run the sweep described by SPEC (TOML/YAML: [sweep] and [design]; see "
        "experiments/data/sweeps/) on local processes or a Dask cluster; results stream to DIR/runs and "
        "DIR/elements (Parquet) with DIR/manifest.json. An interrupted sweep continues with --resume.",
    )
    sweep.add_argument("spec", type=Path, help="the sweep spec file (TOML or YAML)")
    sweep.add_argument("--out", type=Path, default=None, help="output folder (default results/sweeps/NAME)")
    sweep.add_argument("--workers", type=_positive_int, default=None,
                       help="local worker processes (default: every core; 1 runs in this process)")
    sweep.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="run on the Dask distributed cluster with this scheduler instead of local processes")
    sweep.add_argument("--resume", action="store_true", help="continue the sweep already in --out (same spec)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")

    sens = sub.add_parser(
        "sensitivity",
        help="Morris screening then Sobol' indices (SALib) of capacity, leadership and the model's parameters",
        description="Run the sensitivity study described by SPEC (TOML; see experiments/data/sensitivity/default.toml): "
        "Morris over every factor, Sobol' (N doubling until the intervals stop moving) on the groups that matter, "
        "and write DIR/report.md with figures and CSV/Parquet indices. Running it again into the same DIR reuses "
        "every stored run (resume).",
    )
    sens.add_argument("spec", type=Path, help="the sensitivity spec file (TOML)")
    sens.add_argument("--out", type=Path, default=None, help="output folder (default results/sensitivity/NAME)")
    sens.add_argument("--workers", type=_positive_int, default=None,
                      help="local worker processes (default: every core; 1 runs in this process)")
    sens.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                      help="run on the Dask distributed cluster with this scheduler instead of local processes")
    sens.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")

    app = sub.add_parser(
        "app",
        help="serve the interactive app (Mesa SolaraViz): step the model month by month in a browser",
        description="Serve the Solara app of experiments/app/: choose a scenario and a district, adjust "
        "leadership and starting capacities, step or play month by month; the elements, the four dimensions "
        "and the narrative event log update as it runs. Served offline (solara-assets).",
    )
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    app.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 picks a free port)")

    rollout = sub.add_parser(
        "rollout",
        help="roll a provider's offer out to a state's synthetic districts: who joins, what changes, at what cost",
        description="Draw synthetic districts of STATE (CA, TX, NY, FL, or a population TOML file; see "
        "experiments/data/populations/) and run each under the chosen provider type with simulated recruitment, "
        "locally or on a Dask cluster; runs stream to DIR/runs (Parquet) and DIR/summary.csv aggregates by "
        "district type with 90% intervals over replicates.",
    )
    rollout.add_argument("state", help="CA, TX, NY, FL, or a population file (TOML)")
    rollout.add_argument("--provider", default="pl_provider",
                         help="pl_provider (default), publisher, lead_generation, cross_selling or bundle")
    rollout.add_argument("--districts", type=_positive_int, default=None, help="number of districts (default: the state's)")
    rollout.add_argument("--replicates", type=_positive_int, default=10, help="replicates per district (default 10)")
    rollout.add_argument("--seed", type=_seed, default=20201, help="root seed (default 20201)")
    rollout.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="provider.KEY=VALUE (e.g. provider.subsidy_share=0.8) or parameters.NAME=VALUE; repeatable")
    rollout.add_argument("--out", type=Path, default=None, help="output folder (default results/rollout/STATE-PROVIDER)")
    rollout.add_argument("--workers", type=_positive_int, default=None,
                         help="local worker processes (default: every core; 1 runs in this process)")
    rollout.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                         help="run on the Dask distributed cluster with this scheduler instead of local processes")
    rollout.add_argument("--resume", action="store_true", help="continue the rollout already in --out (same request)")
    rollout.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def cmd_rollout(args: argparse.Namespace) -> int:
    from .population import format_summary, make_rollout_plan, run_rollout
    from .scenario import parse_override

    provider: dict = {"kind": args.provider}
    params: dict = {}
    for text in args.overrides:
        key, value = parse_override(text)
        head, _, name = key.partition(".")
        if head == "provider" and name:
            provider[name] = value
        elif head == "parameters" and name:
            params[name] = value
        else:
            raise ValueError(f"--set {text!r}: rollouts take provider.KEY or parameters.NAME keys")
    plan = make_rollout_plan(args.state, provider=provider, n=args.districts, replicates=args.replicates,
                             seed=args.seed, params=params)
    out = args.out if args.out is not None else Path("results/rollout") / f"{plan.population.state}-{provider['kind']}"
    try:
        result = run_rollout(plan, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, quiet=args.quiet)
    except KeyboardInterrupt:
        print(f"coherence-sim: interrupted; finished chunks are kept in {out}: continue with --resume", file=sys.stderr)
        return 130
    print(f"rollout {plan.population.state} ({provider['kind']}): {result.runs_done} of {result.n_runs} runs, "
          f"{result.n_errors} errors, {result.seconds:.1f} s on {result.executor}; results in {out}")
    if result.summary is not None:
        print(format_summary(result.summary))
    return 0


def cmd_case(args: argparse.Namespace) -> int:
    from .case import element_shares, run_scenario, summarise
    from .scenario import load_case
    from .execution.progress import progress_bar
    from .report import format_summary
    from .scenario import apply_overrides, dump_scenario, load_scenario, scenario_from_case

    if args.scenario is not None and args.case_file is not None:
        raise ValueError("--scenario and --case-file: give one or the other")
    from .case import run_scenario_posterior
    from .evidence import apply_calibrated_defaults, case_provenance

    scenario = load_scenario(args.scenario) if args.scenario else apply_calibrated_defaults(scenario_from_case(load_case(args.case_file)))
    if args.overrides:
        scenario = apply_overrides(scenario, args.overrides)
    with progress_bar(args.replicates, "case", quiet=args.quiet) as progress:
        if args.posterior:
            run = run_scenario_posterior(scenario, replicates=args.replicates, seed=args.seed, progress=progress, overrides=tuple(args.overrides))
        else:
            run = run_scenario(scenario, replicates=args.replicates, seed=args.seed, progress=progress, overrides=tuple(args.overrides))
    summary = summarise(run)
    summary["provenance"].update(case_provenance(run, posterior=args.posterior))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    dump_scenario(scenario, out / "scenario.toml")
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")
    tmp.replace(out / "summary.json")
    print(format_summary(summary))
    written = [out / "summary.json", out / "scenario.toml"]
    if not args.no_figures:
        from experiments.evidence import load_observed

        from .figures import write_case_figures

        written += write_case_figures(
            element_shares(run), summary, run.districts, out, observed_changed=load_observed().changed_elements
        )
    print("\nWrote: " + ", ".join(str(p) for p in written))
    return 0


def cmd_whatif(args: argparse.Namespace) -> int:
    from .execution.progress import progress_bar
    from .whatif import format_whatif_list, list_whatifs, run_whatif

    if args.list:
        print(format_whatif_list(list_whatifs()))
        return 0
    if args.whatif_name is None and not args.overrides:
        raise ValueError("nothing to compare: give --whatif NAME (see --list) and/or --set KEY=VALUE")
    with progress_bar(2 * args.replicates, "whatif", quiet=args.quiet) as progress:
        result = run_whatif(args.base, args.overrides, name=args.whatif_name, replicates=args.replicates,
                            seed=args.seed, progress=progress)
    out: Path = args.out if args.out is not None else Path("results/whatif") / (args.whatif_name or "custom")
    written = result.write(out, figure=not args.no_figure)
    print(result.format())
    print("\nWrote: " + ", ".join(str(p) for p in written))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import load_sweep_spec, run_sweep

    spec = load_sweep_spec(args.spec)
    out: Path = args.out if args.out is not None else Path("results/sweeps") / spec.name
    try:
        result = run_sweep(spec, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, quiet=args.quiet)
    except KeyboardInterrupt:
        print(f"coherence-sim: interrupted; finished chunks are kept in {out}: continue with --resume", file=sys.stderr)
        return 130
    print(result.summary())
    return 0 if result.complete else 1


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from .sensitivity import load_sensitivity_spec, run_study

    spec = load_sensitivity_spec(args.spec)
    out: Path = args.out if args.out is not None else Path("results/sensitivity") / spec.name
    try:
        result = run_study(spec, out, workers=args.workers, scheduler=args.scheduler, quiet=args.quiet)
    except KeyboardInterrupt:
        print(f"coherence-sim: interrupted; finished runs are kept in {out}: run the same command again to continue", file=sys.stderr)
        return 130
    print(result.summary())
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from calibration.fit import calibrate, format_progress

    def progress(event: dict) -> None:
        print(format_progress(event), file=sys.stderr, flush=True)

    out = args.out if args.out is not None else Path("results/calibration") / args.budget
    try:
        result = calibrate(args.budget, out, scheduler=args.scheduler, workers=args.workers, seed=args.seed,
                           write_defaults=args.write_defaults, resume=args.resume, figures=not args.no_figures,
                           progress=None if args.quiet else progress)
    except KeyboardInterrupt:
        print(f"coherence-sim: interrupted; finished generations are kept in {out}: continue with --resume", file=sys.stderr)
        return 130
    print(result.summary())
    print("\nWrote: " + ", ".join(str(p) for p in result.written))
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    """Serve experiments/app/page.py with Solara's server (production mode, assets served locally)."""
    import os
    import subprocess

    # Solara's assets proxy (its default) serves the CDN files from the solara-assets package:
    # the page works offline. Never turn it off here.
    env = {**os.environ, "SOLARA_ASSETS_PROXY": "true"}
    cmd = [sys.executable, "-m", "solara", "run", "experiments.app.page", "--host", args.host, "--port", str(args.port),
           "--production", "--no-open", "--log-level", "warning"]
    print(f"coherence-sim app: serving on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130


def _paragraph(exc: BaseException, limit: int = 2000) -> str:
    """An error message as one paragraph (no blank lines) of at most ``limit`` characters."""
    text = "\n".join(line.rstrip() for line in str(exc).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "case":
            return cmd_case(args)
        if args.command == "whatif":
            return cmd_whatif(args)
        if args.command == "sweep":
            return cmd_sweep(args)
        if args.command == "calibrate":
            return cmd_calibrate(args)
        if args.command == "sensitivity":
            return cmd_sensitivity(args)
        if args.command == "app":
            return cmd_app(args)
        if args.command == "rollout":
            return cmd_rollout(args)
    except ValueError as exc:  # bad input: a clear message naming the field, no traceback
        print(f"coherence-sim: error: {_paragraph(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        from .execution.store import disk_full_message, is_disk_full

        if is_disk_full(exc):  # a full disk: where, what is saved, free space then --resume
            print(disk_full_message(exc, getattr(args, "out", None)), file=sys.stderr)
            return 1
        print(f"coherence-sim: error: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
