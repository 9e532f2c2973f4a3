"""A sweep's spec file (TOML or YAML): ``[sweep]`` (name, base scenario, replicates, seed, chunking,
fixed overrides) and ``[design]`` (a grid, a Latin hypercube or a table from a file), validated with
errors that name the key (see ``experiments/data/sweeps/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from ..scenario import format_validation_errors
from ..scenario import (
    ScenarioError,
    parse_scenario_text,
    read_input_file,
)



DEFAULT_CHUNK_SIZE = 100


DEFAULT_REPLICATES = 10


DEFAULT_SEED = 20201


MAX_RUNS = 100_000_000


_SHOWN_ERRORS = 5


_SPEC = ConfigDict(extra="forbid", allow_inf_nan=False)


class SweepSection(BaseModel):
    """``[sweep]``: what to run and how many times."""

    model_config = _SPEC
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    scenario: str | None = Field(default=None, min_length=1, max_length=4096)
    replicates: int = Field(default=DEFAULT_REPLICATES, ge=1, le=1_000_000, strict=True)
    seed: int = Field(default=DEFAULT_SEED, ge=0, le=2**63 - 1, strict=True)
    chunk_size: int = Field(default=DEFAULT_CHUNK_SIZE, ge=1, le=100_000, strict=True)
    set: list[str] = Field(default_factory=list, max_length=10_000)

    @field_validator("set")
    @classmethod
    def _once(cls, v):
        from ..scenario.overrides import override_keys, refuse_repeated_keys

        try:
            refuse_repeated_keys(override_keys(v), "set")
        except ScenarioError as exc:
            raise ValueError(str(exc).removeprefix("set: ")) from None
        return v


class GridDesign(BaseModel):
    """``[design] kind = "grid"``: every combination of ``[design.factors]`` key = [values]."""

    model_config = _SPEC
    kind: Literal["grid"]
    factors: dict[str, list[Any]] = Field(min_length=1)

    @field_validator("factors", mode="before")
    @classmethod
    def _flatten(cls, v):
        return _flatten_keys(v, leaf=lambda x: not isinstance(x, dict)) if isinstance(v, dict) else v

    @field_validator("factors")
    @classmethod
    def _non_empty(cls, v):
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"{k}: needs at least one value")
            for x in vals:  # a design column is int64 or float64: whole numbers beyond int64 do not fit
                if isinstance(x, int) and not isinstance(x, bool) and not -(2**63) < x < 2**63:
                    raise ValueError(f"{k}: {_short(x)} is not allowed: a whole number beyond +-2**63")
        return v


class LhsFactor(BaseModel):
    model_config = _SPEC
    low: float | None = None
    high: float | None = None
    integer: bool = False
    scale: Literal["linear", "log"] = "linear"

    @field_validator("low", "high")
    @classmethod
    def _not_huge(cls, v):
        if v is not None and abs(v) > 1e15:
            raise ValueError(f"{v!r} is beyond +-1e15")
        return v

    @model_validator(mode="after")
    def _integer_log_range(self):  # the log scale of integers tabulates every integer in the range
        if self.integer and self.scale == "log" and self.low is not None and self.high is not None \
                and self.high - self.low > 10_000_000:
            raise ValueError("integer = true with scale = \"log\": high - low is more than 10,000,000")
        return self


class LhsDesign(BaseModel):
    """``[design] kind = "lhs"``: ``n`` Latin-hypercube points over ``[design.factors."key"]`` ranges
    (``low``/``high``, optional for model parameters: their plausible range; ``integer``; ``scale``)."""

    model_config = _SPEC
    kind: Literal["lhs"]
    n: int = Field(ge=1, le=10_000_000, strict=True)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1, strict=True)
    optimization: Literal["random-cd", "lloyd"] | None = None
    factors: dict[str, LhsFactor] = Field(min_length=1)

    @field_validator("factors", mode="before")
    @classmethod
    def _flatten(cls, v):
        # a factor's table holds scalars (low, high, ...); a table holding tables is a dotted-key prefix
        return _flatten_keys(v, leaf=lambda x: not isinstance(x, dict) or not any(isinstance(y, dict) for y in x.values())) if isinstance(v, dict) else v


class FileDesign(BaseModel):
    """``[design] kind = "file"``: a CSV or Parquet table (path relative to the spec), columns = dotted keys."""

    model_config = _SPEC
    kind: Literal["file"]
    path: str = Field(min_length=1, max_length=4096)


DesignSpec = Annotated[GridDesign | LhsDesign | FileDesign, Field(discriminator="kind")]


_DESIGN_KINDS = {"grid": GridDesign, "lhs": LhsDesign, "file": FileDesign}


class SweepSpec(BaseModel):
    """A sweep spec file: ``[sweep]`` and ``[design]``."""

    model_config = _SPEC
    sweep: SweepSection = Field(default_factory=SweepSection)
    design: DesignSpec
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str | None = PrivateAttr(default=None)

    @property
    def name(self) -> str:
        return self.sweep.name or (Path(self._source).stem if self._source else "sweep")

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    def resolve(self, rel: str) -> Path:
        p = Path(rel).expanduser()
        return p if p.is_absolute() else self._base_dir / p


def _short(v: Any) -> str:
    try:
        r = repr(v)
    except ValueError:  # an int of more than 4300 digits
        return f"<{type(v).__name__} too large to show>"
    return r if len(r) <= 80 else r[:77] + "..."


def _flatten_keys(d: dict, leaf, prefix: str = "") -> dict:
    """``{"parameters": {"uptake_rate": [..]}}`` -> ``{"parameters.uptake_rate": [..]}`` (TOML's
    unquoted dotted keys make nested tables; quoted ones do not -- both mean the same factor)."""
    out: dict = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        items = {key: v} if leaf(v) else _flatten_keys(v, leaf, key)
        for kk, vv in items.items():
            if kk in out:  # e.g. "parameters.uptake_rate" = [...] and [design.factors.parameters] uptake_rate = [...]
                raise ValueError(f"{kk}: given twice (as a quoted dotted key and inside a table); give each factor once")
            out[kk] = vv
    return out


def validate_sweep_spec(data: Any, base_dir: str | Path | None = None, source: str | None = None) -> SweepSpec:
    """Validate plain data (a parsed spec file) into a SweepSpec; errors name the key and what is allowed."""
    if not isinstance(data, dict):
        raise ScenarioError(f"sweep spec: expected a table with [sweep] and [design], got {type(data).__name__}")
    try:
        spec = SweepSpec.model_validate(data, strict=True)  # no true for a number, no text for a number or boolean
    except ValidationError as exc:
        raise ScenarioError(format_validation_errors(exc, SweepSpec, "sweep spec")) from None
    spec._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    spec._source = source
    return spec


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read a sweep spec (``.toml``, ``.yaml`` or ``.yml``; parsed safely)."""
    p = Path(path)
    text = read_input_file(p, "sweep spec")
    data = parse_scenario_text(text, p.suffix.lower(), f"sweep spec {p}")
    return validate_sweep_spec(data, base_dir=p.resolve().parent, source=str(p))
