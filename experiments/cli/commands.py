"""The commands: each parses nothing more, calls one library function and prints what it returned."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import interrupted


def case(args: argparse.Namespace) -> int:
    from ..case_job import run_case_job
    from ..execution.progress import progress_bar
    from ..report import format_summary

    with progress_bar(args.replicates, "case", quiet=args.quiet) as progress:
        job = run_case_job(args.out, replicates=args.replicates, seed=args.seed, scenario_file=args.scenario,
                           case_file=args.case_file, overrides=args.overrides, posterior=args.posterior,
                           figures=not args.no_figures, progress=progress)
    print(format_summary(job.summary))
    print("\nWrote: " + ", ".join(str(p) for p in job.written))
    return 0


def whatif(args: argparse.Namespace) -> int:
    from ..execution.progress import progress_bar
    from ..whatif import format_whatif_list, list_whatifs, run_whatif

    if args.list:
        print(format_whatif_list(list_whatifs()))
        return 0
    if args.whatif_name is None and not args.overrides:
        raise ValueError("nothing to compare: give --whatif NAME (see --list) and/or --set KEY=VALUE")
    with progress_bar(2 * args.replicates, "whatif", quiet=args.quiet) as progress:
        result = run_whatif(args.base, args.overrides, name=args.whatif_name, replicates=args.replicates,
                            seed=args.seed, progress=progress, baseline=args.baseline)
    out: Path = args.out if args.out is not None else Path("results/whatif") / (args.whatif_name or "custom")
    written = result.write(out, figure=not args.no_figure)
    print(result.format())
    print("\nWrote: " + ", ".join(str(p) for p in written))
    return 0


def sweep(args: argparse.Namespace) -> int:
    from ..sweep import load_sweep_spec, run_sweep

    spec = load_sweep_spec(args.spec)
    out: Path = args.out if args.out is not None else Path("results/sweeps") / spec.name
    try:
        result = run_sweep(spec, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, quiet=args.quiet)
    except KeyboardInterrupt:
        return interrupted(out)
    print(result.summary())
    return 0 if result.complete else 1


def sensitivity(args: argparse.Namespace) -> int:
    from ..sensitivity import load_sensitivity_spec, run_study

    spec = load_sensitivity_spec(args.spec)
    out: Path = args.out if args.out is not None else Path("results/sensitivity") / spec.name
    try:
        result = run_study(spec, out, workers=args.workers, scheduler=args.scheduler, quiet=args.quiet)
    except KeyboardInterrupt:
        return interrupted(out, "runs", "run the same command again to continue")
    print(result.summary())
    return 0


def discover(args: argparse.Namespace) -> int:
    from ..discovery import default_out
    from ..discovery import discover as run_discovery

    direction, threshold = ("above", args.above) if args.above is not None else ("below", args.below)
    out = args.out if args.out is not None else default_out(args.store, args.outcome, direction, threshold)
    result = run_discovery(args.store, args.outcome, above=args.above, below=args.below, out=out,
                           aggregate=args.aggregate, share_min=args.share_min, nan=args.nan, stage=args.stage,
                           min_coverage=args.min_coverage, density_tolerance=args.density_tolerance,
                           significance=args.significance, bootstrap=args.bootstrap, seed=args.seed,
                           figures=not args.no_figures,
                           progress=None if args.quiet else lambda msg: print(msg, file=sys.stderr, flush=True))
    print(result.text)
    print("\nWrote: " + ", ".join(str(p) for p in result.files))
    return 0


def rollout(args: argparse.Namespace) -> int:
    from ..population import format_summary, make_rollout_plan, run_rollout, split_overrides

    provider, params = split_overrides(args.overrides, args.provider)
    plan = make_rollout_plan(args.state, provider=provider, n=args.districts, replicates=args.replicates,
                             seed=args.seed, params=params)
    out = args.out if args.out is not None else Path("results/rollout") / f"{plan.population.state}-{provider['kind']}"
    try:
        result = run_rollout(plan, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, quiet=args.quiet)
    except KeyboardInterrupt:
        return interrupted(out)
    print(f"rollout {plan.population.state} ({provider['kind']}): {result.runs_done} of {result.n_runs} runs, "
          f"{result.n_errors} errors, {result.seconds:.1f} s on {result.executor}; results in {out}")
    if result.summary is not None:
        print(format_summary(result.summary))
    return 0


def calibrate(args: argparse.Namespace) -> int:
    from calibration.fit import calibrate as run_calibration
    from calibration.fit import format_progress
    from calibration.report import provisional_notice

    started = []

    def progress(event: dict) -> None:
        if not started and args.budget == "quick":  # once the run has started (bad input stays one line)
            print("coherence-sim calibrate: quick budget -- a smoke test of the pipeline, not a calibration to rely on",
                  file=sys.stderr, flush=True)
        started.append(True)
        print(format_progress(event), file=sys.stderr, flush=True)

    out = args.out if args.out is not None else Path("results/calibration") / args.budget
    try:
        result = run_calibration(args.budget, out, scheduler=args.scheduler, workers=args.workers, seed=args.seed,
                                 write_defaults=args.write_defaults, resume=args.resume, figures=not args.no_figures,
                                 progress=None if args.quiet else progress)
    except KeyboardInterrupt:
        return interrupted(out, "generations")
    notice = provisional_notice(result)
    if notice:  # first, above everything the run prints
        print(notice + "\n")
    print(result.summary())
    print("\nWrote: " + ", ".join(str(p) for p in result.written))
    return 0


def app(args: argparse.Namespace) -> int:
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


COMMANDS = {"case": case, "whatif": whatif, "sweep": sweep, "calibrate": calibrate, "sensitivity": sensitivity,
            "app": app, "rollout": rollout, "discover": discover}
