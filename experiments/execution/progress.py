"""Progress reporting for long work: a tqdm bar with rate and ETA on a terminal, silent otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress_bar(total: int, desc: str, quiet: bool = False) -> Callable[[int, int], None]:
    """Yield a callback ``(done, total)``; shows a bar only on an interactive stderr."""
    show = not quiet and sys.stderr.isatty()
    bar = tqdm(total=total, desc=desc, unit="run", disable=not show, file=sys.stderr, smoothing=0.1)
    last = [0]

    def update(done: int, _total: int) -> None:
        bar.update(done - last[0])
        last[0] = done

    try:
        yield update
    finally:
        bar.close()
