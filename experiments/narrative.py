"""Narratives from runs: the event log of one run as a table, a timeline of readable lines, Markdown.

A run already records what happened (``sim.records``): every change to an element (month, add-on
or transform, who decided, which provider activity or agenda prompted it), every new alignment
link, and other events (shocks, leader turnover, the end of the provider's programme). This module
turns those records into text people read; the model knows nothing of it.

Public API (the notebooks import these names):

- ``event_log(result)`` -> ``pandas.DataFrame``, one row per change, link or event;
- ``timeline(result, district=None)`` -> list of one-line sentences, months ascending;
- ``narrate(result, district=None)`` -> the timeline as Markdown, a heading per district.

``result`` is a ``sim.RunResult`` or a live ``sim.model.CoherenceModel`` (the app narrates the run
so far): anything with ``changes``, ``link_log`` and ``events`` (or ``event_log``).

Every code the model emits has its text here, in one place: the change triggers (``TRIGGERS``,
matched by pattern, because the model writes its triggers as short phrases), the sources of a
change (``SOURCE_TEXT``, keyed by ``sim.records.SOURCES``) and the event kinds (``EVENT_TEXT``).
A trigger, source or event kind that has no text raises ``UnknownCodeError`` rather than printing
the raw code (tests/test_narrative.py checks every code the model can emit). Element names are the
labels of ``sim.vocab``. Leaders' roles are the scenario's own words (data, not model codes); the
roles of the packaged case have an entry in ``ROLE_TEXT`` for how they read inside a sentence, and
any other role is used as written.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from sim.calendar import month_label
from sim.records import SOURCE_AGENDA, SOURCE_CURRICULUM, SOURCE_INITIATIVE, SOURCE_OWNER, ChangeRecord, EventRecord, LinkRecord
from sim.vocab import Activity, ChangeForm, Content, Decision, Element

__all__ = [
    "EVENT_TEXT",
    "ROLE_TEXT",
    "SOURCE_TEXT",
    "TRIGGERS",
    "TimelineEntry",
    "UnknownCodeError",
    "element_name",
    "event_log",
    "event_text",
    "long_month",
    "month_caption",
    "month_clauses",
    "narrate",
    "role_text",
    "timeline",
    "timeline_entries",
    "trigger_code",
    "trigger_text",
]


class UnknownCodeError(ValueError):
    """A trigger, source or event kind that this module has no text for."""


# --- names -------------------------------------------------------------------------------------


def element_name(element: Element) -> str:
    """The element's label from ``sim.vocab`` as it reads inside a sentence ("teacher learning")."""
    label = element.label
    return label[0].lower() + label[1:]


# Roles of the packaged case (experiments/data/four_districts.toml) as they read after "the".
# Titles keep their capitals; descriptions are lower case.
ROLE_TEXT: dict[str, str] = {
    "Associate Superintendent": "Associate Superintendent",
    "Superintendent": "Superintendent",
    "Head of Early Childhood": "Head of Early Childhood",
    "Director of Early Childhood": "Director of Early Childhood",
    "District math coach": "district math coach",
    "Second district leader": "second district leader",
    "District leader with a fluency agenda": "district leader with a fluency agenda",
}


def role_text(role: str) -> str:
    """How a leader's role reads after "the". Roles are the scenario's words, so a role outside
    ``ROLE_TEXT`` (a user's own scenario) is used as written; an empty role is an error."""
    if not role or not role.strip():
        raise UnknownCodeError("decided_by: empty role; every change is decided by a named role")
    return ROLE_TEXT.get(role, role)


# --- sources, triggers, events -----------------------------------------------------------------

SOURCE_TEXT: dict[str, str] = {
    SOURCE_INITIATIVE: "the improvement team's work with the provider",
    SOURCE_AGENDA: "an authority holder's competing agenda",
    SOURCE_CURRICULUM: "a curriculum adopted with another provider",
    SOURCE_OWNER: "the owner's own piece added to a proposal it adopted",
    "bundle": "a co-branded bundle's curriculum-embedded professional learning",  # sim/providers.py
}

_ACTIVITY_BY_LABEL = {a.label: a for a in Activity}
_ELEMENT_BY_LOWER_LABEL = {e.label.lower(): e for e in Element}


@dataclass(frozen=True)
class _Trigger:
    """One kind of trigger the model writes: a pattern over its phrase and a renderer."""

    code: str
    pattern: re.Pattern
    render: Callable[[re.Match], str]
    where: str  # where in sim/ the phrase is written


def _activity_text(m: re.Match) -> str:
    label, element_lower, year = m.group("activity"), m.group("element"), m.group("year")
    if label not in _ACTIVITY_BY_LABEL:
        raise UnknownCodeError(f"trigger: provider activity {label!r} is not one of: {', '.join(_ACTIVITY_BY_LABEL)}")
    if element_lower not in _ELEMENT_BY_LOWER_LABEL:
        raise UnknownCodeError(
            f"trigger: emphasis element {element_lower!r} is not one of: {', '.join(_ELEMENT_BY_LOWER_LABEL)}"
        )
    element = _ELEMENT_BY_LOWER_LABEL[element_lower]
    return f"after the provider's {label} in year {year} (main emphasis: {element_name(element)})"


TRIGGERS: tuple[_Trigger, ...] = (
    _Trigger(
        "launch",
        re.compile(r"^the initiative's launch$"),
        lambda m: "at the launch of the initiative",
        "sim/agents.py Provider.last_activity (before the first activity)",
    ),
    _Trigger(
        "provider_activity",
        re.compile(r"^the (?P<activity>.+?) \((?P<element>.+) emphasis, year (?P<year>\d+)\)$"),
        _activity_text,
        "sim/initiative.py Provider.last_activity",
    ),
    _Trigger(
        "sustainability",
        re.compile(r"^the district's own sustainability plan$"),
        lambda m: "on its own after the provider's programme ended",
        "sim/model.py _Triggers",
    ),
    _Trigger(
        "competing_agenda",
        re.compile(r"^the (?P<agenda>.+?) agenda of the (?P<role>.+)$"),
        lambda m: f"as part of the {m.group('agenda')} agenda of the {role_text(m.group('role'))}",
        "sim/agents.py District.push_agenda",
    ),
    _Trigger(
        "curriculum_adoption",
        re.compile(r"^curriculum adopted with another provider$"),
        lambda m: "with a curriculum adopted from another provider",
        "sim/agents.py District.adopt_curriculum",
    ),
    _Trigger(
        "provider_curriculum",
        re.compile(r"^the (?P<kind>bundle|publisher)'s curriculum adopted$"),
        lambda m: f"with the {m.group('kind')}'s curriculum adopted",
        "sim/providers.py _Adoption.fire",
    ),
    _Trigger(
        "bundle_pl",
        re.compile(r"^the bundle's curriculum-embedded PL$"),
        lambda m: "pulled along by the bundle's curriculum-embedded professional learning",
        "sim/providers.py ProviderState.after_change",
    ),
)


def _match_trigger(trigger: str) -> tuple[_Trigger, re.Match]:
    for t in TRIGGERS:
        m = t.pattern.match(trigger)
        if m:
            return t, m
    raise UnknownCodeError(
        f"trigger: {trigger!r} matches none of the known triggers ({', '.join(t.code for t in TRIGGERS)}); "
        "add it to experiments/narrative.py TRIGGERS"
    )


def trigger_code(trigger: str) -> str:
    """The code of a trigger phrase the model wrote (one of ``TRIGGERS``' codes)."""
    return _match_trigger(trigger)[0].code


def trigger_text(trigger: str) -> str:
    """How a trigger reads in a timeline line ("after the provider's convening in year 2 ...")."""
    t, m = _match_trigger(trigger)
    return t.render(m)


_TURNOVER = re.compile(r"^(?P<role>.+) replaced \(new buy-in (?P<buy_in>[0-9.]+)\)$")


def _turnover_text(rec: EventRecord) -> str:
    m = _TURNOVER.match(rec.detail)
    if not m:
        raise UnknownCodeError(f"leader_turnover detail: {rec.detail!r} is not '<role> replaced (new buy-in <x>)'")
    return f"the {role_text(m.group('role'))} leaves; a successor takes the seat (buy-in {float(m.group('buy_in')):.2f})"


def _matched(pattern: str, kind: str, render: Callable[[re.Match], str]) -> Callable[[EventRecord], str]:
    rx = re.compile(pattern)

    def fn(rec: EventRecord) -> str:
        m = rx.match(rec.detail)
        if not m:
            raise UnknownCodeError(f"{kind} detail: {rec.detail!r} does not match {pattern!r}")
        return render(m)

    return fn


# Event kinds the model logs (``log_event`` calls in sim/model.py, sim/agents.py, sim/providers.py).
EVENT_TEXT: dict[str, Callable[[EventRecord], str]] = {
    "not_joined": _matched(r"^did not take up the offer \((?P<label>.+)\)$", "not_joined",
                           lambda m: f"does not take up the offer ({m.group('label')})"),
    "partnership_failed": _matched(r"^the (?P<label>.+) (?P<why>broke down \(scenario\)|failed \(health [0-9.]+\))$",
                                   "partnership_failed", lambda m: f"the {m.group('label')} {m.group('why')}"),
    "services_withdrawn": lambda rec: "loses the partnership's professional-learning services mid-initiative",
    "leader_turnover": _turnover_text,
    "prek_eliminated": lambda rec: "ends its pre-K programme; its four-year-olds move into transitional kindergarten",
    "programme_ended": lambda rec: "the provider's programme ends; the districts continue on their own",
    "taken_up": _matched(r"^the team takes up (?P<element>.+)$", "taken_up",
                         lambda m: f"'s improvement team starts working on {_element_text(m.group('element'))}"),
    "proposal_blocked": _matched(r"^(?P<role>.+) blocked the team's (?P<form>.+) of (?P<element>.+)$", "proposal_blocked",
                                 lambda m: f": the {role_text(m.group('role'))} blocks the team's proposed "
                                           f"{_form_text(m.group('form'))} of {_element_text(m.group('element'))}"),
    "escalated": _matched(r"^the superintendent overruled (?P<role>.+) on (?P<element>.+)$", "escalated",
                          lambda m: f": the lead takes {_element_text(m.group('element'))} to the superintendent, who "
                                    f"overrules the {role_text(m.group('role'))}"),
    "agenda_blocked": _matched(r"^(?P<role>.+) kept the (?P<agenda>.+) agenda out of (?P<element>.+)$", "agenda_blocked",
                               lambda m: f": the {role_text(m.group('role'))} keeps the {m.group('agenda')} agenda out of "
                                         f"{_element_text(m.group('element'))}"),
    "no_traction": lambda rec: _no_traction_text(rec),
    "provider_adapts": _matched(r"^the provider (?P<what>.+)$", "provider_adapts", lambda m: f"the provider {m.group('what')}"),
}


_NO_TRACTION_SYSTEMIC = re.compile(r"^the team could not make (?P<element>.+) systemic; it will try again and may add to what is there$")
_NO_TRACTION_COMMON = "the team could not design the common assessment into the district's system"


def _no_traction_text(rec: EventRecord) -> str:
    """The two setbacks the model logs as ``no_traction`` (sim/agents.py ``District.design``): a
    disorganized element the team could not make systemic, and the common assessment it could not
    design into the district's system."""
    m = _NO_TRACTION_SYSTEMIC.match(rec.detail)
    if m:
        return (f": the team cannot make {_element_text(m.group('element'))} systemic (no traction); it keeps at it, "
                "and its next design may settle for adding to what is there")
    if rec.detail == _NO_TRACTION_COMMON:
        return (": the team cannot design the common assessment into the district's assessment system (no traction); "
                "it keeps at it")
    raise UnknownCodeError(f"no_traction detail: {rec.detail!r} is not one of: "
                           f"{_NO_TRACTION_SYSTEMIC.pattern!r}, {_NO_TRACTION_COMMON!r}")


def _element_text(lower_label: str) -> str:
    if lower_label not in _ELEMENT_BY_LOWER_LABEL:
        raise UnknownCodeError(f"element: {lower_label!r} is not one of: {', '.join(_ELEMENT_BY_LOWER_LABEL)}")
    return element_name(_ELEMENT_BY_LOWER_LABEL[lower_label])


_FORM_BY_LABEL = {f.label: f for f in ChangeForm}


def _form_text(label: str) -> str:
    if label not in _FORM_BY_LABEL:
        raise UnknownCodeError(f"change form: {label!r} is not one of: {', '.join(_FORM_BY_LABEL)}")
    return label


def event_text(rec: EventRecord) -> str:
    """The sentence body of an event (without month and district)."""
    try:
        fn = EVENT_TEXT[rec.kind]
    except KeyError:
        raise UnknownCodeError(
            f"event kind: {rec.kind!r} is not one of: {', '.join(EVENT_TEXT)}; add it to experiments/narrative.py EVENT_TEXT"
        ) from None
    return fn(rec)


# --- reading a run -----------------------------------------------------------------------------


def _records(result) -> tuple[list[ChangeRecord], list[LinkRecord], list[EventRecord]]:
    """(changes, links, events) of a RunResult or a live CoherenceModel."""
    try:
        changes = result.changes
        links = result.link_log
    except AttributeError:
        raise TypeError(
            f"result: expected a sim.RunResult or a CoherenceModel (with changes, link_log, events), got {type(result).__name__}"
        ) from None
    events = getattr(result, "events", None)
    if events is None:
        events = getattr(result, "event_log", [])
    return list(changes), list(links), list(events)


def _districts_of(result, changes, links, events) -> tuple[str, ...]:
    names = getattr(result, "districts", None)
    if names is None and hasattr(result, "district_list"):
        names = [d.name for d in result.district_list]
    if names is None:
        seen: dict[str, None] = {}
        for r in (*changes, *links, *events):
            if r.district:
                seen.setdefault(r.district)
        names = list(seen)
    return tuple(names)


def _check_district(district: str | None, names: tuple[str, ...]) -> None:
    if district is not None and district not in names:
        raise ValueError(f"district: {district!r} is not one of: {', '.join(names)} (or None for all)")


def _links_same_month(links: Iterable[LinkRecord]) -> dict[tuple[int, str, Element], list[LinkRecord]]:
    """(month, district, element) -> links that element gained that month."""
    out: dict[tuple[int, str, Element], list[LinkRecord]] = defaultdict(list)
    for l in links:
        out[(l.month, l.district, l.a)].append(l)
        out[(l.month, l.district, l.b)].append(l)
    return out


def _other(link: LinkRecord, element: Element) -> Element:
    return link.b if link.a == element else link.a


def _action(c: ChangeRecord) -> str:
    return "created" if c.created else ("transform" if c.transform else "add-on")


_VERB = {
    "created": None,  # depends on transform, see _change_text
    "transform": "transforms",
    "add-on": "makes an add-on change to",
}
_CONTENT_TEXT = {
    Content.SIGNATURE: "Counting Collections",
    Content.PRINCIPLES: "the high-leverage practices",
    Content.COMPETING: "a competing vision",
    Content.TRADITIONAL: "the district's traditional way",
}


def _prefix(month: int) -> str:
    return f"Month {month} ({month_label(month)}) — "


def _change_text(c: ChangeRecord, same_month_links: list[LinkRecord]) -> str:
    action = _action(c)
    name = element_name(c.element)
    if action == "created":
        verb = f"creates {name} ({'as a district-wide system' if c.transform else 'as a single practice'})"
    else:
        verb = f"{_VERB[action]} {name}"
    parts = [f"{_prefix(c.month)}{c.district} {verb} {trigger_text(c.trigger)}"]
    if c.source not in SOURCE_TEXT:
        raise UnknownCodeError(f"source: {c.source!r} is not one of: {', '.join(SOURCE_TEXT)}")
    if c.consistent:
        parts.append(f"consistent with the provider's vision ({_CONTENT_TEXT[Content(c.content)]})")
    else:
        parts.append(f"not consistent with the provider's vision ({_CONTENT_TEXT[Content(c.content)]})")
    parts.append("includes pre-K" if c.prek_included else "leaves pre-K out")
    if same_month_links:
        others = sorted({_other(l, c.element) for l in same_month_links})
        parts.append("linked to " + _join([element_name(e) for e in others]))
    decided = f"decided by the {role_text(c.decided_by)}"
    if c.proposed_by and c.decision == Decision.ADOPTED:
        decided = f"proposed by the {role_text(c.proposed_by)} and adopted by the {role_text(c.decided_by)}"
    elif c.proposed_by and c.decision == Decision.RESHAPED:
        decided = (f"proposed by the {role_text(c.proposed_by)}; the {role_text(c.decided_by)} adopts it with a piece of "
                   "its own added" if c.source == SOURCE_INITIATIVE else
                   f"the {role_text(c.decided_by)}'s own piece, added to the {role_text(c.proposed_by)}'s proposal")
    if c.decided_month != c.month:
        decided += f" in month {c.decided_month} ({month_label(c.decided_month)})"
    parts.append(decided)
    return "; ".join(parts) + "."


def _link_text(l: LinkRecord) -> str:
    what = "both carry the provider's practice" if l.consistent else "both carry a competing vision"
    return f"{_prefix(l.month)}{l.district} links {element_name(l.a)} and {element_name(l.b)} ({what})."


def _event_line(e: EventRecord) -> str:
    body = event_text(e)
    if e.district:
        if e.kind == "leader_turnover":
            return f"{_prefix(e.month)}{e.district}: {body}."
        if body.startswith(("'", ":")):
            return f"{_prefix(e.month)}{e.district}{body}."
        return f"{_prefix(e.month)}{e.district} {body}."
    return f"{_prefix(e.month)}{body[0].upper()}{body[1:]}."


def _join(words: list[str]) -> str:
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# --- a month in one sentence (the app's caption, notebook 04's month-by-month story) ---------------

_MONTH_NAMES = ("July", "August", "September", "October", "November", "December", "January", "February", "March",
                "April", "May", "June")


def long_month(month: int) -> str:
    """'March 2022' for model month 20 (month 0 is July 2020)."""
    return f"{_MONTH_NAMES[month % 12]} {month_label(month).split()[1]}"


_CONTENT_WORDS = {
    Content.SIGNATURE: "Counting Collections",
    Content.PRINCIPLES: "high-leverage practices",
    Content.COMPETING: "competing vision",
    Content.TRADITIONAL: "district's own way",
}
_FORM_WORDS = {ChangeForm.ADD_ON: "add-on", ChangeForm.REDESIGN: "redesign", ChangeForm.BUILD: "new routine"}
_FORM_BY_LABEL = {f.label: f for f in ChangeForm}


def _the(role: str) -> str:
    return f"the {role_text(role)}"


def _el(e) -> str:
    return element_name(Element(int(e)))


_FORM_NOUN = {ChangeForm.ADD_ON: "add-on to", ChangeForm.REDESIGN: "redesign of", ChangeForm.BUILD: "new routine for"}
_FORM_VERB = {ChangeForm.ADD_ON: "added a piece to", ChangeForm.REDESIGN: "redesigned", ChangeForm.BUILD: "built a new routine for"}


def _change_phrase(c: ChangeRecord) -> str | None:
    """One change enacted this month, as a clause: "Avalon's Superintendent adopted the team's
    redesign of instructional framework (high-leverage practices)" when decided this month; "Avalon's
    team's redesign of ..., adopted by the Superintendent in Nov 2021, took effect" when the
    district's bureaucracy took months. None for the owner's own piece of a reshaped proposal (told
    with the proposal)."""
    el = _el(c.element)
    content = f" ({_CONTENT_WORDS[Content(c.content)]})"
    later = c.decided_month != c.month
    when = f" in {month_label(c.decided_month)}"
    if c.source == SOURCE_OWNER:
        return None
    if c.source == SOURCE_INITIATIVE and c.decision in (Decision.ADOPTED, Decision.RESHAPED):
        owner = role_text(c.decided_by)
        if c.decision == Decision.RESHAPED:
            if later:
                return (f"{c.district}'s team's {_FORM_NOUN[c.form]} {el}{content}, reshaped by the {owner}{when} "
                        "with a piece of its own merged in, took effect")
            return f"{c.district}'s {owner} reshaped the team's {_FORM_NOUN[c.form]} {el}{content}, merging in a piece of its own"
        if later:
            return f"{c.district}'s team's {_FORM_NOUN[c.form]} {el}{content}, adopted by the {owner}{when}, took effect"
        return f"{c.district}'s {owner} adopted the team's {_FORM_NOUN[c.form]} {el}{content}"
    decided = f"decided{when}" if later else ""
    if c.source == SOURCE_AGENDA:
        holder = c.proposed_by or c.decided_by
        return f"{c.district}'s {role_text(holder)} pushed a competing vision into {el}" + (f" ({decided})" if later else "")
    if c.source == SOURCE_CURRICULUM:
        return f"{c.district} adopted a new curriculum ({_FORM_NOUN[c.form]} {el}{content})"
    what = _CONTENT_WORDS[Content(c.content)] + (f"; {decided}" if later else "")
    return f"{c.district} {_FORM_VERB[c.form]} {el} ({what})"


def _event_phrase(rec) -> str:
    """One event of this month as a clause, in the past tense."""
    d, k, detail = rec.district, rec.kind, rec.detail
    m = None
    if k == "taken_up":
        m = re.match(r"^the team takes up (?P<el>.+)$", detail)
        if m:
            return f"{d}'s team took up {element_name(_ELEMENT_BY_LOWER_LABEL[m.group('el')])}"
    elif k == "proposal_blocked":
        m = re.match(r"^(?P<role>.+) blocked the team's (?P<form>.+) of (?P<el>.+)$", detail)
        if m and m.group("form") in _FORM_BY_LABEL:
            return (f"{_the(m.group('role'))} blocked {d}'s {_FORM_WORDS[_FORM_BY_LABEL[m.group('form')]]} of "
                    f"{element_name(_ELEMENT_BY_LOWER_LABEL[m.group('el')])}")
    elif k == "escalated":
        m = re.match(r"^the superintendent overruled (?P<role>.+) on (?P<el>.+)$", detail)
        if m:
            return (f"{d}'s lead took {element_name(_ELEMENT_BY_LOWER_LABEL[m.group('el')])} to the superintendent, "
                    f"who overruled {_the(m.group('role'))}")
    elif k == "agenda_blocked":
        m = re.match(r"^(?P<role>.+) kept the (?P<agenda>.+) agenda out of (?P<el>.+)$", detail)
        if m:
            return (f"{_the(m.group('role'))} kept {d}'s {m.group('agenda')} agenda out of "
                    f"{element_name(_ELEMENT_BY_LOWER_LABEL[m.group('el')])}")
    elif k == "no_traction":
        m = _NO_TRACTION_SYSTEMIC.match(detail)
        if m:
            return f"{d}'s team could not make {element_name(_ELEMENT_BY_LOWER_LABEL[m.group('element')])} systemic"
        if detail == _NO_TRACTION_COMMON:
            return f"{d}'s team could not design the common assessment into its system"
    elif k == "provider_adapts":
        m = re.match(r"^the provider turns to (?P<what>.+)$", detail)
        if m:
            return f"the provider turned to {m.group('what')}"
        if detail.startswith("the provider stops asking for the common assessment"):
            return "the provider stopped asking for the common assessment and helped districts use their own"
    elif k == "leader_turnover":
        m = re.match(r"^(?P<role>.+) replaced \(new buy-in (?P<b>[0-9.]+)\)$", detail)
        if m:
            return f"{d}'s {role_text(m.group('role'))} left; a successor took the seat (buy-in {float(m.group('b')):.2f})"
    elif k == "prek_eliminated":
        return f"{d} ended its pre-K programme (its four-year-olds moved into TK)"
    elif k == "programme_ended":
        return "the provider's programme ended; the districts go on alone"
    # anything else: the narrative's own words (it raises on a kind it does not know)
    body = event_text(rec)
    if not d:
        return body
    return f"{d}{body}" if body.startswith((":", "'")) else f"{d} {body}"


_INITIATIVE_KINDS = ("provider_adapts", "programme_ended")
# What a caption tells first when a month holds more than it can say (lower first).
_PRIORITY = {"provider_adapts": 0, "programme_ended": 0, "prek_eliminated": 1, "proposal_blocked": 2, "escalated": 2,
             "change": 3, "agenda_blocked": 4, "no_traction": 4, "leader_turnover": 5, "taken_up": 6, "link": 7}

def month_clauses(result, month: int, district: str | None = None) -> list[tuple[str, str]]:
    """What happened in ``month``, as (kind, clause) pairs in the past tense, in the order a caption
    tells them: the districts' events (take-ups, blocked proposals, escalations, turnover, shocks),
    the changes enacted, the alignments formed, then the provider's turns. Kinds are event kinds,
    "change" or "link". ``district`` keeps that district's (and the initiative-wide) ones.
    ``result``: a ``sim.RunResult`` or a live ``CoherenceModel``."""
    changes, links, events = _records(result)

    def keep(rec) -> bool:
        return rec.month == month and (district is None or rec.district in ("", district))

    out = []
    for rec in events:
        if keep(rec) and rec.kind not in _INITIATIVE_KINDS:
            out.append((rec.kind, _event_phrase(rec)))
    for c in changes:
        if keep(c):
            phrase = _change_phrase(c)
            if phrase:
                out.append(("change", phrase))
    linked: dict[str, list] = {}
    for l in links:
        if keep(l):
            linked.setdefault(l.district, []).append(l)
    for name, links in linked.items():
        if len(links) == 1:
            l = links[0]
            what = "the provider's practice" if l.consistent else "a competing vision"
            out.append(("link", f"{name} aligned {_el(l.a)} with {_el(l.b)} (both carry {what})"))
        else:
            out.append(("link", f"{name} aligned {len(links)} more pairs of its elements"))
    for rec in events:  # the provider last: its turns frame the months ahead
        if keep(rec) and rec.kind in _INITIATIVE_KINDS:
            out.append((rec.kind, _event_phrase(rec)))
    return out


def month_caption(result, month: int, district: str | None = None, *, max_clauses: int | None = None,
                  more: str = "") -> str:
    """``month`` in one sentence: "March 2022: Diamond's team took up student assessments; the
    Superintendent blocked Cedarville's redesign of teacher learning; the provider turned to ...".
    With ``max_clauses``, the most telling first (the provider's turns, shocks, blocked or
    escalated proposals, changes, then agendas, turnover, take-ups and alignments) and how many more
    there were (followed by ``more``). "" when nothing happened."""
    told = month_clauses(result, month, district)
    if not told:
        return ""
    if max_clauses is not None and len(told) > max_clauses:
        keep = sorted(range(len(told)), key=lambda i: (_PRIORITY.get(told[i][0], 5), i))[:max_clauses]
        n = len(told) - max_clauses
        clauses = [told[i][1] for i in sorted(keep)]
        clauses.append(f"and {n} more {'thing' if n == 1 else 'things'}" + (f" {more}" if more else ""))
    else:
        clauses = [c for _, c in told]
    text = "; ".join(clauses)
    return f"{long_month(month)}: {text[0].upper()}{text[1:]}."



# --- public API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a timeline and the record it tells of."""

    month: int
    district: str  # "" for initiative-wide events
    kind: str  # "change", "link" or the event's kind
    text: str
    record: ChangeRecord | LinkRecord | EventRecord


# Order within a month: shocks and turnover-type events, then changes, then links, then
# initiative-wide events (the programme ends after the month's work).
_RANK = {"event": 0, "change": 1, "link": 2, "initiative": 3}


def timeline_entries(result, district: str | None = None, *, up_to_month: int | None = None) -> list[TimelineEntry]:
    """The timeline as entries (month ascending; within a month: events, changes, links).

    Every change is one entry. A link gained in the same month as a change of one of its elements
    is told in that change's line ("linked to ..."); other links get a line of their own.
    ``district`` restricts to one district (initiative-wide events are kept); ``up_to_month``
    keeps months <= it (the app shows the run so far)."""
    changes, links, events = _records(result)
    _check_district(district, _districts_of(result, changes, links, events))
    changed_in_month = {(c.month, c.district, c.element) for c in changes}
    by_element = _links_same_month(links)
    rows: list[tuple[int, int, int, TimelineEntry]] = []

    def keep(month: int, name: str) -> bool:
        if up_to_month is not None and month > up_to_month:
            return False
        return district is None or name in ("", district)

    for i, e in enumerate(events):
        if keep(e.month, e.district):
            rank = _RANK["initiative"] if not e.district else _RANK["event"]
            rows.append((e.month, rank, i, TimelineEntry(e.month, e.district, e.kind, _event_line(e), e)))
    for i, c in enumerate(changes):
        if keep(c.month, c.district):
            text = _change_text(c, by_element.get((c.month, c.district, c.element), []))
            rows.append((c.month, _RANK["change"], i, TimelineEntry(c.month, c.district, "change", text, c)))
    for i, l in enumerate(links):
        if keep(l.month, l.district):
            told = (l.month, l.district, l.a) in changed_in_month or (l.month, l.district, l.b) in changed_in_month
            if not told:
                rows.append((l.month, _RANK["link"], i, TimelineEntry(l.month, l.district, "link", _link_text(l), l)))
    rows.sort(key=lambda r: r[:3])
    return [r[3] for r in rows]


def timeline(result, district: str | None = None, *, up_to_month: int | None = None) -> list[str]:
    """Short readable lines, months ascending, one per change (plus events and untold links), e.g.

    ``Month 14 (Sep 2021) — Cedarville transforms teacher learning after the provider's convening in
    year 2 (main emphasis: teacher learning); consistent with the provider's vision (the
    high-leverage practices); includes pre-K; linked to pedagogy & materials; decided by the
    Associate Superintendent.``"""
    return [e.text for e in timeline_entries(result, district, up_to_month=up_to_month)]


def narrate(result, district: str | None = None, *, up_to_month: int | None = None) -> str:
    """The timeline as Markdown: a ``##`` heading per district (and one for initiative-wide events
    when all districts are shown), a bullet per line; "No changes yet." where a district has none."""
    changes, links, events = _records(result)
    names = _districts_of(result, changes, links, events)
    _check_district(district, names)
    entries = timeline_entries(result, district, up_to_month=up_to_month)
    shown = (district,) if district is not None else names
    blocks = []
    for name in shown:
        lines = [e.text for e in entries if e.district == name or (district is not None and e.district == "")]
        body = "\n".join(f"- {t}" for t in lines) if lines else "- No changes yet."
        blocks.append(f"## {name}\n\n{body}")
    if district is None:
        initiative = [e.text for e in entries if e.district == ""]
        if initiative:
            blocks.append("## The initiative\n\n" + "\n".join(f"- {t}" for t in initiative))
    return "\n\n".join(blocks) + "\n"


EVENT_LOG_COLUMNS = (
    "month",
    "month_label",
    "district",
    "kind",
    "element",
    "element_label",
    "action",
    "consistent",
    "prek_included",
    "content",
    "links",
    "decided_by",
    "decided_month",
    "trigger",
    "trigger_code",
    "source",
    "detail",
    "text",
)


def event_log(result) -> pd.DataFrame:
    """One row per change, link and event, months ascending (the timeline's order).

    Columns: ``month``, ``month_label`` ("Mar 2021"), ``district`` ("" for initiative-wide
    events), ``kind`` ("change", "link" or the event's kind), ``element`` (element key; for a link
    its first element), ``element_label``, ``action`` ("add-on", "transform", "created"),
    ``consistent``, ``prek_included``, ``content`` (content key), ``links`` (keys of the elements
    linked to this one in the same month; for a link row, the other element), ``decided_by``,
    ``decided_month``, ``trigger`` (the model's phrase for the provider activity or agenda that
    prompted the change), ``trigger_code`` (its code in ``TRIGGERS``), ``source``, ``detail``
    (an event's own words) and ``text`` (the timeline line that tells of the row; for a link told
    told in a change's line, the link's own sentence). Fields that do not apply to a row are None."""
    changes, links, events = _records(result)
    by_element = _links_same_month(links)
    rows = []
    for i, c in enumerate(changes):
        same = by_element.get((c.month, c.district, c.element), [])
        rows.append((c.month, 1, i, {
            "month": c.month, "district": c.district, "kind": "change", "element": c.element.key,
            "element_label": c.element.label, "action": _action(c), "consistent": c.consistent,
            "prek_included": c.prek_included, "content": Content(c.content).key,
            "links": tuple(sorted({_other(l, c.element).key for l in same})), "decided_by": c.decided_by,
            "decided_month": c.decided_month, "trigger": c.trigger, "trigger_code": trigger_code(c.trigger),
            "source": c.source, "detail": None, "text": _change_text(c, same),
        }))
    for i, l in enumerate(links):
        rows.append((l.month, 2, i, {
            "month": l.month, "district": l.district, "kind": "link", "element": l.a.key,
            "element_label": l.a.label, "action": None, "consistent": l.consistent, "prek_included": None,
            "content": Content(l.content).key, "links": (l.b.key,), "decided_by": None, "decided_month": None,
            "trigger": None, "trigger_code": None, "source": None, "detail": None, "text": _link_text(l),
        }))
    for i, e in enumerate(events):
        rows.append((e.month, _RANK["initiative"] if not e.district else _RANK["event"], i, {
            "month": e.month, "district": e.district, "kind": e.kind, "element": None, "element_label": None,
            "action": None, "consistent": None, "prek_included": None, "content": None, "links": (),
            "decided_by": None, "decided_month": None, "trigger": None, "trigger_code": None, "source": None,
            "detail": e.detail, "text": _event_line(e),
        }))
    rows.sort(key=lambda r: r[:3])
    records = [r[3] for r in rows]
    for r in records:
        r["month_label"] = month_label(r["month"])
    df = pd.DataFrame.from_records(records, columns=list(EVENT_LOG_COLUMNS))
    if not len(df):
        df = pd.DataFrame({c: pd.Series(dtype="object") for c in EVENT_LOG_COLUMNS})
    df["month"] = df["month"].astype("int64")
    df["decided_month"] = df["decided_month"].astype("Int64")
    return df
