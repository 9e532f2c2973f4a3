"""``CoherenceApp``: sim's ``CoherenceModel``, unchanged, built from the controls, with a DataCollector
of the four dimensions and a stop at the horizon."""

from __future__ import annotations

from mesa import DataCollector
from sim import coding
from sim.model import CoherenceModel
from sim.vocab import Alignment, Consistency, Continuity, Substantiveness
from .controls import ALL, AS_IN_SCENARIO, DEFAULT_SCENARIO, build_conditions


DIMENSIONS = {  # DataCollector measure -> (colour, what it counts, in words)
    "Changed": ("tab:gray", "changed at least once"),
    "Transformed": ("tab:blue", "transformed (Appendix A: a redesign or a new routine)"),
    "Consistent": ("tab:green", "changed consistently with the provider's vision"),
    "Aligned": ("tab:purple", "changed and newly aligned with another element"),
    "Continuity": ("tab:orange", "changed in ways that include pre-K"),
}


def dimension_counts(model: CoherenceModel) -> dict[str, int]:
    """How many of the model's district-elements (six per district) have changed so far, and how
    many are coded transform, consistent, aligned and continuity (Appendix A codes, sim.coding).

    Counts, not shares: a share would need a denominator (all district-elements, or the changed
    ones, which the rest of the project uses and which is undefined before anything changes); the
    count of district-elements is the unit of the report's tables."""
    n = model.n_add_on + model.n_transform
    sub = coding.substantiveness(model.n_add_on, model.n_transform)
    con = coding.consistency(model.n_consistent, model.n_competing)
    ali = coding.alignment(n, model.links.sum(axis=2))
    cont = coding.continuity(n, model.prek_included)
    return {
        "Changed": int((n > 0).sum()),
        "Transformed": int((sub == Substantiveness.TRANSFORM).sum()),
        "Consistent": int((con == Consistency.CONSISTENT).sum()),
        "Aligned": int((ali == Alignment.ALIGNED).sum()),
        "Continuity": int((cont == Continuity.CONTINUITY).sum()),
    }


class CoherenceApp(CoherenceModel):
    """``CoherenceModel`` built from the app's controls (keyword arguments, as Mesa's controller
    needs), with a DataCollector of the four dimensions (counts of district-elements, see
    ``dimension_counts``) and a stop at the horizon.

    ``whatif`` names the scenario: the four-district case or a what-if of the library (the keyword
    is not ``scenario``, which Mesa's Model reserves for its own Scenario objects)."""

    def __init__(
        self,
        whatif: str = DEFAULT_SCENARIO,
        district: str = ALL,
        lead_authority: str = AS_IN_SCENARIO,
        lead_buy_in: str = AS_IN_SCENARIO,
        competing_holder: str = AS_IN_SCENARIO,
        capacity_framework: str = AS_IN_SCENARIO,
        capacity_pedagogy: str = AS_IN_SCENARIO,
        capacity_assessment: str = AS_IN_SCENARIO,
        capacity_teacher_learning: str = AS_IN_SCENARIO,
        capacity_school_leader_learning: str = AS_IN_SCENARIO,
        capacity_oversight: str = AS_IN_SCENARIO,
        seed: int | str = 42,
        rng=None,
    ):
        try:
            seed = int(seed)
        except (TypeError, ValueError):
            raise ValueError(f"seed: {seed!r} is not a whole number >= 0") from None
        if seed < 0:
            raise ValueError(f"seed: {seed!r} is not a whole number >= 0")
        capacity = {
            "framework": capacity_framework,
            "pedagogy": capacity_pedagogy,
            "assessment": capacity_assessment,
            "teacher_learning": capacity_teacher_learning,
            "school_leader_learning": capacity_school_leader_learning,
            "oversight": capacity_oversight,
        }
        conditions, parameters, notes = build_conditions(
            whatif, district, lead_authority, lead_buy_in, competing_holder, capacity, seed
        )
        super().__init__(conditions, parameters, rng=seed if rng is None else rng)
        self.scenario_name = whatif
        self.district_choice = district
        self.seed = seed
        self.notes = notes
        self.settings = {"whatif": whatif, "district": district, "lead_authority": lead_authority,
                         "lead_buy_in": lead_buy_in, "competing_holder": competing_holder,
                         **{f"capacity_{k}": v for k, v in capacity.items()}, "seed": str(seed)}
        self.datacollector = DataCollector(model_reporters={k: (lambda m, k=k: m._counts[k]) for k in DIMENSIONS})
        self._counts = dimension_counts(self)
        self.datacollector.collect(self)

    @property
    def month(self) -> int:
        """The last month simulated (-1 before the first step)."""
        return self.steps - 1

    def step(self) -> None:
        """Simulate one month (up to the horizon), then collect the four dimensions."""
        if self.steps > self.horizon:
            self.running = False
            return
        super().step()
        self._counts = dimension_counts(self)
        self.datacollector.collect(self)
        if self.steps >= self.horizon:
            self.running = False
