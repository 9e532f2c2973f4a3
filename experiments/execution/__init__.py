"""Execution: how many runs become numbers on disk, whatever the study.

* :mod:`.seeds` and :mod:`.runner`: the one mapping of (root seed, design point, replicate) to a
  run's seed and starting-capacity assignment -- identical numbers for identical inputs, whatever
  the worker count, chunking or order;
* :mod:`.executor`: where chunks are computed (this process, local worker processes, a Dask
  cluster), behind one small interface;
* :mod:`.store`: the resumable results store (Parquet chunks and a manifest), on :mod:`.files`
  (atomic writes, fsync, the folder lock, a full disk reported in one paragraph);
* :mod:`.session`: the one session loop (and :func:`~.session.open_store`) (resume, retries, failed-chunk isolation, progress, the
  manifest's end status) that sweeps, rollouts and sensitivity studies share;
* :mod:`.provenance` and :mod:`.progress`: what every result carries, and progress bars.
"""

from .executor import (
    DASK_WORKER_CONFIG,
    DASK_WORKER_CONFIG_FILE,
    DASK_WORKER_ENV,
    DaskExecutor,
    InlineExecutor,
    LocalProcessExecutor,
    default_workers,
    local_dask_cluster,
    make_executor,
)
from .progress import progress_bar
from .provenance import content_hash, git_commit, package_version, provenance
from .runner import assignment_order, run_replicates
from .seeds import run_seed
from .session import MAX_ATTEMPTS, SessionResult, run_chunks, run_session
from .store import DiskFullError, SweepStore, load_results, read_manifest

__all__ = [
    "DASK_WORKER_CONFIG",
    "DASK_WORKER_CONFIG_FILE",
    "DASK_WORKER_ENV",
    "MAX_ATTEMPTS",
    "DaskExecutor",
    "DiskFullError",
    "InlineExecutor",
    "LocalProcessExecutor",
    "SessionResult",
    "SweepStore",
    "assignment_order",
    "content_hash",
    "default_workers",
    "git_commit",
    "load_results",
    "local_dask_cluster",
    "make_executor",
    "package_version",
    "progress_bar",
    "provenance",
    "read_manifest",
    "run_chunks",
    "run_replicates",
    "run_seed",
    "run_session",
]
