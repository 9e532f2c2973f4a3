"""The pieces handed to pyabc (imported only when a calibration runs: ``import pyabc`` costs ~4 s).

* :class:`StdLogistic` - the prior of every free parameter on the sampler's scale
  ``z = Phi^-1(F(x))`` (``F`` the parameter's prior CDF, calibration/priors.py): standard normal,
  with a pure-Python density (scipy's per-call overhead dominated the proposal step).
* :class:`FastMultivariateNormalTransition` - pyabc's ``MultivariateNormalTransition`` (same fit:
  weighted sample covariance x Silverman's bandwidth factor squared) with sampling and density
  through a Cholesky factor computed once per generation instead of pandas row look-ups and a
  fresh ``multivariate_normal`` per proposal. Draws use numpy's global generator, as pyabc's do,
  so a seeded single-core run stays deterministic.
* :func:`make_sampler` - the pyabc sampler for a scheduler name.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyabc
from pyabc.parameters import Parameter
from pyabc.transition import MultivariateNormalTransition

__all__ = ["DefensiveTransition", "FastMultivariateNormalTransition", "StdNormal", "make_sampler", "normal_prior"]


class StdNormal(pyabc.RVBase):
    """Standard normal random variable (fast pdf; pyabc's scipy wrapper costs ~50 us a call)."""

    def copy(self) -> "StdNormal":
        return StdNormal()

    def rvs(self, *args, **kwargs) -> float:
        return float(np.random.standard_normal())

    def pmf(self, x, *args, **kwargs) -> float:
        return 0.0

    def pdf(self, x: float, *args, **kwargs) -> float:
        x = float(x)
        return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)

    def cdf(self, x: float, *args, **kwargs) -> float:
        return 0.5 * math.erfc(-float(x) / math.sqrt(2.0))


def normal_prior(z_names) -> pyabc.Distribution:
    """Independent standard normal priors on the sampler-scale parameters."""
    return pyabc.Distribution(**{n: StdNormal() for n in z_names})


class FastMultivariateNormalTransition(MultivariateNormalTransition):
    """pyabc's multivariate normal KDE transition, vectorised (see the module docstring)."""

    def fit(self, X: pd.DataFrame, w: np.ndarray) -> None:
        super().fit(X, w)
        d = self.cov.shape[0]
        cov = self.cov + 1e-12 * np.eye(d) * max(1.0, float(np.trace(self.cov)) / d)
        self._chol = np.linalg.cholesky(cov)
        self._chol_inv = np.linalg.inv(self._chol)
        self._log_norm = -0.5 * d * math.log(2 * math.pi) - float(np.log(np.diag(self._chol)).sum())
        self._cumw = np.cumsum(np.asarray(w, dtype=float))
        self._cumw /= self._cumw[-1]
        self._w_arr = np.asarray(w, dtype=float) / float(np.sum(w))
        self._columns = list(X.columns)

    def rvs_single(self) -> Parameter:
        i = int(np.searchsorted(self._cumw, np.random.random(), side="right"))
        i = min(i, len(self._cumw) - 1)
        x = self._X_arr[i] + self._chol @ np.random.standard_normal(self._chol.shape[0])
        return Parameter(dict(zip(self._columns, (float(v) for v in x))))

    def pdf(self, x: Any) -> float | np.ndarray:
        if isinstance(x, Parameter | pd.Series | dict):
            arr = np.array([[x[k] for k in self._columns]], dtype=float)
            return float(self._density(arr)[0])
        arr = x[self._columns].to_numpy(dtype=float)
        return self._density(np.atleast_2d(arr))

    def _density(self, arr: np.ndarray) -> np.ndarray:
        # (m, N, d) differences would be large for big m; loop over query points in blocks.
        out = np.empty(len(arr))
        for a in range(0, len(arr), 64):
            diff = arr[a : a + 64, None, :] - self._X_arr[None, :, :]
            zz = diff @ self._chol_inv.T
            logk = self._log_norm - 0.5 * np.einsum("mnd,mnd->mn", zz, zz)
            out[a : a + 64] = np.exp(logk) @ self._w_arr
        return out


def make_sampler(scheduler: str, workers: int | None, batch_size: int = 25):
    """A pyabc sampler, and a close() for what it started.

    ``single``: pyabc's SingleCoreSampler (deterministic for a fixed seed). ``processes``: pyabc's
    MulticoreEvalParallelSampler on ``workers`` forked processes. ``dask``: pyabc's
    DaskDistributedSampler on a local Dask cluster of ``workers`` single-threaded processes.
    ``tcp://host:port``: the DaskDistributedSampler on an existing Dask scheduler.
    """
    if scheduler == "single":
        s = pyabc.sampler.SingleCoreSampler(check_max_eval=True)
        s.show_progress = False
        return s, (lambda: None), "pyabc SingleCoreSampler (this process)"
    if scheduler == "processes":
        n = workers or pyabc.sampler.nr_cores_available()
        s = pyabc.sampler.MulticoreEvalParallelSampler(n_procs=n, check_max_eval=True)
        s.show_progress = False
        return s, (lambda: None), f"pyabc MulticoreEvalParallelSampler ({n} processes)"
    from distributed import Client

    if scheduler == "dask":
        from distributed import LocalCluster

        from experiments.execution.executor import default_workers

        n = workers or default_workers()
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster, set_as_default=False)

        def close() -> None:
            client.close()
            cluster.close()

        desc = f"pyabc DaskDistributedSampler (local Dask cluster, {n} workers, batch {batch_size})"
    elif "://" in scheduler:
        if workers is not None:
            raise ValueError("--workers: give either the number of local workers or a Dask scheduler, not both")
        client = Client(scheduler, timeout="20s", set_as_default=False)
        close = client.close
        desc = f"pyabc DaskDistributedSampler (Dask cluster at {scheduler}, batch {batch_size})"
    else:
        raise ValueError(f"--scheduler: {scheduler!r} is not allowed; allowed: single, processes, dask, or a Dask scheduler address like tcp://127.0.0.1:8786")
    s = pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=batch_size)
    s.show_progress = False
    return s, close, desc


class UnitUniform(pyabc.RVBase):
    """Uniform random variable on [0, 1] with a pure-Python density."""

    def copy(self) -> "UnitUniform":
        return UnitUniform()

    def rvs(self, *args, **kwargs) -> float:
        return float(np.random.random())

    def pmf(self, x, *args, **kwargs) -> float:
        return 0.0

    def pdf(self, x: float, *args, **kwargs) -> float:
        return 1.0 if 0.0 <= float(x) <= 1.0 else 0.0

    def cdf(self, x: float, *args, **kwargs) -> float:
        return min(1.0, max(0.0, float(x)))


class DefensiveTransition(FastMultivariateNormalTransition):
    """A defensive mixture proposal: ``(1 - a) * KDE + a * multivariate t``.

    The KDE component is pyabc's multivariate normal kernel density estimate of the previous
    population (:class:`FastMultivariateNormalTransition`). The second component is one
    multivariate t distribution (``df`` degrees of freedom) centred on the population's weighted
    mean with ``inflation`` times its weighted covariance as scale matrix. In 10+ dimensions a KDE of a few hundred particles is a
    spiky density, and importance weights prior / KDE vary over orders of magnitude (effective
    sample sizes of 5-10% of the population in trials here); the heavy-tailed global component
    bounds the weights (Hesterberg 1995, "Weighted average importance sampling and defensive
    mixture distributions", Technometrics 37(2)) at the cost of some acceptance rate.
    """

    def __init__(self, defensive: float = 0.3, df: float = 5.0, inflation: float = 2.0, main: str = "kde",
                 main_inflation: float = 1.3, **kwargs):
        super().__init__(**kwargs)
        self.defensive = float(defensive)
        self.df = float(df)
        self.inflation = float(inflation)
        if main not in ("kde", "gaussian"):
            raise ValueError(f"main: {main!r} is not one of: kde, gaussian")
        self.main = main
        self.main_inflation = float(main_inflation)

    def fit(self, X: pd.DataFrame, w: np.ndarray) -> None:
        super().fit(X, w)
        ww = np.asarray(w, dtype=float) / float(np.sum(w))
        Xa = X.to_numpy(dtype=float)
        self._mean = ww @ Xa
        diff = Xa - self._mean
        cov = self.inflation * ((diff * ww[:, None]).T @ diff)
        d = cov.shape[0]
        cov = cov + 1e-9 * np.eye(d) * max(1.0, float(np.trace(cov)) / d)
        self._gchol = np.linalg.cholesky(cov)
        self._gchol_inv = np.linalg.inv(self._gchol)
        nu = self.df
        self._glog_norm = (
            math.lgamma((nu + d) / 2) - math.lgamma(nu / 2) - 0.5 * d * math.log(nu * math.pi)
            - float(np.log(np.diag(self._gchol)).sum())
        )
        if self.main == "gaussian":
            mcov = (self.main_inflation / self.inflation) * cov
            self._mchol = np.linalg.cholesky(mcov)
            self._mchol_inv = np.linalg.inv(self._mchol)
            self._mlog_norm = -0.5 * d * math.log(2 * math.pi) - float(np.log(np.diag(self._mchol)).sum())

    def rvs_single(self) -> Parameter:
        if np.random.random() >= self.defensive:
            if self.main == "gaussian":
                x = self._mean + self._mchol @ np.random.standard_normal(self._mchol.shape[0])
                return Parameter(dict(zip(self._columns, (float(v) for v in x))))
            return super().rvs_single()
        d = self._gchol.shape[0]
        scale = math.sqrt(self.df / np.random.chisquare(self.df))
        x = self._mean + scale * (self._gchol @ np.random.standard_normal(d))
        return Parameter(dict(zip(self._columns, (float(v) for v in x))))

    def _density(self, arr: np.ndarray) -> np.ndarray:
        if self.main == "gaussian":
            zm = (arr - self._mean) @ self._mchol_inv.T
            kde = np.exp(self._mlog_norm - 0.5 * np.einsum("md,md->m", zm, zm))
        else:
            kde = super()._density(arr)
        d = self._gchol.shape[0]
        z = (arr - self._mean) @ self._gchol_inv.T
        q = np.einsum("md,md->m", z, z)
        t = np.exp(self._glog_norm - 0.5 * (self.df + d) * np.log1p(q / self.df))
        return (1 - self.defensive) * kde + self.defensive * t
