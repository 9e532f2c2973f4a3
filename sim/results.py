"""RunResult: the plain-data outcome of one run, coded like the report, and its tables.

A RunResult holds numpy arrays and lists of records only (no Mesa objects), so it crosses process
boundaries cheaply. Tables 2-5 and the consistency table (Figure 2) are built from it here, once,
for every consumer (the case job, what-ifs, sweeps, calibration).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import coding
from .providers import provider_outputs
from .records import ChangeRecord, EventRecord, LinkRecord
from .vocab import (
    N_ELEMENTS,
    Alignment,
    Capacity,
    Consistency,
    Content,
    Continuity,
    Element,
    Practice,
    Substantiveness,
)


@dataclass
class RunResult:
    """Per district-element codes on the four dimensions, plus the run's history."""

    districts: tuple[str, ...]
    seed: object
    horizon_months: int
    capacity0: np.ndarray  # (D, 6) Capacity at the start
    capacity_end: np.ndarray  # (D, 6) Capacity at the end
    substantiveness: np.ndarray  # (D, 6) Substantiveness codes
    consistency: np.ndarray  # (D, 6) Consistency codes
    alignment: np.ndarray  # (D, 6) Alignment codes
    continuity: np.ndarray  # (D, 6) Continuity codes (change fostered continuity when made)
    continuity_end: np.ndarray  # (D, 6) ... and pre-K still exists at the end
    principles: np.ndarray  # (D, 6) bool: the element carries the HLPPs (beyond the signature practice)
    first_month: np.ndarray  # (D, 6) month of the first change, -1 if none
    n_changes: np.ndarray  # (D, 6)
    links: np.ndarray  # (D, 6, 6) bool
    link_consistent: np.ndarray  # (D, 6, 6) bool
    has_prek_end: np.ndarray  # (D,) bool
    practice_series: np.ndarray  # (months, D, 3) share of teachers at each practice level
    changes: list[ChangeRecord] = field(default_factory=list)
    link_log: list[LinkRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    # The provider (sim/providers.py): who joined, what they received, what it cost.
    provider_kind: str = "pl_provider"
    joined: np.ndarray | None = None  # (D,) bool: took up the offer (always, unless recruitment is simulated)
    curriculum_adopted: np.ndarray | None = None  # (D,) bool: adopted the provider's curriculum
    service_months: np.ndarray | None = None  # (D,) months of PL services received
    cost_district: np.ndarray | None = None  # (D,) USD the district paid over the run
    cost_subsidy: np.ndarray | None = None  # (D,) USD paid by supplemental funding
    partnership_failed_month: int = -1  # month the partnership failed (-1: it did not, or no partnership)

    @classmethod
    def from_model(cls, model, seed=None) -> "RunResult":
        n = model.n_add_on + model.n_transform
        n_links = model.links.sum(axis=2)
        prek_end = model.has_prek_end
        return cls(
            **provider_outputs(model),
            districts=tuple(d.name for d in model.district_list),
            seed=seed,
            horizon_months=model.horizon,
            capacity0=model.capacity0.copy(),
            capacity_end=model.capacity.copy(),
            substantiveness=coding.substantiveness(model.n_add_on, model.n_transform).astype(np.int8),
            consistency=coding.consistency(model.n_consistent, model.n_competing).astype(np.int8),
            alignment=coding.alignment(n, n_links).astype(np.int8),
            continuity=coding.continuity(n, model.prek_included).astype(np.int8),
            continuity_end=coding.continuity(n, model.prek_included & prek_end[:, None]).astype(np.int8),
            principles=model.content[:, :, Content.PRINCIPLES].copy(),
            first_month=model.first_month.copy(),
            n_changes=n.astype(np.int16),
            links=model.links.copy(),
            link_consistent=model.link_consistent.copy(),
            has_prek_end=prek_end,
            practice_series=model.teachers_pop.series(),
            changes=list(model.changes),
            link_log=list(model.link_log),
            events=list(model.event_log),
        )

    # --- tables (the analogues of the report's Tables 2-5 and Figure 2) -----------------------
    def table2(self) -> np.ndarray:
        """District x substantiveness counts (Table 2, line 847)."""
        return _rowcount(self.substantiveness, len(Substantiveness))

    def table3(self) -> np.ndarray:
        """Capacity x substantiveness counts (Table 3, line 1167)."""
        return _crosscount(self.capacity0, self.substantiveness, len(Substantiveness))

    def table4(self) -> np.ndarray:
        """Capacity x alignment counts (Table 4, line 1147)."""
        return _crosscount(self.capacity0, self.alignment, len(Alignment))

    def table5(self) -> np.ndarray:
        """Capacity x continuity counts (Table 5, line 1237)."""
        return _crosscount(self.capacity0, self.continuity, len(Continuity))

    def table5_end(self) -> np.ndarray:
        """Table 5 with continuity judged at the end of the run (Diamond's reading, lines 941-950)."""
        return _crosscount(self.capacity0, self.continuity_end, len(Continuity))

    def consistency_table(self) -> np.ndarray:
        """District x consistency counts (Figure 2, lines 870-884)."""
        return _rowcount(self.consistency, len(Consistency))

    def tables(self) -> dict[str, np.ndarray]:
        return {
            "table2": self.table2(),
            "table3": self.table3(),
            "table4": self.table4(),
            "table5": self.table5(),
            "table5_end": self.table5_end(),
            "consistency": self.consistency_table(),
        }

    # --- outcome summaries (per district; the 'overall' row pools all district-elements) -------
    def outcomes(self) -> dict[str, np.ndarray]:
        """Per-district outcome shares; arrays of length D (NaN where undefined, e.g. no change)."""
        changed = self.n_changes > 0
        nch = changed.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            def share(mask):
                return np.where(nch > 0, (mask & changed).sum(axis=1) / nch, np.nan)

            months = np.where(changed, self.first_month, 0).sum(axis=1)
            return {
                "elements_changed": nch.astype(float),
                "share_transformed": share(self.substantiveness == Substantiveness.TRANSFORM),
                "share_consistent": share(self.consistency == Consistency.CONSISTENT),
                "share_aligned": share(self.alignment == Alignment.ALIGNED),
                "share_continuity_changes": share(self.continuity == Continuity.CONTINUITY),
                "share_continuity_end": share(self.continuity_end == Continuity.CONTINUITY),
                "share_beyond_signature_practice": share(self.principles),
                "mean_month_of_change": np.where(nch > 0, months / np.maximum(nch, 1), np.nan),
            }

    def overall_outcomes(self) -> dict[str, float]:
        """The same outcomes pooled over every district-element of the run."""
        changed = self.n_changes > 0
        n = int(changed.sum())

        def share(mask):
            return float((mask & changed).sum() / n) if n else float("nan")

        return {
            "elements_changed": float(n),
            "share_transformed": share(self.substantiveness == Substantiveness.TRANSFORM),
            "share_consistent": share(self.consistency == Consistency.CONSISTENT),
            "share_aligned": share(self.alignment == Alignment.ALIGNED),
            "share_continuity_changes": share(self.continuity == Continuity.CONTINUITY),
            "share_continuity_end": share(self.continuity_end == Continuity.CONTINUITY),
            "share_beyond_signature_practice": share(self.principles),
            "mean_month_of_change": float(self.first_month[changed].mean()) if n else float("nan"),
        }


OUTCOME_NAMES = (
    "elements_changed",
    "share_transformed",
    "share_consistent",
    "share_aligned",
    "share_continuity_changes",
    "share_continuity_end",
    "share_beyond_signature_practice",
    "mean_month_of_change",
)


def _rowcount(codes: np.ndarray, k: int) -> np.ndarray:
    D = codes.shape[0]
    idx = np.arange(D)[:, None] * k + codes
    return np.bincount(idx.ravel(), minlength=D * k).reshape(D, k)


def _crosscount(capacity: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    idx = capacity.astype(np.int64) * k + codes
    return np.bincount(idx.ravel(), minlength=len(Capacity) * k).reshape(len(Capacity), k)
