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


def build_parser() -> argparse.ArgumentParser:
    from .case import DEFAULT_REPLICATES, DEFAULT_SEED
    from .provenance import package_version

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
    case.add_argument("--case-file", type=Path, default=None, help="a case file (TOML); default: the packaged four-district case")
    case.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    case.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def cmd_case(args: argparse.Namespace) -> int:
    from .case import element_shares, run_case, summarise
    from .casefile import load_case
    from .progress import progress_bar
    from .report import format_summary

    definition = load_case(args.case_file)
    with progress_bar(args.replicates, "case", quiet=args.quiet) as progress:
        run = run_case(replicates=args.replicates, seed=args.seed, definition=definition, progress=progress)
    summary = summarise(run)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")
    tmp.replace(out / "summary.json")
    print(format_summary(summary))
    written = [out / "summary.json"]
    if not args.no_figures:
        from calibration.targets import load_observed

        from .figures import write_case_figures

        written += write_case_figures(
            element_shares(run), summary, run.districts, out, observed_changed=load_observed().changed_elements
        )
    print("\nWrote: " + ", ".join(str(p) for p in written))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "case":
            return cmd_case(args)
    except ValueError as exc:  # bad input: a clear message naming the field, no traceback
        print(f"coherence-sim: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"coherence-sim: error: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
