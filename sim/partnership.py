"""Partnership health: a publisher-PL-provider partnership, month by month, until it holds or fails.

Source: the partnership brief ``000_2f2cc46267fd8ab3.txt`` ("brief" below; line numbers of that
file). The brief names the ingredients and says they are monitored, not how they move; the
dynamics below are a stated assumption (docs/ODD.md section 7.19):

* strategic alignment of the partners (brief lines 163-169) -- a fixed trait of the partnership
  (``provider.alignment``); misalignment erodes trust;
* communication cadence (brief lines 171-177: "agreed-upon meeting cadence", "limited capacity to
  meet regularly") -- meetings per month (``provider.meetings_per_month``); each meeting closes a
  share ``trust_gain`` of the gap to full trust;
* organisational trust (brief line 175: "lower organizational-level trust can slow decision-making")
  -- the state, starting at ``provider.trust``, with monthly shocks (staffing, pricing, market
  feedback: the risks Phase 4 monitors, brief line 155);
* health = (alignment + trust) / 2. Phase 4 monitors "the health and viability of each partnership"
  (brief line 155): when health falls below ``partnership_failure_threshold`` the partnership fails,
  and the joint services it delivered are withdrawn mid-initiative (sim/providers.py decides which).

One standard normal is drawn per month from the partnership's own stream (spawned from the model's
generator, so the districts' random numbers are untouched).
"""

from __future__ import annotations

import math

import numpy as np


class PartnershipHealth:
    """The state of one publisher-PL-provider partnership."""

    __slots__ = ("alignment", "trust", "meetings", "rng", "failed_month", "forced_month", "P", "trace")

    def __init__(self, alignment: float, trust: float, meetings_per_month: float, params, rng: np.random.Generator,
                 forced_month: int | None = None):
        self.alignment = float(alignment)
        self.trust = float(trust)
        self.meetings = float(meetings_per_month)
        self.P = params
        self.rng = rng
        self.failed_month = -1
        self.forced_month = forced_month  # a breakdown imposed by the scenario (what-ifs)
        self.trace: list[float] = []  # health at the end of each month

    @property
    def health(self) -> float:
        """Partnership health: mean of strategic alignment and organisational trust (brief lines 163-177)."""
        return 0.5 * (self.alignment + self.trust)

    @property
    def failed(self) -> bool:
        return self.failed_month >= 0

    def step(self, month: int) -> bool:
        """Advance one month; True if the partnership fails in this month."""
        if self.failed:
            return False
        P = self.P
        # Meetings build organisational trust (brief lines 173, 177); misalignment erodes it (165-167).
        gain = 1.0 - math.pow(1.0 - P.trust_gain, self.meetings) if self.meetings > 0 else 0.0
        t = self.trust
        t += gain * (1.0 - t) - P.trust_erosion * (1.0 - self.alignment) * t
        t += P.health_volatility * float(self.rng.standard_normal())
        self.trust = min(1.0, max(0.0, t))
        self.trace.append(self.health)
        if self.health < P.partnership_failure_threshold or (self.forced_month is not None and month >= self.forced_month):
            self.failed_month = month
            return True
        return False
