"""The commands: each parses nothing more, calls one library function and prints what it returned."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..execution.outputs import check_out
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
    out: Path = args.out if args.out is not None else Path("results/whatif") / (args.whatif_name or "custom")
    check_out(out, "whatif", replaces=True)  # before any run
    with progress_bar(2 * args.replicates, "whatif", quiet=args.quiet) as progress:
        result = run_whatif(args.base, args.overrides, name=args.whatif_name, replicates=args.replicates,
                            seed=args.seed, progress=progress)
    written = result.write(out, figure=not args.no_figure)
    print(result.format())
    print("\nWrote: " + ", ".join(str(p) for p in written))
    return 0


def sweep(args: argparse.Namespace) -> int:
    from ..sweep import load_sweep_spec, run_sweep

    spec = load_sweep_spec(args.spec)
    out: Path = args.out if args.out is not None else Path("results/sweeps") / spec.name
    check_out(out, "sweep")
    try:
        result = run_sweep(spec, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, quiet=args.quiet,
                           allow_mixed_code=args.allow_mixed_code)
    except KeyboardInterrupt:
        return interrupted(out)
    print(result.summary())
    return 0 if result.complete else 1


def sensitivity(args: argparse.Namespace) -> int:
    from ..sensitivity import load_sensitivity_spec, run_study

    spec = load_sensitivity_spec(args.spec)
    out: Path = args.out if args.out is not None else Path("results/sensitivity") / spec.name
    try:
        result = run_study(spec, out, workers=args.workers, scheduler=args.scheduler, quiet=args.quiet,
                           allow_mixed_code=args.allow_mixed_code)
    except KeyboardInterrupt:
        return interrupted(out, "runs", "run the same command again to continue")
    print(result.summary())
    return 0


def rollout(args: argparse.Namespace) -> int:
    from ..population import format_summary, make_rollout_plan, run_rollout, split_overrides

    provider, params = split_overrides(args.overrides, args.provider)
    plan = make_rollout_plan(args.state, provider=provider, n=args.districts, replicates=args.replicates,
                             seed=args.seed, params=params)
    out = args.out if args.out is not None else Path("results/rollout") / f"{plan.population.state}-{provider['kind']}"
    check_out(out, "rollout")
    try:
        result = run_rollout(plan, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, quiet=args.quiet,
                             allow_mixed_code=args.allow_mixed_code)
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

    def progress(event: dict) -> None:
        print(format_progress(event), file=sys.stderr, flush=True)

    out = args.out if args.out is not None else Path("results/calibration") / args.budget
    # before any work: not a folder of another kind (a sweep store, a case), no link inside (the
    # calibration writes its files with plain opens)
    check_out(out, "calibration")
    try:
        result = run_calibration(args.budget, out, scheduler=args.scheduler, workers=args.workers, seed=args.seed,
                                 write_defaults=args.write_defaults, resume=args.resume, figures=not args.no_figures,
                                 progress=None if args.quiet else progress)
    except KeyboardInterrupt:
        return interrupted(out, "generations")
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
            "app": app, "rollout": rollout}
