"""The command line's shared pieces, declared once: the options every run takes (as argparse parent
parsers), the one whole-number validator, and the one message for Ctrl-C."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..case import DEFAULT_REPLICATES, DEFAULT_SEED


def whole_number(low: int, high: int | None = None, what: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low`` (and <= ``high``, when given)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what or 'a whole number'} in [{low}, {high}]")
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {low}")
        return value

    return parse


positive = whole_number(1)
seed = whole_number(0)
port = whole_number(0, 65535, "a port")


def replicates_option(default: int = DEFAULT_REPLICATES, help: str = "replicates") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--replicates", type=positive, default=default, help=f"{help} (default {default})")
    return parser


def seed_option(default: int = DEFAULT_SEED, help: str = "root seed") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--seed", type=seed, default=default, help=f"{help} (default {default})")
    return parser


def out_path(text: str) -> Path:
    """An argparse type for --out: a folder name, never empty (``Path("")`` is the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; give a folder name (an empty --out would write into the current folder)")
    return Path(text)


def out_option(default: str | None, help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--out", type=out_path, default=Path(default) if default else None, help=help)
    return parser


def set_option(help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help)
    return parser


def quiet_option(help: str = "no progress bar") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--quiet", action="store_true", help=help)
    return parser


def executor_options(resume: str | None = None) -> argparse.ArgumentParser:
    """--workers and --scheduler (and --resume, with its help, when the command resumes)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workers", type=positive, default=None,
                        help="local worker processes (default: every core; 1 runs in this process)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="run on the Dask distributed cluster with this scheduler instead of local processes")
    if resume:
        parser.add_argument("--resume", action="store_true", help=resume)
    parser.add_argument("--allow-mixed-code", action="store_true",
                        help="resume a store computed by other code (another version, or edited sim/ sources); "
                        "refused without it; the mix is recorded in the manifest")
    return parser


def interrupted(out: Path | str | None, kept: str = "chunks", again: str = "continue with --resume") -> int:
    """Say what Ctrl-C left behind (one line on stderr); the exit status 130."""
    say(f"coherence-sim: interrupted; finished {kept} are kept in {out}: {again}", file=sys.stderr)
    return 130


def interrupted_unchanged(out: Path | str | None) -> int:
    """Ctrl-C in a command that writes its folder as a whole (case, what-if): one line; 130."""
    say(f"coherence-sim: interrupted; {out} was not changed (its files are written only once the run has finished)",
        file=sys.stderr)
    return 130


# C0 controls but tab and newline, DEL, C1 controls, bidirectional overrides and isolates, and the
# lone surrogates that stand for the bytes of a name that is not UTF-8
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(ch: str) -> str:
    o = ord(ch)
    if 0xDC80 <= o <= 0xDCFF:  # a byte of a non-UTF-8 file name (surrogateescape)
        return f"\\x{o - 0xDC00:02x}"
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def terminal_text(text: str) -> str:
    """Text safe to show on a terminal: control characters (ANSI escape sequences, carriage returns,
    bells), bidirectional overrides and undecodable bytes of file names are shown escaped
    (``\\x1b``, ``\\u202e``, ``\\xff``) instead of acting on the terminal; newlines and tabs stay."""
    return _UNSAFE.sub(lambda m: _escape(m.group()), str(text))


def say(text: object, file=None) -> None:
    """Print one message for a person (through :func:`terminal_text`)."""
    print(terminal_text(str(text)), file=file if file is not None else sys.stdout)


def paragraph(exc: BaseException, limit: int = 2000) -> str:
    """An error message as one paragraph (no blank lines) of at most ``limit`` characters."""
    text = "\n".join(line.rstrip() for line in str(exc).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."
