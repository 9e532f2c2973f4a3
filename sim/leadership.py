"""Who decides about an element, and how an owner answers a proposal (docs/ODD.md 7.4).

Leaders own elements by position (lines 1017-1020, 1263-1272). A proposal goes to the element's
owner. A proposer who outranks the owner, or owns the element, has it adopted as designed: this is
how positional authority acts (lines 1263-1278, 1463-1475). Otherwise the owner adopts it as
designed with probability equal to its buy-in; failing that it *reshapes* it -- adopts it and adds a
piece of its own vision (its competing agenda's, else its traditional way) -- with probability
``reshape_share``, or blocks it. A lead with positional authority has a seat at the
superintendent's table: when an owner it does not outrank reshapes or blocks its proposal, it takes
the decision to the superintendent, who overrules the owner with probability equal to the
superintendent's buy-in ("leaders who had the authority to orchestrate changes", lines 1320-1323,
1463-1469). A lead without positional authority cannot. "Somewhat consistent" elements (Appendix A
lines 1660-1666) arise when both visions land in one element, by a reshaped proposal or by two
decisions.

The functions take any objects with the attributes of ``sim.agents.Leader`` (``rank``,
``positional_authority``, ``owns``, ``superintendent``, ``leads_initiative``, ``buy_in``,
``agenda``), so they are testable without a model.
"""

from __future__ import annotations

from collections.abc import Sequence

from .vocab import N_ELEMENTS, Content, Decision

_COMPETING, _TRADITIONAL = int(Content.COMPETING), int(Content.TRADITIONAL)


def owners(leaders: Sequence) -> list:
    """The owner of each element.

    1. An element listed in the ``owns`` of a leader with positional authority is that leader's.
    2. Curriculum, assessment and teacher learning (``DEPARTMENT_ELEMENTS``, lines 1017-1020) that
       nobody claims belong to the initiative's lead if it has positional authority: a lead with
       authority is taken to be the cabinet-level leader of instruction (Avalon's and Cedarville's
       Associate Superintendents, lines 1266-1269) unless another leader is named as its head.
    3. Everything else belongs to the superintendent's office: the superintendent, or the
       highest-ranked leader (the initiative's lead first among equals).
    """
    from .conditions import DEPARTMENT_ELEMENTS

    if not leaders:
        raise ValueError("leaders: a district needs at least one leader")
    sup = [l for l in leaders if l.superintendent]
    default = sup[0] if sup else max(leaders, key=lambda l: (l.rank, l.leads_initiative))
    out = [None] * N_ELEMENTS
    for l in leaders:
        if l.positional_authority or l.superintendent:
            for e in l.owns:
                out[int(e)] = l
    lead = next((l for l in leaders if l.leads_initiative), None)
    if lead is not None and (lead.positional_authority or lead.superintendent):
        for e in DEPARTMENT_ELEMENTS:
            if out[int(e)] is None:
                out[int(e)] = lead
    return [o if o is not None else default for o in out]


def can_direct(proposer, owner) -> bool:
    """A proposer has its proposal adopted as designed when it owns the element or outranks the
    owner (positional authority, lines 1263-1272)."""
    return proposer is owner or proposer.rank > owner.rank


def respond(owner, proposer, u: float, reshape_share: float) -> Decision | None:
    """The owner's answer to a proposal from ``proposer``; ``u`` is a uniform draw. None: blocked."""
    if proposer is owner:
        return Decision.OWN
    if proposer.rank > owner.rank:
        return Decision.ADOPTED
    b = owner.buy_in
    if u < b:
        return Decision.ADOPTED
    if u < b + (1.0 - b) * reshape_share:
        return Decision.RESHAPED
    return None


def escalate(owner, proposer, superintendent, u: float) -> bool:
    """A proposal the owner reshaped or blocked, taken to the superintendent: possible for a
    proposer with positional authority when the superintendent outranks the owner; the
    superintendent overrules the owner with probability equal to its buy-in."""
    if superintendent is None or not proposer.positional_authority or superintendent is owner:
        return False
    if superintendent.rank <= owner.rank:
        return False
    return u < superintendent.buy_in


def own_vision(leader) -> int:
    """The content a leader adds when it reshapes a proposal: its agenda's, else its district's
    traditional way (Content values)."""
    return _COMPETING if leader.agenda else _TRADITIONAL


def accepts_agenda(owner, holder, u: float) -> bool:
    """An owner asked by a competing agenda's holder to change its element: an owner the holder
    outranks complies; otherwise the owner agrees with probability 1 - its buy-in in the
    initiative (an owner on board with the provider's vision resists a conflicting one)."""
    if holder is owner or holder.rank > owner.rank:
        return True
    return u >= owner.buy_in
