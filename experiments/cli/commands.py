"""The commands: each parses nothing more, calls one library function and prints what it returned."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..execution.outputs import check_out
from .options import interrupted, interrupted_unchanged, say


def case(args: argparse.Namespace) -> int:
    from ..case_job import run_case_job
    from ..execution.progress import progress_bar
    from ..report import format_summary

    try:
        with progress_bar(args.replicates, "case", quiet=args.quiet) as progress:
            job = run_case_job(args.out, replicates=args.replicates, seed=args.seed, scenario_file=args.scenario,
                               case_file=args.case_file, overrides=args.overrides, posterior=args.posterior,
                               figures=not args.no_figures, progress=progress)
    except KeyboardInterrupt:
        return interrupted_unchanged(args.out)
    say(format_summary(job.summary))
    say("\nWrote: " + ", ".join(str(p) for p in job.written))
    return 0


def whatif(args: argparse.Namespace) -> int:
    from ..execution.progress import progress_bar
    from ..whatif import format_whatif_list, list_whatifs, run_whatif

    if args.list:
        say(format_whatif_list(list_whatifs()))
        return 0
    if args.whatif_name is None and not args.overrides:
        raise ValueError("nothing to compare: give --whatif NAME (see --list) and/or --set KEY=VALUE")
    out: Path = args.out if args.out is not None else Path("results/whatif") / (args.whatif_name or "custom")
    check_out(out, "whatif", replaces=True)  # before any run
    try:
        with progress_bar(2 * args.replicates, "whatif", quiet=args.quiet) as progress:
            result = run_whatif(args.base, args.overrides, name=args.whatif_name, replicates=args.replicates,
                                seed=args.seed, progress=progress, baseline=args.baseline)
        written = result.write(out, figure=not args.no_figure)
    except KeyboardInterrupt:
        return interrupted_unchanged(out)
    say(result.format())
    say("\nWrote: " + ", ".join(str(p) for p in written))
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
    say(result.summary())
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
    say(result.summary())
    return 0


def discover(args: argparse.Namespace) -> int:
    from ..discovery import default_out
    from ..discovery import discover as run_discovery

    direction, threshold = ("above", args.above) if args.above is not None else ("below", args.below)
    out = args.out if args.out is not None else default_out(args.store, args.outcome, direction, threshold)
    check_out(out, "discovery")  # before any work: not a folder of another kind, no link inside
    result = run_discovery(args.store, args.outcome, above=args.above, below=args.below, out=out,
                           aggregate=args.aggregate, share_min=args.share_min, nan=args.nan, stage=args.stage,
                           min_coverage=args.min_coverage, density_tolerance=args.density_tolerance,
                           significance=args.significance, bootstrap=args.bootstrap, seed=args.seed,
                           figures=not args.no_figures,
                           progress=None if args.quiet else lambda msg: say(msg, file=sys.stderr))
    say(result.text)
    say("\nWrote: " + ", ".join(str(p) for p in result.files))
    return 0


def rollout(args: argparse.Namespace) -> int:
    from ..population import format_summary, make_rollout_plan, run_rollout, split_overrides

    provider, params = split_overrides(args.overrides, args.provider)
    plan = make_rollout_plan(args.state, provider=provider, n=args.districts, replicates=args.replicates,
                             seed=args.seed, params=params)
    out = args.out if args.out is not None else Path("results/rollout") / f"{plan.population.state}-{provider['kind']}"
    if args.out is None and Path("results/rollout").resolve() not in out.resolve().parents:
        raise ValueError(f"the default output folder {out} would not be inside results/rollout; give --out")
    check_out(out, "rollout")
    try:
        result = run_rollout(plan, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, quiet=args.quiet,
                             allow_mixed_code=args.allow_mixed_code)
    except KeyboardInterrupt:
        return interrupted(out)
    say(f"rollout {plan.population.state} ({provider['kind']}): {result.runs_done} of {result.n_runs} runs, "
          f"{result.n_errors} errors, {result.seconds:.1f} s on {result.executor}; results in {out}")
    if result.summary is not None:
        say(format_summary(result.summary))
    return 0


def calibrate(args: argparse.Namespace) -> int:
    from calibration.fit import calibrate as run_calibration
    from calibration.fit import format_progress
    from calibration.report import provisional_notice

    started = []

    def progress(event: dict) -> None:
        if not started and args.budget == "quick":  # once the run has started (bad input stays one line)
            say("coherence-sim calibrate: quick budget -- a smoke test of the pipeline, not a calibration to rely on",
                file=sys.stderr)
        started.append(True)
        say(format_progress(event), file=sys.stderr)

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
    notice = provisional_notice(result)
    if notice:  # first, above everything the run prints
        say(notice + "\n")
    say(result.summary())
    say("\nWrote: " + ", ".join(str(p) for p in result.written))
    return 0


def app(args: argparse.Namespace) -> int:
    """Serve experiments/app/page.py with Solara's server (production mode, assets served locally),
    offline (no version check, no telemetry), stopped with this process (SIGTERM, SIGHUP, Ctrl-C,
    and -- on Linux -- even kill -9 of this process)."""
    import signal
    import subprocess

    warning = host_warning(args.host)
    if warning:
        say(f"coherence-sim app: warning: {warning}", file=sys.stderr)
    port = args.port if args.port != 0 else free_port(args.host)
    cmd, env = app_command(args.host, port, check_version=args.check_version)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    say(f"coherence-sim app: serving on http://{shown}:{port} (Ctrl-C stops)")
    sys.stdout.flush()
    import functools
    import os

    child = subprocess.Popen(cmd, env=env, preexec_fn=functools.partial(_die_with_parent, os.getpid()))  # noqa: S603
    stopped: list[int] = []

    def stop(signum, frame):  # SIGTERM / SIGHUP to us: stop the server with us
        stopped.append(signum)
        if child.poll() is None:
            child.terminate()

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        rc = child.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the server too (same process group); give it a moment
        rc = 130
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 128 + stopped[0] if stopped else rc


def app_command(host: str, port: int, check_version: bool = False) -> tuple[list[str], dict[str, str]]:
    """The Solara command line and environment of the app: served offline. Solara's assets proxy
    (its default) serves the CDN files from the solara-assets package -- never turned off here;
    its version check (a request to the package index at every start) is off unless asked for,
    and so is its telemetry unless the environment says otherwise."""
    import os

    env = {**os.environ, "SOLARA_ASSETS_PROXY": "true"}
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    env.setdefault("SOLARA_THEME_SHOW_BANNER", "False")  # no "runs on Solara" banner over the page's corner
    cmd = [sys.executable, "-m", "solara", "run", "experiments.app.page", "--host", host, "--port", str(port),
           "--production", "--no-open", "--log-level", "warning"]
    if not check_version:
        cmd.append("--no-check-version")
    return cmd, env


def host_warning(host: str) -> str | None:
    """A warning when ``host`` makes the app reachable from other machines (None for loopback)."""
    import ipaddress
    import socket

    try:
        addrs = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:
        try:
            addrs = {ipaddress.ip_address(ai[4][0].split("%")[0]) for ai in socket.getaddrinfo(host, None)}
        except (OSError, ValueError):
            addrs = set()
    if addrs and all(a.is_loopback for a in addrs):
        return None
    return (f"--host {host} makes the app reachable from the network: anyone who can reach this machine can use it, "
            "with no login (run the model, read the scenarios it offers); use --host 127.0.0.1 (the default) to keep it "
            "on this machine")


def free_port(host: str) -> int:
    """A port free on ``host`` now (for --port 0: the port is chosen here, so that it can be printed)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host.strip("[]"), 0))
        return s.getsockname()[1]


def _die_with_parent(parent: int) -> None:
    """In the server's process, before it starts: ask Linux to send it SIGTERM when its parent (this
    command) dies, however it dies (kill -9 included); elsewhere a no-op."""
    import os
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) == 0 and os.getppid() != parent:  # 1 = PR_SET_PDEATHSIG
            os.kill(os.getpid(), signal.SIGTERM)  # the parent died before the request: stop now
    except (OSError, AttributeError):
        pass


COMMANDS = {"case": case, "whatif": whatif, "sweep": sweep, "calibrate": calibrate, "sensitivity": sensitivity,
            "app": app, "rollout": rollout, "discover": discover}
