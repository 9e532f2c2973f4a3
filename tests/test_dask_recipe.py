"""The Dask worker recipe works (issue 16): the README's ``dask worker`` command, run as written, starts
workers whose real environment has no ``MALLOC_TRIM_THRESHOLD_`` and whose profiler is off; the old
environment-variable recipe does not (Dask lower-cases its keys); ``local_dask_cluster`` is configured
from the same file even after a default cluster has left Dask's value in this process's environment.

A worker's environment is read where glibc reads it: ``/proc/<pid>/environ`` of the worker process (its
environment when it started), with the pid from ``client.run(os.getpid)``, and inside the worker with a
function it imports (``experiments.execution.executor._worker_trim_threshold``). Not with
``client.run(os.environ.get, ...)``: that pickles the bound method together with a copy of the *client's*
``os.environ``, so it reports the client's environment, whatever the worker has."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from experiments.execution import DASK_WORKER_CONFIG, DASK_WORKER_CONFIG_FILE, DASK_WORKER_ENV, local_dask_cluster  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TRIM = "MALLOC_TRIM_THRESHOLD_"


def _proc_env(pid: int) -> dict[str, str]:
    """A process's environment as it started (what glibc's malloc read)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def _worker_env(client, by: str = "name") -> dict[str, dict[str, str]]:
    """Every worker's starting environment, by its --name (without the -N of --nworkers) or address."""
    names = {addr: str(w["name"]).split("-")[0] for addr, w in client.scheduler_info()["workers"].items()}
    return {(names[a] if by == "name" else a): _proc_env(pid) for a, pid in client.run(os.getpid).items()}


def _profile() -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


def _readme_worker_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [l.strip() for l in text.splitlines() if re.search(r"\bdask worker tcp://HOST:8786", l)]
    assert len(lines) == 1, lines
    return lines[0].split("#", 1)[0].strip()


def _clean_env() -> dict[str, str]:
    """A fresh shell's environment: nothing of Dask's or of this test process's nannies."""
    env = {k: v for k, v in os.environ.items() if k != TRIM and not k.startswith("DASK_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _start_worker(command: str, address: str, name: str) -> subprocess.Popen:
    """Run a shell-style ``VAR=value ... dask worker tcp://HOST:8786 ...`` command against ``address``."""
    words = shlex.split(command.replace("tcp://HOST:8786", address))
    env = _clean_env()
    while "=" in words[0] and not words[0].startswith("-"):
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    assert words[:2] == ["dask", "worker"], words
    words = [str(Path(sys.executable).parent / "dask"), *words[1:], "--name", name, "--no-dashboard"]
    return subprocess.Popen(words, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _by_name(client, fn, *args) -> dict[str, object]:
    """``client.run(fn, *args)`` keyed by the worker's --name (without the -N of --nworkers)."""
    names = {addr: w["name"] for addr, w in client.scheduler_info()["workers"].items()}
    return {str(names[a]).split("-")[0]: v for a, v in client.run(fn, *args).items()}


def test_the_readme_recipe_sets_up_real_workers_and_the_old_one_does_not():
    from distributed import Client, LocalCluster

    command = _readme_worker_command()
    assert command.startswith(f"DASK_CONFIG={DASK_WORKER_CONFIG_FILE.relative_to(ROOT)} dask worker")
    assert "--nthreads 1" in command
    old = ("DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_=None "
           "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False dask worker tcp://HOST:8786 --nthreads 1 --nworkers 1")
    with LocalCluster(n_workers=0, processes=True, dashboard_address=":0") as cluster, Client(cluster) as client:
        procs = [_start_worker(command, cluster.scheduler_address, "recipe"),
                 _start_worker(old, cluster.scheduler_address, "oldrecipe")]
        try:
            n = int(re.search(r"--nworkers (\d+)", command).group(1)) + 1
            client.wait_for_workers(n, timeout=90)
            import dask

            from experiments.execution.executor import _worker_trim_threshold

            trim = {k: v.get(TRIM) for k, v in _worker_env(client).items()}
            inside = _by_name(client, _worker_trim_threshold)  # functions the workers import (not this module)
            profile = _by_name(client, dask.config.get, "distributed.worker.profile.enabled")
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
    assert trim["recipe"] is None and inside["recipe"] is None  # the README's workers: glibc's defaults
    assert profile["recipe"] is False  # and no profiler
    assert trim["oldrecipe"] == inside["oldrecipe"] == "65536"  # the keys of environment variables are lower-cased: no effect


def test_local_dask_cluster_uses_the_file_even_after_a_default_cluster():
    from distributed import Client, LocalCluster

    assert DASK_WORKER_ENV == {"DASK_CONFIG": str(DASK_WORKER_CONFIG_FILE)}
    assert DASK_WORKER_CONFIG[f"distributed.nanny.pre-spawn-environ.{TRIM}"] is None
    assert DASK_WORKER_CONFIG["distributed.worker.profile.enabled"] is False
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as default, Client(default) as c:
        assert {e.get(TRIM) for e in _worker_env(c, by="address").values()} == {"65536"}  # Dask's default ...
    assert os.environ.get(TRIM) == "65536"  # ... which its nanny also left in this process's environment
    with local_dask_cluster(1) as cluster, Client(cluster) as c:
        assert {e.get(TRIM) for e in _worker_env(c, by="address").values()} == {None}
        assert set(c.run(_profile).values()) == {False}
        c.restart()  # a restarted worker too (its nanny spawns it again from this process)
        assert {e.get(TRIM) for e in _worker_env(c, by="address").values()} == {None}


def test_the_sweep_warning_points_to_the_working_recipe():
    import warnings

    from distributed import LocalCluster

    from experiments.execution.executor import DaskExecutor

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as default:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ex = DaskExecutor(default.scheduler_address)
        ex.close()
    msg = " ".join(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
    assert f"DASK_CONFIG={DASK_WORKER_CONFIG_FILE}" in msg and "PRE_SPAWN_ENVIRON" not in msg
