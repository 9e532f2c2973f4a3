"""The one session loop of every resumable study (sweeps, rollouts, sensitivity studies).

A *session* is one call that works on a results store (:class:`~.store.SweepStore`): it skips the
chunks the store already holds (resume), computes the others on an executor -- at most
``max_in_flight`` at a time, a chunk that raises tried again up to :data:`MAX_ATTEMPTS` times, a
lost worker's pool restarted (:func:`run_chunks`) -- stores each chunk as it finishes, shows
progress, and records how the session ended in the store's manifest:

* ``complete``: every chunk of the study is stored;
* ``incomplete``: some chunks failed every attempt (they are listed, and done on resume);
* ``interrupted``: Ctrl-C (``KeyboardInterrupt``) -- finished chunks are kept;
* ``failed``: any other exception (a full disk, a bug) -- finished chunks are kept too.

Failed *runs* are isolated one level down: a chunk's worker function records a run that raises as
a row with ``status="error"`` and goes on (``experiments.sweep.worker.run_chunk``).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .progress import progress_bar

__all__ = ["MAX_ATTEMPTS", "SessionResult", "close_quietly", "now", "open_store", "run_chunks", "run_session"]


MAX_ATTEMPTS = 3  # tries per chunk before it is left undone and reported


def run_chunks(
    executor: Any,
    todo: Iterable[int],
    fn: Callable[[Any], Any],
    task_of: Callable[[int], Any],
    key_of: Callable[[int], str],
    on_done: Callable[[int, Any, int], None],
    max_attempts: int = MAX_ATTEMPTS,
) -> dict[int, str]:
    """Compute ``fn(task_of(c))`` for every chunk ``c`` of ``todo`` on ``executor`` -- the one loop
    that sweeps, sensitivity studies and rollouts share.

    At most ``executor.max_in_flight`` chunks are in flight (memory stays bounded); each finished
    chunk goes to ``on_done(c, result, attempt)`` in completion order. A chunk that raises is tried
    again, up to ``max_attempts`` times. A lost local worker breaks the pool: what the pool finished
    is collected, every chunk in flight counts an attempt (which one killed the worker is unknown),
    the pool is restarted and the rest resubmitted (Dask reschedules a lost worker's tasks itself).
    Returns ``{chunk: error}`` for the chunks that failed every attempt."""
    todo = deque(todo)
    attempts: dict[int, int] = {}
    failed: dict[int, str] = {}
    inflight: dict[Any, int] = {}

    def settle(fut: Any, c: int) -> bool:
        """Hand a finished chunk on, or schedule its retry; True when its worker was lost."""
        exc = fut.exception()
        if exc is None:
            on_done(c, fut.result(), attempts.get(c, 0) + 1)
            return False
        attempts[c] = attempts.get(c, 0) + 1
        if attempts[c] < max_attempts:
            todo.appendleft(c)
        else:
            failed[c] = f"{type(exc).__name__}: {exc}"[:2000]
        return executor.is_lost_worker(exc)

    while todo or inflight:
        lost = False
        while todo and len(inflight) < executor.max_in_flight:
            c = todo.popleft()
            try:
                fut = executor.submit(fn, task_of(c), key=key_of(c))
            except Exception as exc:  # a pool broken by a dead worker refuses new work
                if not executor.is_lost_worker(exc):
                    raise
                todo.appendleft(c)
                lost = True
                break
            inflight[fut] = c
        for fut in (set() if lost else executor.wait_first(list(inflight))):
            lost = settle(fut, inflight.pop(fut)) or lost
        if lost:  # the pool is broken: collect what it finished, then restart it
            cf.wait(list(inflight))
            for fut, c in list(inflight.items()):
                settle(fut, c)
            inflight.clear()
            executor.restart()
    return failed


@dataclass
class SessionResult:
    """What one session did: runs stored, chunks that failed every attempt, the executor it used."""

    runs: int
    failed: dict[int, str] = field(default_factory=dict)
    executor: Any = None
    seconds: float = 0.0

    @property
    def executor_description(self) -> str:
        return self.executor.describe() if self.executor is not None else "nothing (already complete)"


def run_session(
    store: Any,
    n_chunks: int,
    *,
    compute: Callable[[Any], Any],
    task_of: Callable[[int], Any],
    key_of: Callable[[int], str],
    save: Callable[[int, Any, int], int],
    runs_in_chunk: Callable[[int], int],
    make_executor: Callable[[int], Any],
    describe: Callable[[int], str],
    executor: Any = None,
    keep_executor: bool = False,
    quiet: bool = False,
    before: Callable[[], None] | None = None,
    finish: Callable[[], None] | None = None,
) -> SessionResult:
    """Work on ``store`` until chunks ``0 .. n_chunks - 1`` are stored or have failed every attempt.

    ``compute(task_of(c))`` computes chunk ``c`` on the executor (``key_of(c)`` names its task);
    ``save(c, result, attempt)`` stores it and returns its number of runs. ``executor``: one already
    reached (e.g. a Dask cluster, before the store was opened); otherwise ``make_executor(n_todo)``
    makes one when there is work. ``describe(done_runs)`` is the progress bar's label; ``before()``
    writes the store's static files; ``finish()``, called once every chunk is stored and before the
    manifest says ``complete``, writes what is derived from them (a rollout's summary): a store
    marked complete has it, one killed before has not and is not marked complete. The executor is closed at the end unless ``keep_executor``
    (it is always closed, cancelling its work, on Ctrl-C or an error). The store is closed.
    Ctrl-C and errors are re-raised after the manifest records ``interrupted`` or ``failed``.
    """
    t0 = time.perf_counter()
    runs = 0
    failed: dict[int, str] = {}
    try:
        if before is not None:
            before()
        done = store.completed()
        todo = [c for c in range(n_chunks) if c not in done]
        if todo:
            if executor is None:
                executor = make_executor(len(todo))
            store.manifest["sessions"][-1]["executor"] = executor.describe()
            total = sum(runs_in_chunk(c) for c in todo)
            with progress_bar(total, describe(sum(runs_in_chunk(c) for c in done if c < n_chunks)), quiet=quiet) as progress:

                def stored(c: int, result: Any, attempt: int) -> None:
                    nonlocal runs
                    runs += save(c, result, attempt)
                    progress(runs, total)

                failed = run_chunks(executor, todo, compute, task_of, key_of, stored)
        complete = all(c in store.completed() for c in range(n_chunks))
        if complete and finish is not None:
            finish()
        store.set_status("complete" if complete else "incomplete", finished=now(), runs=runs)
    except KeyboardInterrupt:
        close_quietly(executor, cancel=True)
        executor = None
        _quietly(store.set_status, "interrupted", finished=now(), runs=runs)
        raise
    except BaseException:
        close_quietly(executor, cancel=True)
        executor = None
        _quietly(store.set_status, "failed", finished=now(), runs=runs)
        raise
    finally:
        if not keep_executor:
            close_quietly(executor, cancel=False)
        store.close()
    return SessionResult(runs, failed, executor, time.perf_counter() - t0)


def open_store(out: Any, manifest: dict, *, resume: bool, scheduler: Any = None, **store_options: Any) -> tuple[Any, Any]:
    """Open a study's store: ``(store, executor)``. A Dask cluster (``scheduler``) is reached first,
    so that a wrong address leaves nothing behind; local executors are made later, by
    :func:`run_session`, when there is work (the executor is then None). ``store_options`` go to
    :meth:`~.store.SweepStore.open` (``expected_keys``, ``allow_mixed_code``, ``key_columns``)."""
    from .executor import make_executor
    from .store import SweepStore

    executor = make_executor(workers=None, scheduler=scheduler) if scheduler is not None else None
    try:
        return SweepStore.open(out, manifest, resume=resume, **store_options), executor
    except BaseException:
        close_quietly(executor)
        raise


def close_quietly(executor: Any, cancel: bool = False) -> None:
    """Close an executor (if any); an error while closing must not hide the one that led here."""
    if executor is not None:
        try:
            executor.close(cancel=cancel)
        except Exception:  # noqa: BLE001
            pass


def _quietly(fn: Callable, *args: Any, **kw: Any) -> None:
    try:
        fn(*args, **kw)
    except Exception:  # noqa: BLE001 - recording the end of a session must not hide its error
        pass


def now() -> str:
    """The time, UTC, to the second (the manifest's session records)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
