"""Typed scenarios: every model parameter and the district definitions, from TOML or YAML files,
with dotted ``--set key=value`` overrides that use the same keys as the files.

A scenario is plain data (pydantic models). ``Scenario.conditions()`` turns it into the model's
``Conditions`` (one per starting-capacity assignment: districts of the report's case whose
capacities are not given run over every assignment consistent with the report); ``parameters()``
gives ``sim.Parameters``. A scenario can always be written back out (``dump_scenario``) and re-run.

Bad input is refused with a ``ScenarioError`` whose message names the key, the value and what is
allowed. Files are parsed safely (``tomllib``, ``yaml.safe_load``): no code runs from a file.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from sim.conditions import SHOCK_KINDS, Conditions, DistrictConditions, LeaderSpec, ProviderProgram, ShockSpec
from sim.parameters import PARAMETER_SPECS, Parameters
from sim.providers import PROVIDER_KINDS, ProviderSpec
from sim.vocab import CASE_DISTRICTS, Capacity, Element

ElementKey = Literal[tuple(Element.keys())]  # type: ignore[valid-type]
CapacityKey = Literal[tuple(Capacity.keys())]  # type: ignore[valid-type]
ShockKind = Literal[SHOCK_KINDS]  # type: ignore[valid-type]
ProviderKind = Literal[PROVIDER_KINDS]  # type: ignore[valid-type]
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]

MAX_FILE_BYTES = 2_000_000
#: Deepest nesting of tables and lists accepted in a file or an override value (a scenario needs < 10).
MAX_DEPTH = 64
#: Most values a YAML document's aliases may unfold into.
MAX_EXPANDED = 1_000_000
_KEY_SHOWN = 80
# A run of MAX_DEPTH dotted key parts (``a.b.c...``): tomllib's time and memory grow with the square
# of a dotted key's length, so such keys are refused before parsing.
_DOTTED_RUN = re.compile(r"(?:\.[ \t]*(?:[A-Za-z0-9_-]+|\"[^\"\\\n]*\"|'[^'\n]*')[ \t]*){%d,}" % MAX_DEPTH)
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)


class ScenarioError(ValueError):
    """A scenario, file or override that cannot be used; the message names the key."""


class LeaderModel(BaseModel):
    model_config = _STRICT
    role: str = Field(min_length=1, max_length=200)
    positional_authority: bool
    buy_in: Unit
    on_team: bool = True
    early_childhood: bool = False
    superintendent: bool = False
    agenda: str | None = Field(default=None, max_length=200)
    agenda_elements: list[ElementKey] = Field(default_factory=list)

    @model_validator(mode="after")
    def _agenda_needs_elements(self):
        if self.agenda and not self.agenda_elements:
            raise ValueError("a competing agenda needs at least one element in agenda_elements")
        return self

    def spec(self, leads: bool) -> LeaderSpec:
        return LeaderSpec(
            role=self.role,
            positional_authority=self.positional_authority,
            buy_in=self.buy_in,
            leads_initiative=leads,
            on_team=self.on_team,
            early_childhood=self.early_childhood,
            superintendent=self.superintendent,
            agenda=self.agenda,
            agenda_elements=tuple(Element.from_key(k) for k in self.agenda_elements),
        )


class ShockModel(BaseModel):
    model_config = _STRICT
    kind: ShockKind
    month: int = Field(ge=0, le=240)


class TeachersModel(BaseModel):
    model_config = _STRICT
    prek: int = Field(ge=0, le=100_000)
    tk: int = Field(ge=0, le=100_000)
    k3: int = Field(ge=0, le=100_000)


class DistrictModel(BaseModel):
    """One district. ``capacity`` may be omitted for the report's four districts: the scenario then
    runs over every starting-capacity assignment consistent with the report."""

    model_config = _STRICT
    students: int = Field(ge=1, le=5_000_000)
    n_elementary_schools: int = Field(ge=1, le=5_000)
    n_school_leaders: int = Field(ge=1, le=20_000)
    teachers: TeachersModel
    team_teachers: int = Field(ge=0, le=10_000)
    prior_experience: bool
    prior_provider: bool
    has_prek: bool = True
    rural: bool = False
    capacity: dict[ElementKey, CapacityKey] | None = None
    lead: LeaderModel
    leaders: dict[str, LeaderModel] = Field(default_factory=dict)
    shocks: list[ShockModel] = Field(default_factory=list)

    @field_validator("capacity")
    @classmethod
    def _all_elements(cls, v):
        if v is not None and set(v) != set(Element.keys()):
            missing = sorted(set(Element.keys()) - set(v))
            raise ValueError(f"needs every element; missing: {', '.join(missing)}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        total = self.teachers.prek + self.teachers.tk + self.teachers.k3
        if self.team_teachers > total:
            raise ValueError(f"team_teachers ({self.team_teachers}) exceeds the number of teachers ({total})")
        if not self.has_prek and self.teachers.prek:
            raise ValueError("a district without pre-K (has_prek = false) has no pre-K teachers (teachers.prek = 0)")
        return self


class ProgramModel(BaseModel):
    """The provider's programme (see sim.conditions.ProviderProgram for sources)."""

    model_config = _STRICT
    years: int = Field(default=3, ge=0, le=20)
    emphasis: list[Annotated[list[Unit], Field(min_length=len(Element), max_length=len(Element))]] = Field(
        default_factory=lambda: [list(r) for r in ProviderProgram().emphasis], min_length=1, max_length=20
    )
    hlpp_emphasis: list[Unit] = Field(default_factory=lambda: list(ProviderProgram().hlpp_emphasis), min_length=1, max_length=20)
    slo_audience: list[Literal["teachers", "school_leaders"]] = Field(
        default_factory=lambda: list(ProviderProgram().slo_audience), min_length=1, max_length=20
    )
    convening_months: list[Annotated[int, Field(ge=0, le=11)]] = Field(default_factory=lambda: list(ProviderProgram().convening_months))
    slo_months: list[Annotated[int, Field(ge=0, le=11)]] = Field(default_factory=lambda: list(ProviderProgram().slo_months))
    coaching_months: list[Annotated[int, Field(ge=0, le=11)]] = Field(default_factory=lambda: list(ProviderProgram().coaching_months))
    superintendent_months: list[Annotated[int, Field(ge=0, le=11)]] = Field(
        default_factory=lambda: list(ProviderProgram().superintendent_months)
    )
    convening_weight: float = Field(default=ProviderProgram().convening_weight, ge=0.0, le=10.0, allow_inf_nan=False)
    slo_weight: float = Field(default=ProviderProgram().slo_weight, ge=0.0, le=10.0, allow_inf_nan=False)
    coaching_weight: float = Field(default=ProviderProgram().coaching_weight, ge=0.0, le=10.0, allow_inf_nan=False)
    prek_focus: Unit = ProviderProgram().prek_focus

    def program(self) -> ProviderProgram:
        d = self.model_dump()
        return ProviderProgram(
            **{k: (tuple(tuple(r) for r in v) if k == "emphasis" else tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        )


class ProviderModel(BaseModel):
    """Who the provider is and the terms of its offer (see sim.providers.ProviderSpec for sources).
    ``kind`` is one of: pl_provider (the case), publisher, lead_generation, cross_selling, bundle."""

    model_config = _STRICT
    kind: ProviderKind = "pl_provider"
    recruit: bool = False
    subsidy_share: Unit = 0.0
    subsidy_max_students: int = Field(default=2500, ge=0, le=5_000_000)
    alignment: Unit = 0.6
    meetings_per_month: float = Field(default=1.0, ge=0.0, le=30.0, allow_inf_nan=False)
    trust: Unit = 0.5
    curriculum_neutral: bool = True
    breakdown_month: int | None = Field(default=None, ge=0, le=240)
    adoption_month: int = Field(default=1, ge=0, le=240)

    def spec(self) -> ProviderSpec:
        return ProviderSpec(**self.model_dump())


# Parameters: generated from PARAMETER_SPECS, so names, defaults and ranges live in one place.
ParametersModel = create_model(
    "ParametersModel",
    __config__=_STRICT,
    **{
        s.name: (float, Field(default=s.default, ge=s.low, le=s.high, description=f"{s.description} [{s.unit}]"))
        for s in PARAMETER_SPECS.values()
    },
)


class Scenario(BaseModel):
    """Everything a study needs besides the seed and the number of replicates."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    horizon_months: int = Field(default=36, ge=1, le=240)
    turbulence_by_year: list[Unit] = Field(default_factory=lambda: [0.5, 0.3, 0.15], max_length=40)
    turbulence_after: Unit = 0.05
    parameters: ParametersModel = Field(default_factory=ParametersModel)  # type: ignore[valid-type]
    program: ProgramModel = Field(default_factory=ProgramModel)
    provider: ProviderModel = Field(default_factory=ProviderModel)
    districts: dict[str, DistrictModel] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _capacities_known(self):
        for name, d in self.districts.items():
            if d.capacity is None and name not in CASE_DISTRICTS:
                raise ValueError(
                    f"districts.{name}.capacity: missing; only the report's districts "
                    f"({', '.join(CASE_DISTRICTS)}) may leave it to the enumeration of the report's tables"
                )
        return self

    # --- to the model ------------------------------------------------------------------------
    def parameters_(self) -> Parameters:
        return Parameters(**self.parameters.model_dump())

    def conditions(self) -> tuple[Conditions, ...]:
        """One ``Conditions`` per starting-capacity assignment (one if every capacity is given)."""
        need_enum = [n for n, d in self.districts.items() if d.capacity is None]
        if need_enum:
            from experiments.evidence import consistent_capacity_assignments

            assignments = consistent_capacity_assignments()
        else:
            assignments = ({},)
        program = self.program.program()
        provider = self.provider.spec()
        out = []
        for a in assignments:
            districts = tuple(_district_conditions(n, d, a.get(n)) for n, d in self.districts.items())
            out.append(
                Conditions(
                    districts=districts,
                    program=program,
                    horizon_months=self.horizon_months,
                    turbulence_by_year=tuple(self.turbulence_by_year),
                    turbulence_after=self.turbulence_after,
                    provider=provider,
                )
            )
        return tuple(out)


def _district_conditions(name: str, d: DistrictModel, enumerated: dict | None) -> DistrictConditions:
    caps = d.capacity if d.capacity is not None else enumerated
    leaders = (d.lead.spec(True),) + tuple(l.spec(False) for l in d.leaders.values())
    try:
        return DistrictConditions(
            name=name,
            students=d.students,
            n_elementary_schools=d.n_elementary_schools,
            n_school_leaders=d.n_school_leaders,
            teachers=(d.teachers.prek, d.teachers.tk, d.teachers.k3),
            team_teachers=d.team_teachers,
            prior_experience=d.prior_experience,
            prior_provider=d.prior_provider,
            capacity=tuple(Capacity.from_key(caps[e.key]) for e in Element),
            leaders=leaders,
            has_prek=d.has_prek,
            shocks=tuple(ShockSpec(s.kind, s.month) for s in d.shocks),
            rural=d.rural,
        )
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None


# --- building, loading, writing --------------------------------------------------------------
def scenario_from_case(definition=None, name: str | None = None) -> Scenario:
    """The resolved scenario of a case file (default: the packaged four-district case)."""
    from .casefile import load_case

    definition = definition or load_case()
    districts = {}
    for cond in (definition.conditions({n: {e.key: "established" for e in Element} for n in definition.district_names}),):
        for dc in cond.districts:
            lead = dc.lead
            others, used = {}, set()
            for l in dc.leaders:
                if l is lead:
                    continue
                key = _slug(l.role, used)
                others[key] = _leader_dict(l)
            districts[dc.name] = {
                "students": dc.students,
                "n_elementary_schools": dc.n_elementary_schools,
                "n_school_leaders": dc.n_school_leaders,
                "teachers": dict(zip(("prek", "tk", "k3"), dc.teachers)),
                "team_teachers": dc.team_teachers,
                "prior_experience": dc.prior_experience,
                "prior_provider": dc.prior_provider,
                "has_prek": dc.has_prek,
                "lead": _leader_dict(lead),
                "leaders": others,
                "shocks": [{"kind": s.kind, "month": s.month} for s in dc.shocks],
            }
    if definition.capacity_mode == "given":
        given = definition.conditions({})
        for dc in given.districts:
            districts[dc.name]["capacity"] = {e.key: Capacity(c).key for e, c in zip(Element, dc.capacity)}
    return Scenario(
        name=name or definition.name,
        description=str(definition.raw.get("case", {}).get("description", "")),
        horizon_months=definition.horizon_months,
        turbulence_by_year=list(definition.turbulence_by_year),
        turbulence_after=definition.turbulence_after,
        districts=districts,
    )


def _leader_dict(l: LeaderSpec) -> dict:
    return {
        "role": l.role,
        "positional_authority": l.positional_authority,
        "buy_in": l.buy_in,
        "on_team": l.on_team,
        "early_childhood": l.early_childhood,
        "superintendent": l.superintendent,
        "agenda": l.agenda,
        "agenda_elements": [e.key for e in l.agenda_elements],
    }


def _slug(role: str, used: set) -> str:
    base = "".join(ch if ch.isalnum() else "_" for ch in role.lower()).strip("_") or "leader"
    while "__" in base:
        base = base.replace("__", "_")
    key, i = base, 2
    while key in used:
        key, i = f"{base}_{i}", i + 1
    used.add(key)
    return key


def validate_scenario(data: Any) -> Scenario:
    """Validate plain data into a Scenario, turning pydantic's errors into one clear message."""
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario: expected a table of keys, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc)) from None


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False)[:10]:
        loc = ".".join(short_key(str(p)) for p in err["loc"]) or "scenario"
        kind = err["type"]
        msg = err["msg"]
        value = err.get("input")
        if kind == "extra_forbidden":
            parent = err["loc"][:-1]
            allowed = _allowed_keys(parent)
            lines.append(f"{loc}: unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else ""))
        elif kind == "missing":
            lines.append(f"{loc}: missing")
        else:
            shown = _show(value)
            lines.append(f"{loc}: {shown} is not allowed: {msg.removeprefix('Value error, ')}")
    more = len(exc.errors()) - 10
    if more > 0:
        lines.append(f"... and {more} more")
    return "; ".join(lines)


def short_key(key: str) -> str:
    """A key (or a dotted path) as shown in an error message: at most ~80 characters."""
    key = str(key)
    if len(key) <= _KEY_SHOWN:
        return key
    return f"{key[: _KEY_SHOWN - 3]}... ({len(key)} characters)"


def _show(value: Any) -> str:
    """A value as shown in an error message: its repr, at most 80 characters."""
    if isinstance(value, (dict, list)):
        return type(value).__name__
    try:
        shown = repr(value)
    except ValueError:  # an int of more than sys.get_int_max_str_digits() digits
        shown = f"<{type(value).__name__} too large to show>"
    return shown if len(shown) <= 80 else shown[:77] + "..."


def one_line(text: str, limit: int = 400) -> str:
    """A parser's message as one short line (PyYAML's span several lines with a snippet)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_depth(data: Any, where: str, limit: int = MAX_DEPTH, max_expanded: int = MAX_EXPANDED) -> Any:
    """Refuse tables and lists nested deeper than ``limit``, and YAML whose aliases (``*name``) make a
    table or list contain itself or expand to more than ``max_expanded`` values ("billion laughs": a
    few lines that unfold into millions). Iterative (no recursion) and linear in the parsed data."""
    height: dict[int, int] = {}
    size: dict[int, int] = {}
    active: set[int] = set()
    distinct = 0
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, (dict, list)) or (not done and id(node) in height):
            continue
        children = [c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, (dict, list))]
        if not done:
            if id(node) in active or any(id(c) in active or c is node for c in children):
                raise ScenarioError(f"{where}: an alias makes a table or list contain itself")
            active.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children)
            continue
        active.discard(id(node))
        height[id(node)] = 1 + max((height[id(c)] for c in children), default=0)
        size[id(node)] = 1 + len(node) - len(children) + sum(size[id(c)] for c in children)
        distinct += 1 + len(node) - len(children)
    if height.get(id(data), 0) > limit:
        raise ScenarioError(f"{where}: {_deepest_path(data, height)}: nested more than {limit} levels deep")
    if size.get(id(data), 0) > max(max_expanded, distinct):
        raise ScenarioError(f"{where}: its aliases (*name) expand to more than {max_expanded:,} values")
    return data


def _deepest_path(node: Any, height: dict[int, int]) -> str:
    """The first keys on the way down to the deepest value (for the message)."""
    parts: list[str] = []
    for _ in range(6):
        items = [(k, v) for k, v in (node.items() if isinstance(node, dict) else enumerate(node)) if isinstance(v, (dict, list))]
        if not items:
            break
        k, node = max(items, key=lambda kv: height.get(id(kv[1]), 0))
        parts.append(short_key(str(k)))
    return ".".join(parts) + ("..." if parts else "a value")


def read_input_file(path: str | Path, what: str) -> str:
    """The text of an input file (``what``: "scenario file", "sweep spec", ...), or a clear error:
    missing, a folder, larger than MAX_FILE_BYTES, unreadable, not UTF-8."""
    p = Path(path)
    try:
        if not p.exists():
            raise ScenarioError(f"{what} {p}: does not exist")
        if p.is_dir():
            raise ScenarioError(f"{what} {p}: is a folder, not a file")
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{what} {p}: larger than {MAX_FILE_BYTES} bytes")
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{what} {p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ScenarioError(f"{what} {p}: cannot be read ({exc.strerror or exc})") from None


def parse_toml(text: str, where: str) -> Any:
    """``tomllib.loads`` with every failure (syntax, too deep, huge numbers) as a ScenarioError."""
    if _DOTTED_RUN.search(text):
        raise ScenarioError(f"{where}: not valid here: a dotted key has more than {MAX_DEPTH} parts (nested too deeply)")
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ScenarioError(f"{where}: not valid TOML (nested more than {MAX_DEPTH} levels deep)") from None
    except ValueError as exc:  # TOMLDecodeError, or an integer of more than 4300 digits
        raise ScenarioError(f"{where}: not valid TOML ({one_line(exc)})") from None
    return check_depth(data, where)


def _shallow_yaml(text: str) -> bool:
    """Whether YAML text cannot nest deeply, so that libyaml's safe loader (many times faster on
    large files) may read it: that one recurses in C and crashes on very deep nesting, where the
    pure-Python safe loader raises RecursionError. The bound counts flow brackets, indentation and
    block indicators on a line."""
    lines = text.splitlines() or [""]
    bound = (text.count("[") + text.count("{") + max(len(l) - len(l.lstrip()) for l in lines)
             + max(l.count("-") + l.count("?") + l.count(":") for l in lines))
    return bound <= 400


def parse_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` with every failure (syntax, too deep, huge numbers, bad dates) as a ScenarioError."""
    try:
        if _shallow_yaml(text) and hasattr(yaml, "CSafeLoader"):
            data = yaml.load(text, Loader=yaml.CSafeLoader)  # noqa: S506 - libyaml's safe loader
        else:
            data = yaml.safe_load(text)
    except RecursionError:
        raise ScenarioError(f"{where}: not valid YAML (nested more than {MAX_DEPTH} levels deep)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ScenarioError(f"{where}: not valid YAML ({one_line(exc.problem or exc.context or 'error')}{at})") from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise ScenarioError(f"{where}: not valid YAML ({one_line(exc)})") from None
    return check_depth(data, where)


def _allowed_keys(loc: tuple) -> list[str]:
    """Field names of the model at ``loc`` (best effort, for error messages)."""
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return []
        if part not in fields:
            # a dict entry (district or leader name): step into the dict's value model
            continue
        ann = fields[part].annotation
        model = _inner_model(ann)
    fields = getattr(model, "model_fields", None)
    return list(fields) if fields else []


def _inner_model(ann):
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        m = _inner_model(arg)
        if m is not None:
            return m
    return None


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from a ``.toml``, ``.yaml`` or ``.yml`` file."""
    p = Path(path)
    text = read_input_file(p, "scenario file")
    return validate_scenario(parse_scenario_text(text, p.suffix.lower(), f"scenario file {p}"))


def parse_scenario_text(text: str, suffix: str, where: str = "scenario") -> Any:
    if suffix == ".toml":
        return parse_toml(text, where)
    if suffix in (".yaml", ".yml"):
        return parse_yaml(text, where)
    raise ScenarioError(f"{where}: unknown file type {suffix!r}; allowed: .toml, .yaml, .yml")


def scenario_dict(s: Scenario) -> dict:
    """Plain data of a scenario, as written to files (``None`` values omitted)."""
    return s.model_dump(mode="json", exclude_none=True)


def dump_scenario(s: Scenario, path: str | Path) -> Path:
    """Write a scenario to ``.toml`` or ``.yaml``; loading it gives the same scenario."""
    p = Path(path)
    data = scenario_dict(s)
    if p.suffix.lower() == ".toml":
        import tomli_w

        text = tomli_w.dumps(data)
    elif p.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        raise ScenarioError(f"{p}: unknown file type {p.suffix!r}; allowed: .toml, .yaml, .yml")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p


# --- dotted overrides ------------------------------------------------------------------------
def parse_override(text: str) -> tuple[str, Any]:
    """``"districts.Diamond.lead.positional_authority=true"`` -> (key, parsed value).

    Values are read as YAML scalars or flow collections (``true``, ``0.3``, ``[0.1, 0.2]``,
    ``"text"``), safely: no tags, no code.
    """
    if not isinstance(text, str):
        raise ScenarioError(f"--set {_show(text)}: expected a KEY=VALUE string, e.g. horizon_months=60")
    if "=" not in text:
        raise ScenarioError(f"--set {short_key(text)!r}: expected KEY=VALUE, e.g. horizon_months=60")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"--set {short_key(text)!r}: the key {short_key(key)!r} is not a dotted path like districts.Diamond.lead.buy_in")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    except RecursionError:
        raise ScenarioError(f"{short_key(key)}: the value is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more than 4300 digits, a bad date
        raise ScenarioError(f"{short_key(key)}: {_show(raw)} is not allowed: {one_line(exc, 200)}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(f"{short_key(key)}: {_show(raw)} is not a finite number")
    check_depth(value, short_key(key))
    return key, value


def apply_overrides(s: Scenario, overrides: list[str] | dict[str, Any]) -> Scenario:
    """Return a new scenario with dotted-key overrides applied and validated."""
    if isinstance(overrides, str):
        overrides = [overrides]
    if isinstance(overrides, dict):
        items = [(k, check_depth(v, short_key(k))) for k, v in overrides.items()]
        for k, _ in items:
            if not isinstance(k, str) or not k or any(not part for part in k.split(".")):
                raise ScenarioError(f"override key {_show(k)}: not a dotted path like districts.Diamond.lead.buy_in")
    else:
        items = [parse_override(o) for o in overrides]
    data = s.model_dump(mode="python")
    for key, value in items:
        _set_path(data, key, value)
    return validate_scenario(data)


def _set_path(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        path = ".".join(parts[: i + 1])
        if isinstance(node, list):
            node = _list_item(node, part, path)
            continue
        if not isinstance(node, dict) or part not in node:
            raise ScenarioError(f"{short_key(path)}: unknown key" + _allowed(node))
        if node[part] is None:
            node[part] = {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        idx = _index(last, key, len(node))
        node[idx] = value
        return
    if not isinstance(node, dict):
        raise ScenarioError(f"{short_key(key)}: cannot set a key inside a {type(node).__name__}")
    if last not in node and not _open_mapping(parts[:-1]):
        raise ScenarioError(f"{short_key(key)}: unknown key" + _allowed(node))
    node[last] = copy.deepcopy(value)


def _open_mapping(parent: list[str]) -> bool:
    """Mappings that accept new keys: district names, leader ids and element capacities."""
    return parent in (["districts"],) or (len(parent) == 3 and parent[0] == "districts" and parent[2] in ("leaders", "capacity"))


def _list_item(node: list, part: str, path: str):
    return node[_index(part, path, len(node))]


def _index(part: str, path: str, n: int) -> int:
    try:
        i = int(part) if part.isascii() and len(part) <= 18 else int("x")
    except ValueError:
        raise ScenarioError(f"{short_key(path)}: {short_key(part)!r} is not a list index; allowed: 0..{n - 1}") from None
    if not 0 <= i < n:
        raise ScenarioError(f"{short_key(path)}: index {i} out of range; allowed: 0..{n - 1}")
    return i


def _allowed(node: Any) -> str:
    if isinstance(node, dict) and node:
        keys = list(node)
        shown = ", ".join(str(k) for k in keys[:30]) + (", ..." if len(keys) > 30 else "")
        return f"; allowed: {shown}"
    return ""


def default_scenario() -> Scenario:
    """The four-district case as a scenario (capacities enumerated from the report), with the
    calibrated parameter defaults of ``experiments/evidence/data/calibrated.toml`` when that file exists
    (``sim.Parameters()``, the documented prior centre, otherwise)."""
    from experiments.evidence import apply_calibrated_defaults

    return apply_calibrated_defaults(scenario_from_case())


__all__ = [
    "DistrictModel",
    "LeaderModel",
    "ParametersModel",
    "ProgramModel",
    "ProviderModel",
    "Scenario",
    "ScenarioError",
    "apply_overrides",
    "default_scenario",
    "dump_scenario",
    "load_scenario",
    "parse_override",
    "scenario_dict",
    "scenario_from_case",
    "validate_scenario",
]
