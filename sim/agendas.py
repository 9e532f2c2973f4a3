"""Competing agendas: what a leader who does not share the provider's vision pursues.

An agenda is a holder's goals, not a list of outcomes: it says which content the holder wants in
the district's infrastructure and how much each element matters to those goals. Where it lands is
decided in the model (docs/ODD.md 7.5): the holder pushes it into elements it owns by position, or
proposes it to the owners of the others, who may refuse; the initiative may have reached those
elements first, or later; both visions may land in one element.

``fluency`` is the agenda of Diamond's authority holder: basic-skills mathematics fluency, speed and
standardized test scores (003_5ef94897120ea9a2.txt lines 832-868, 1274-1276). Its weights say how
much each element serves such goals; they are ASSUMED (a test-score agenda works through
materials, testing and the monitoring of both, less through frameworks and leader learning), not
read off which of Diamond's elements the report found inconsistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .vocab import Element


@dataclass(frozen=True)
class Agenda:
    """A competing agenda: a name, what it is about, and how much each element serves it."""

    name: str
    description: str
    weights: tuple[float, ...]  # by Element, in [0, 1]

    def weight(self, element: Element) -> float:
        return self.weights[int(element)]


AGENDAS = MappingProxyType(
    {
        "fluency": Agenda(
            "fluency",
            "basic-skills fluency, speed assessment and standardized test scores (lines 832-868, 1274-1276)",
            # framework, pedagogy & materials, assessment, teacher learning, school-leader learning, oversight
            (0.2, 1.0, 1.0, 0.5, 0.2, 0.8),
        ),
    }
)


def agenda(name: str, *, field: str = "agenda") -> Agenda:
    """The agenda called ``name``; the error names the field and the known agendas."""
    try:
        return AGENDAS[name]
    except KeyError:
        raise ValueError(f"{field}: {name!r} is not a known agenda; allowed: {', '.join(AGENDAS)}") from None
