"""Plain records of what happened in a run: changes, links, and other events.

These are the model's event log (issue 2: "a history of changes (month, add-on or transform, who
decided, triggered by which event)"). They hold plain values only, so a run's history crosses
process boundaries and serialises to JSON or Parquet without Mesa objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .vocab import Content, Element

# Where a change came from.
SOURCE_INITIATIVE = "initiative"  # the improvement team, prompted by the provider's work
SOURCE_AGENDA = "competing_agenda"  # an authority holder's own agenda (lines 1270-1278)
SOURCE_CURRICULUM = "curriculum_adoption"  # a curriculum adopted with another provider (line 636), or the publisher's
SOURCES = (SOURCE_INITIATIVE, SOURCE_AGENDA, SOURCE_CURRICULUM)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One change to one element of one district."""

    month: int
    district: str
    element: Element
    transform: bool  # False: add-on (Appendix A, lines 1652-1658)
    created: bool  # the element did not exist before this change
    content: Content
    consistent: bool  # promotes the provider's vision (lines 1660-1666)
    prek_included: bool  # the change included pre-K (continuity, lines 1677-1683)
    decided_by: str  # role of the leader who decided
    source: str  # one of SOURCES
    trigger: str  # the provider activity or event that prompted it
    decided_month: int  # when the decision was taken (enactment may lag: size, lines 1291-1297)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["element"] = self.element.key
        d["content"] = self.content.key
        return d


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """A new alignment link between two changed elements (lines 885-914)."""

    month: int
    district: str
    a: Element
    b: Element
    content: Content
    consistent: bool  # False: the link carries a competing vision (Diamond, lines 909-914)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["a"], d["b"], d["content"] = self.a.key, self.b.key, self.content.key
        return d


@dataclass(frozen=True, slots=True)
class EventRecord:
    """Anything else: shocks, leader turnover, the end of the provider's programme."""

    month: int
    district: str  # "" for initiative-wide events
    kind: str
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)
