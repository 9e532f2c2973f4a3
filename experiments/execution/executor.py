"""Where a sweep's chunks are computed: in this process, in local worker processes, or on a Dask
cluster -- behind one small concurrent.futures-style interface, chosen by :func:`make_executor`.

* ``InlineExecutor`` (one worker): runs each chunk in the calling process. No start-up cost, and
  monkeypatches and debuggers see the work.
* ``LocalProcessExecutor`` (the default, one process per core): ``ProcessPoolExecutor`` on a start
  method chosen deliberately (:func:`start_method`):

  - ``fork`` when the parent runs no other Python thread (the CLI, a script): workers start at once
    with the model already imported. The only other threads then are native pools whose libraries
    handle fork themselves (OpenBLAS, jemalloc under pyarrow).
  - ``forkserver`` otherwise (a Dask client's event loop, tqdm's monitor, a notebook kernel's
    threads): ``fork`` of a threaded process can deadlock the child (Python >= 3.12 warns; 3.14 made
    forkserver the default). The server imports the model once (``set_forkserver_preload``, about
    2 s) and forks ready workers from there; spawn would pay that import in every worker.

  ``COHERENCE_SIM_START_METHOD=fork|forkserver|spawn`` forces one. The method is set on a context
  only: unlike ``mesa.batch_run`` nothing changes the process-wide default. As with any such pool,
  a script that starts a sweep on worker processes needs the ``if __name__ == "__main__":`` guard
  (forkserver and spawn re-import the main module in each worker). Workers ignore SIGINT, so
  Ctrl-C reaches only the parent, which stops cleanly.
* ``DaskExecutor`` (``scheduler="tcp://host:port"`` or a ``distributed.Client``): the same tasks on a
  Dask distributed cluster. Tasks of a lost worker are rescheduled by Dask; a task that still fails
  is resubmitted by the sweep.

Each executor bounds the work in flight (``max_in_flight``, twice the workers), so a sweep's memory
does not grow with its size.

Dask workers for sweeps: Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536``
(``distributed.nanny.pre-spawn-environ``), which pins glibc's trim threshold low and turns off its
adaptive thresholds; this model allocates many small, short-lived arrays, and its chunks then run
15-25% slower than in a local process (benchmarks/bench_sweep.py). :data:`DASK_WORKER_CONFIG`
unsets it (Dask's documented way: a ``None`` value) and turns off the workers' statistical
profiler (a stack sample every 10 ms). It lives in a YAML file, :data:`DASK_WORKER_CONFIG_FILE`
(``dask_workers.yaml`` beside this module): ``DASK_CONFIG=<that file> dask worker ...`` starts
workers with it from a shell (environment variables cannot: Dask lower-cases their keys), and
:func:`local_dask_cluster` starts a ``LocalCluster`` with it. :class:`DaskExecutor` warns once when
the workers it reaches still run with the trim threshold set.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from concurrent.futures.process import BrokenProcessPool
from typing import Any

IN_FLIGHT_PER_WORKER = 2

#: Dask configuration for the workers of a sweep, as a YAML file (see the module docstring and the
#: README, "Dask"): ``DASK_CONFIG=<this file> dask worker ...``. A file, because Dask lower-cases the
#: keys of ``DASK_...`` environment variables (``MALLOC_TRIM_THRESHOLD_`` would become a key the nanny
#: does not know); YAML keeps their case.
DASK_WORKER_CONFIG_FILE = Path(__file__).resolve().with_name("dask_workers.yaml")


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _worker_config() -> dict[str, Any]:
    import yaml

    return _flatten(yaml.safe_load(DASK_WORKER_CONFIG_FILE.read_text(encoding="utf-8")))


#: The same configuration as dotted keys for ``dask.config.set`` (read from :data:`DASK_WORKER_CONFIG_FILE`).
DASK_WORKER_CONFIG: dict[str, Any] = _worker_config()
#: The environment to start ``dask worker`` with from a shell.
DASK_WORKER_ENV = {"DASK_CONFIG": str(DASK_WORKER_CONFIG_FILE)}
_TRIM = "MALLOC_TRIM_THRESHOLD_"


def local_dask_cluster(n_workers: int = 2, **kwargs: Any):
    """A ``distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes configured for
    sweeps (:data:`DASK_WORKER_CONFIG`, from :data:`DASK_WORKER_CONFIG_FILE`); use it as a context manager.

    Worker processes inherit this process's environment, and every Dask nanny started here before
    (a default ``LocalCluster``) has put Dask's ``MALLOC_TRIM_THRESHOLD_`` into it ("poisoning the
    process running the Nanny", distributed.nanny); the variable is therefore removed from this
    process's environment (glibc reads it only when a process starts, so this process is unaffected)."""
    import dask
    from distributed import LocalCluster

    kw = {"threads_per_worker": 1, "processes": True, "dashboard_address": ":0", **kwargs}
    if DASK_WORKER_CONFIG.get(f"distributed.nanny.pre-spawn-environ.{_TRIM}", 0) is None:
        os.environ.pop(_TRIM, None)
    with dask.config.set(DASK_WORKER_CONFIG):
        return LocalCluster(n_workers=n_workers, **kw)


def _worker_trim_threshold() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")
WORKER_PRELOAD = ("experiments.sweep",)
START_METHODS = ("fork", "forkserver", "spawn")
START_METHOD_ENV = "COHERENCE_SIM_START_METHOD"


def start_method() -> str:
    """``fork`` if this process runs no other Python thread (on Linux), else ``forkserver``;
    ``$COHERENCE_SIM_START_METHOD`` overrides."""
    import multiprocessing
    import sys
    import threading

    forced = os.environ.get(START_METHOD_ENV)
    if forced:
        if forced not in START_METHODS:
            raise ValueError(f"{START_METHOD_ENV}: {forced!r} is not allowed; allowed: {', '.join(START_METHODS)}")
        return forced
    available = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and threading.active_count() == 1 and "fork" in available:
        return "fork"
    return "forkserver" if "forkserver" in available else "spawn"


def default_workers() -> int:
    """Cores this process may use."""
    count = getattr(os, "process_cpu_count", None)
    n = count() if count else None
    if not n:
        try:
            n = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            n = os.cpu_count() or 1
    return max(1, int(n))


class InlineExecutor:
    """Run each task in this process when it is submitted (one worker)."""

    kind = "inline"

    def __init__(self) -> None:
        self.workers = 1

    @property
    def max_in_flight(self) -> int:
        return 1

    def submit(self, fn: Callable[[Any], Any], arg: Any, key: str | None = None) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(arg))
        except Exception as exc:  # KeyboardInterrupt/SystemExit propagate: the sweep stops
            fut.set_exception(exc)
        return fut

    def wait_first(self, futures: Iterable[Any]) -> set:
        return {f for f in futures if f.done()}

    def is_lost_worker(self, exc: BaseException) -> bool:
        return False

    def restart(self) -> None:
        pass

    def close(self, cancel: bool = False) -> None:
        pass

    def describe(self) -> str:
        return "this process"


def _init_worker(parent_pid: int) -> None:
    # Ctrl-C goes to the whole foreground process group; only the parent should react to it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)


def _exit_with_parent(parent_pid: int) -> None:
    """A worker must not outlive the sweep's process (kill -9 of it): an orphaned worker would
    wait for work forever (its siblings, or a forkserver kept alive by the workers themselves,
    hold the task queue open). A daemon thread waits for the parent's exit (a pidfd on Linux,
    else polling) and ends the worker; with fork, PR_SET_PDEATHSIG does it at once as well."""
    import sys
    import threading

    if sys.platform.startswith("linux") and os.getppid() == parent_pid:
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    try:
        pidfd = os.pidfd_open(parent_pid) if hasattr(os, "pidfd_open") else None
    except ProcessLookupError:
        os._exit(1)  # the parent is already gone
    except OSError:
        pidfd = None

    def watch() -> None:
        import select
        import time

        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the parent has exited
            os._exit(1)
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class LocalProcessExecutor:
    """Local worker processes (``ProcessPoolExecutor`` on a forkserver context)."""

    kind = "processes"

    def __init__(self, workers: int, preload: Iterable[str] = WORKER_PRELOAD) -> None:
        if workers < 1:
            raise ValueError(f"workers: {workers!r} must be >= 1")
        self.workers = int(workers)
        self._preload = list(preload)
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        import multiprocessing

        self.start_method = start_method()  # chosen again on a restart: threads may have appeared
        ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            ctx.set_forkserver_preload(self._preload)
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),))

    @property
    def max_in_flight(self) -> int:
        return IN_FLIGHT_PER_WORKER * self.workers

    def submit(self, fn: Callable[[Any], Any], arg: Any, key: str | None = None) -> cf.Future:
        return self._pool.submit(fn, arg)

    def wait_first(self, futures: Iterable[Any]) -> set:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return done

    def is_lost_worker(self, exc: BaseException) -> bool:
        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        """Replace a broken pool (a worker died) with a fresh one.

        The old pool's threads are waited for first (its workers are gone already, so this is
        quick): the start method is then chosen on the threads that really remain, and no worker is
        forked beside a dying pool's threads (which could deadlock the child)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    def describe(self) -> str:
        return f"{self.workers} local processes ({self.start_method})"


class DaskExecutor:
    """A Dask distributed cluster, reached at ``scheduler`` (an address or a ``Client``)."""

    kind = "dask"

    def __init__(self, scheduler: Any, timeout: str = "10s") -> None:
        from distributed import Client

        if isinstance(scheduler, Client):
            self._client, self._own = scheduler, False
        elif isinstance(scheduler, str):
            if "://" not in scheduler:
                raise ValueError(f"--scheduler: {scheduler!r} is not a scheduler address; expected e.g. tcp://127.0.0.1:8786")
            try:
                self._client, self._own = Client(scheduler, timeout=timeout, set_as_default=False), True
            except OSError as exc:
                raise OSError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
        else:
            raise ValueError(f"scheduler: expected an address like tcp://127.0.0.1:8786 or a distributed.Client, got {type(scheduler).__name__}")
        from distributed import as_completed

        self.address = self._client.scheduler.address
        self._check_workers()
        self._session = uuid.uuid4().hex[:8]
        self._futures: set = set()
        self._nthreads, self._nthreads_at = 1, float("-inf")
        # completion order via this client's loop (distributed.wait would need a default client)
        self._completed = as_completed(loop=self._client.loop, raise_errors=False)

    def _check_workers(self) -> None:
        """Warn once if the cluster's workers run with Dask's malloc trim threshold (slower runs)."""
        import warnings

        try:
            found = {v for v in self._client.run(_worker_trim_threshold).values() if v is not None}
        except Exception:  # noqa: BLE001 - a check only: never stop a sweep for it
            return
        if found:
            warnings.warn(
                f"the Dask workers run with MALLOC_TRIM_THRESHOLD_={', '.join(sorted(found))} (Dask's default), which "
                f"makes this model's runs about 15-25% slower; start them with `DASK_CONFIG={DASK_WORKER_CONFIG_FILE} "
                "dask worker ...` (a YAML file: Dask lower-cases the keys of DASK_... environment variables; README, "
                "'Dask') or experiments.execution.local_dask_cluster()",
                RuntimeWarning,
                stacklevel=3,
            )

    @property
    def workers(self) -> int:
        """Worker threads of the cluster now (asked at most once a second: clusters scale)."""
        import time

        now = time.monotonic()
        if now - self._nthreads_at > 1.0:
            try:
                self._nthreads = max(0, sum(self._client.nthreads().values()))
            except Exception:  # noqa: BLE001 - a transient scheduler hiccup: keep the last count
                pass
            self._nthreads_at = now
        return self._nthreads

    @property
    def max_in_flight(self) -> int:
        return IN_FLIGHT_PER_WORKER * max(1, self.workers)

    def submit(self, fn: Callable[[Any], Any], arg: Any, key: str | None = None) -> Any:
        k = f"{key or 'task'}-{self._session}-{uuid.uuid4().hex[:8]}"
        fut = self._client.submit(fn, arg, key=k, pure=False)
        self._futures.add(fut)
        self._completed.add(fut)
        return fut

    def wait_first(self, futures: Iterable[Any]) -> set:
        """Block until at least one submitted future is done; return every one done by then."""
        done = {next(self._completed)}
        done.update(self._completed.next_batch(block=False))
        self._futures -= done
        return done

    def is_lost_worker(self, exc: BaseException) -> bool:
        # Dask reschedules the tasks of a lost worker itself; a task that still fails (KilledWorker)
        # is resubmitted by the sweep, and nothing here needs restarting.
        return False

    def restart(self) -> None:
        pass

    def close(self, cancel: bool = False) -> None:
        try:
            if self._futures:
                self._client.cancel(list(self._futures))
            self._futures.clear()
        finally:
            if self._own:
                self._client.close()

    def describe(self) -> str:
        return f"Dask cluster at {self.address} ({self.workers} worker threads)"


def make_executor(workers: int | None = None, scheduler: Any = None, max_tasks: int | None = None):
    """The executor for a sweep: Dask if ``scheduler`` is given, else ``workers`` local processes
    (default: every core), or this process when that is one worker. ``max_tasks`` caps the local
    workers (no idle processes for a small sweep)."""
    if scheduler is not None:
        if workers is not None:
            raise ValueError("workers: give either the number of local workers or a Dask scheduler, not both")
        return DaskExecutor(scheduler)
    if workers is None:
        workers = default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: {workers!r} is not allowed; allowed: a whole number >= 1")
    if max_tasks is not None:
        workers = max(1, min(workers, max_tasks))
    if workers == 1:
        return InlineExecutor()
    return LocalProcessExecutor(workers)


__all__ = ["DASK_WORKER_CONFIG", "DASK_WORKER_CONFIG_FILE", "DASK_WORKER_ENV", "DaskExecutor", "InlineExecutor", "LocalProcessExecutor", "default_workers",
           "local_dask_cluster", "make_executor"]
