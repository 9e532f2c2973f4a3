"""Plain records of what happened in a run: changes, links, and other events.

These are the model's event log (issue 2: "a history of changes (month, add-on or transform, who
decided, triggered by which event)"). They hold plain values only, so a run's history crosses
process boundaries and serialises to JSON or Parquet without Mesa objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .vocab import ChangeForm, Content, Decision, Element

# Where a change came from.
SOURCE_INITIATIVE = "initiative"  # the improvement team, prompted by the provider's work
SOURCE_AGENDA = "competing_agenda"  # an authority holder's own agenda (lines 1270-1278)
SOURCE_CURRICULUM = "curriculum_adoption"  # a curriculum adopted with another provider (line 636), or the publisher's
SOURCE_OWNER = "owner_reshaped"  # the owner's own piece added to a proposal it adopted (docs/ODD.md 7.4)
SOURCES = (SOURCE_INITIATIVE, SOURCE_AGENDA, SOURCE_CURRICULUM, SOURCE_OWNER)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One change to one element of one district.

    ``form`` is what the change did to the element's structure (sim/structure.py); ``transform``
    and ``consistent`` are what Appendix A reads from it (lines 1652-1666).
    """

    month: int
    district: str
    element: Element
    transform: bool  # False: add-on (Appendix A, lines 1652-1658): form is REDESIGN or BUILD
    created: bool  # the element did not exist before this change
    content: Content
    consistent: bool  # promotes the provider's vision (lines 1660-1666)
    prek_included: bool  # the change included pre-K (continuity, lines 1677-1683)
    decided_by: str  # role of the leader who decided (the element's owner)
    source: str  # one of SOURCES
    trigger: str  # the provider activity or event that prompted it
    decided_month: int  # when the decision was taken (enactment may lag: size, lines 1291-1297)
    form: ChangeForm = ChangeForm.ADD_ON
    proposed_by: str = ""  # role of the leader who proposed it ("" if its decider did)
    decision: Decision = Decision.OWN

    def to_dict(self) -> dict:
        d = asdict(self)
        d["element"] = self.element.key
        d["content"] = self.content.key
        d["form"] = self.form.key
        d["decision"] = self.decision.key
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
