"""The ``coherence-sim`` command line (the shell, with the app: it may use every layer). It parses
arguments, calls one library function per command and prints; nothing else lives here.

* :mod:`.options`: the options shared by the commands (parent parsers), the one whole-number
  validator and the one Ctrl-C message;
* :mod:`.parser`: the grammar (:func:`build_parser`);
* :mod:`.commands`: one function per command.

Bad input ends in one line ``coherence-sim: error: ...`` and exit status 2; a full disk in one
paragraph saying what is saved (exit status 1); Ctrl-C in one line saying what is kept (130); a
closed pipe (``| head``) in silence (141). Everything shown to a person goes through
:func:`.options.say`, which escapes control characters (ANSI sequences in a scenario's name).
"""

from __future__ import annotations

import sys

from .commands import COMMANDS
from .options import paragraph, say
from .parser import build_parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling (start-up, parsing): one line
        say("coherence-sim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `coherence-sim ... | head`: the reader is gone; stop quietly
        _stdout_to_devnull()
        return 141


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = COMMANDS.get(args.command)
    if command is None:
        parser.error(f"unknown command {args.command!r}")
    try:
        return command(args)
    except ValueError as exc:  # bad input: a clear message naming the field, no traceback
        say(f"coherence-sim: error: {paragraph(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        from ..execution.files import is_disk_full
        from .messages import disk_full_message

        if is_disk_full(exc):  # a full disk: where, what is saved, free space then --resume
            say(disk_full_message(exc, getattr(args, "out", None)), file=sys.stderr)
            return 1
        say(f"coherence-sim: error: {paragraph(exc)}", file=sys.stderr)
        return 2


def _stdout_to_devnull() -> None:
    """After a broken pipe: point stdout at /dev/null so that the interpreter's last flush at exit
    does not print "Exception ignored ... BrokenPipeError" (Python's documented recipe)."""
    import os

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (e.g. captured by a test)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


__all__ = ["build_parser", "main"]
