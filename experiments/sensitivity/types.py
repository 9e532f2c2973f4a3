"""Within-type total-order indices and means for district types (regions of the factor space)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
import numpy as np
import pandas as pd
from .sobol import rows_per_base

if TYPE_CHECKING:
    from .sobol import SobolRun
from .spec import SensitivityError


def type_indices(run: SobolRun, natural: pd.DataFrame, types: Mapping[str, Mapping[str, Any]], groups_of: Mapping[str, str], *,
                 num_resamples: int = 200, conf_level: float = 0.95, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Within-type total-order indices and means for each district type.

    A type is a condition on factor values (``{factor: value}`` or ``{factor: {min, max}}``). For base
    point j, rows A_j and AB_{g,j} share every factor outside group g, so restricting to the base
    points whose A row is of the type gives the type's total-order index (Jansen's estimator,
    normalised by the type's variance): ST_g|type = mean((f(A) - f(AB_g))^2) / (2 Var(f(A) | type)).
    Groups holding a type-defining factor are skipped. Means use the A and B rows of the type."""
    from scipy.stats import norm

    prob = run.problem
    gnames = list(dict.fromkeys(prob.get("groups") or prob["names"]))
    step = rows_per_base(prob, second_order=len(run.X) == run.N * (2 * len(gnames) + 2))
    n = run.N
    A_rows = np.arange(n) * step
    B_rows = A_rows + step - 1
    z = norm.ppf(0.5 + conf_level / 2)
    idx_rows, mean_rows = [], []
    types = {"all": {}, **dict(types)}
    for tname, cond in types.items():
        bad = [k for k in cond if k not in natural.columns]
        if bad:
            raise SensitivityError(f"types.{tname}: unknown factor(s) {', '.join(bad)}; allowed: {', '.join(natural.columns)}")
        mask_all = _type_mask(natural, cond)
        mA, mB = mask_all[A_rows], mask_all[B_rows]
        defining = {groups_of[k] for k in cond}
        for j, lab in enumerate(run.labels):
            y = run.Y[:, j]
            both = np.concatenate([y[A_rows][mA], y[B_rows][mB]])
            mean_rows.append({"type": tname, "output": lab, "points": int(mA.sum() + mB.sum()),
                              "mean": float(both.mean()) if len(both) else float("nan"),
                              "sd": float(both.std(ddof=1)) if len(both) > 1 else float("nan")})
            yA = y[A_rows][mA]
            if len(yA) < 4:
                continue
            var = float(np.var(yA))
            # the same bootstrap resamples of the type's base points for every group (seeded)
            r = np.random.default_rng(seed).integers(0, len(yA), size=(num_resamples, len(yA)))
            vb = np.var(yA[r], axis=1)
            for gi, g in enumerate(gnames):
                if g in defining:
                    continue
                yAB = y[A_rows + 1 + gi][mA]
                d2 = (yA - yAB) ** 2
                st = 0.5 * float(d2.mean()) / var if var > 0 else 0.0
                if var > 0:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        bs = np.where(vb > 0, 0.5 * d2[r].mean(axis=1) / vb, 0.0)
                    conf = float(z * np.std(bs, ddof=1))
                else:
                    conf = 0.0
                idx_rows.append({"type": tname, "output": lab, "group": g, "ST": st, "ST_conf": conf, "base_points": int(mA.sum())})
    return pd.DataFrame(idx_rows), pd.DataFrame(mean_rows)


def _type_mask(natural: pd.DataFrame, cond: Mapping[str, Any]) -> np.ndarray:
    m = np.ones(len(natural), bool)
    for k, v in cond.items():
        col = natural[k]
        if isinstance(v, Mapping):
            x = col.to_numpy(float)
            if "min" in v:
                m &= x >= float(v["min"])
            if "max" in v:
                m &= x <= float(v["max"])
        else:
            m &= (col == v).to_numpy()
    return m
