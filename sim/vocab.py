"""The project's vocabulary: elements, dimensions and their codes, defined once.

Every other module (model, coding, tables, case files, targets, figures) imports these names
instead of spelling them again. Keys are the snake_case strings used in files and JSON;
labels are what people read.

Sources: the six elements, 003_5ef94897120ea9a2.txt lines 619-632; the four dimensions,
lines 642-711 and Appendix A lines 1643-1683; the capacity levels, lines 1098-1106 and 1698-1706.
"""

from __future__ import annotations

from enum import IntEnum


class _Coded(IntEnum):
    """An IntEnum whose members carry a file key and a human label."""

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        return _LABELS[type(self)][self]

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(m.key for m in cls)

    @classmethod
    def from_key(cls, key: str, *, field: str = "value"):
        """Parse a file key; the error names the field and the allowed values."""
        try:
            return cls[str(key).upper()]
        except KeyError:
            allowed = ", ".join(cls.keys())
            raise ValueError(f"{field}: {key!r} is not one of: {allowed}") from None


class Element(_Coded):
    """The six infrastructure elements (lines 619-632)."""

    FRAMEWORK = 0
    PEDAGOGY = 1
    ASSESSMENT = 2
    TEACHER_LEARNING = 3
    SCHOOL_LEADER_LEARNING = 4
    OVERSIGHT = 5


class Capacity(_Coded):
    """Pre-existing capacity of an element at the start (lines 1098-1106, 1698-1706)."""

    DID_NOT_EXIST = 0
    EMERGENT = 1  # "emergent or incoherent"
    ESTABLISHED = 2  # "established and functional"


class Substantiveness(_Coded):
    """Appendix A, lines 1652-1658."""

    NO_CHANGE = 0
    ADD_ON = 1
    TRANSFORM = 2


class Consistency(_Coded):
    """Appendix A, lines 1660-1666."""

    NO_CHANGE = 0
    CONSISTENT = 1
    SOMEWHAT = 2
    NOT_CONSISTENT = 3


class Alignment(_Coded):
    """Table 4 columns as read in evidence-map section 3: no change / changed without new
    alignment / changed with new alignment (lines 1134-1194, 1668-1675)."""

    NO_CHANGE = 0
    NOT_ALIGNED = 1
    ALIGNED = 2


class Continuity(_Coded):
    """Table 5 columns (line 1237) and Appendix A lines 1677-1683."""

    NO_CHANGE = 0
    NO_CONTINUITY = 1
    CONTINUITY = 2


class GradeBand(_Coded):
    """Teachers' grade band (pre-K, transitional kindergarten, kindergarten to grade 3)."""

    PREK = 0
    TK = 1
    K3 = 2


class Practice(_Coded):
    """A teacher's mathematics practice: traditional, the signature practice, the six HLPPs
    (lines 396-417, 444-460)."""

    TRADITIONAL = 0
    COUNTING_COLLECTIONS = 1
    HLPP = 2


class Content(_Coded):
    """What a change carries into an element.

    SIGNATURE: Counting Collections / the Learning from Children assessment (year-1 emphasis);
    PRINCIPLES: the high-leverage pedagogical practices (year-2 shift, lines 444-460);
    COMPETING: a vision that conflicts with the provider's (Diamond's timed fluency, lines 832-868, 909-914);
    TRADITIONAL: what elements held before the initiative, or an owner's own way of doing things
    (content-neutral or traditional mathematics, lines 790-799, 1111-1113, 1222-1224); as the
    content of a change it conflicts with the provider's vision.
    """

    SIGNATURE = 0
    PRINCIPLES = 1
    COMPETING = 2
    TRADITIONAL = 3

    @property
    def provider_consistent(self) -> bool:
        """Promotes the provider's vision (Appendix A, lines 1660-1666)."""
        return self in (Content.SIGNATURE, Content.PRINCIPLES)


class ChangeForm(_Coded):
    """What a change does to an element's structure (Appendix A, lines 1652-1658, 775-802).

    ADD_ON: adds a practice beside the element's routines, which stay as they were;
    REDESIGN: shifts the core of an existing routine (e.g. mathematics into a content-neutral
    framework, a new core approach);
    BUILD: makes the element systemic where it had no routine (builds one, absorbing the practices
    that were there). REDESIGN and BUILD are what the report codes "transform".
    """

    ADD_ON = 0
    REDESIGN = 1
    BUILD = 2


class Decision(_Coded):
    """How a change came about (the contested decision, docs/ODD.md 7.4).

    OWN: its decider owns the element (or the change is a shock); ADOPTED: the owner adopted a
    proposal as designed; RESHAPED: the owner adopted it and added a piece of its own vision.
    """

    OWN = 0
    ADOPTED = 1
    RESHAPED = 2


class Phase(_Coded):
    """The provider's focus, which shifts as it learns (lines 380-486).

    SIGNATURE: continuous-improvement tools, Counting Collections, a common assessment (year 1);
    PRINCIPLES: Counting Collections as a vehicle for the HLPPs, the Coherence Framework (year 2);
    SYSTEMS: school-leader learning, a district mathematics vision, sustainability (year 3).
    """

    SIGNATURE = 0
    PRINCIPLES = 1
    SYSTEMS = 2


class Activity(_Coded):
    """The provider's recurring strategies that deliver exposure (lines 295-316, 357-378)."""

    CONVENING = 0  # strategy 3, three times a year
    SLO = 1  # strategy 4, shared learning opportunities between convenings
    COACHING = 2  # strategy 5, monthly coaching of team leads
    SUPERINTENDENT_CONVENING = 3  # strategy 6, twice a year


_LABELS: dict[type, dict] = {
    Element: {
        Element.FRAMEWORK: "Instructional framework",
        Element.PEDAGOGY: "Pedagogy & materials",
        Element.ASSESSMENT: "Student assessments",
        Element.TEACHER_LEARNING: "Teacher learning",
        Element.SCHOOL_LEADER_LEARNING: "School leader learning",
        Element.OVERSIGHT: "Instructional oversight",
    },
    Capacity: {
        Capacity.DID_NOT_EXIST: "Did not exist",
        Capacity.EMERGENT: "Emergent or incoherent",
        Capacity.ESTABLISHED: "Established and functional",
    },
    Substantiveness: {
        Substantiveness.NO_CHANGE: "No change",
        Substantiveness.ADD_ON: "Add on",
        Substantiveness.TRANSFORM: "Transform",
    },
    Consistency: {
        Consistency.NO_CHANGE: "No change",
        Consistency.CONSISTENT: "Consistent",
        Consistency.SOMEWHAT: "Somewhat consistent",
        Consistency.NOT_CONSISTENT: "Not consistent",
    },
    Alignment: {
        Alignment.NO_CHANGE: "No change",
        Alignment.NOT_ALIGNED: "Changed, no new alignment",
        Alignment.ALIGNED: "Changed with new alignment",
    },
    Continuity: {
        Continuity.NO_CHANGE: "No change",
        Continuity.NO_CONTINUITY: "Change did not foster continuity",
        Continuity.CONTINUITY: "Change fostered continuity",
    },
    GradeBand: {GradeBand.PREK: "Pre-K", GradeBand.TK: "TK", GradeBand.K3: "K-3"},
    Practice: {
        Practice.TRADITIONAL: "Traditional",
        Practice.COUNTING_COLLECTIONS: "Counting Collections",
        Practice.HLPP: "High-leverage practices",
    },
    Content: {
        Content.SIGNATURE: "Signature practice",
        Content.PRINCIPLES: "Underlying principles (HLPPs)",
        Content.COMPETING: "Competing vision",
        Content.TRADITIONAL: "Traditional or content-neutral",
    },
    ChangeForm: {
        ChangeForm.ADD_ON: "add-on beside the routine",
        ChangeForm.REDESIGN: "redesign of the core",
        ChangeForm.BUILD: "new systemic routine",
    },
    Decision: {
        Decision.OWN: "its owner's decision",
        Decision.ADOPTED: "proposal adopted",
        Decision.RESHAPED: "proposal reshaped by the owner",
    },
    Phase: {
        Phase.SIGNATURE: "signature practice and tools",
        Phase.PRINCIPLES: "high-leverage practices and the Coherence Framework",
        Phase.SYSTEMS: "school leaders, vision and sustainability",
    },
    Activity: {
        Activity.CONVENING: "convening",
        Activity.SLO: "shared learning opportunity",
        Activity.COACHING: "team-lead coaching",
        Activity.SUPERINTENDENT_CONVENING: "superintendent convening",
    },
}

N_ELEMENTS = len(Element)
ELEMENTS = tuple(Element)
CAPACITIES = tuple(Capacity)

# Names of the districts of the report's case, in the report's order (lines 488-587).
CASE_DISTRICTS = ("Avalon", "Birchwood", "Cedarville", "Diamond")

# Table keys used by summaries and targets (issue 2, summary.json contract).
TABLE_COLUMNS = {
    "table2": Substantiveness.keys(),
    "table3": Substantiveness.keys(),
    "table4": Alignment.keys(),
    "table5": Continuity.keys(),
    "consistency": Consistency.keys(),
}
