"""The ``coherence-sim`` command line (the shell, with the app: it may use every layer). It parses
arguments, calls one library function per command and prints; nothing else lives here.

* :mod:`.options`: the options shared by the commands (parent parsers), the one whole-number
  validator and the one Ctrl-C message;
* :mod:`.parser`: the grammar (:func:`build_parser`);
* :mod:`.commands`: one function per command.

Bad input ends in one line ``coherence-sim: error: ...`` and exit status 2; a full disk in one
paragraph saying what is saved (exit status 1); Ctrl-C in one line saying what is kept (130).
"""

from __future__ import annotations

import sys

from .commands import COMMANDS
from .options import paragraph
from .parser import build_parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = COMMANDS.get(args.command)
    if command is None:
        parser.error(f"unknown command {args.command!r}")
    try:
        return command(args)
    except ValueError as exc:  # bad input: a clear message naming the field, no traceback
        print(f"coherence-sim: error: {paragraph(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        from ..execution.store import disk_full_message, is_disk_full

        if is_disk_full(exc):  # a full disk: where, what is saved, free space then --resume
            print(disk_full_message(exc, getattr(args, "out", None)), file=sys.stderr)
            return 1
        print(f"coherence-sim: error: {exc}", file=sys.stderr)
        return 2


__all__ = ["build_parser", "main"]
