"""The report's observed facts, read and validated from ``experiments/evidence/data/observed.toml``.

Everything a simulation of the four-district case is compared against: Tables 2-5 (lines 837-847,
1147-1191, 1237-1262 of ``003_5ef94897120ea9a2.txt``), the consistency of each district's changes
(Figure 2 survives only as prose, lines 813-884 and 976-978), which elements changed (lines 25-31,
768-773), element-level facts (depth, timing, substantiveness, consistency, alignment, continuity)
and Table 1 (line 528). Each entry in the file carries its source lines and whether it is inferred.

Where the report disagrees with itself the file keeps both readings: the primary one in
:attr:`ObservedTargets.tables`, the others in :attr:`ObservedTargets.alternatives` as partial
tables that replace the primary rows they name (:meth:`ObservedTargets.reading` overlays them).

The file is validated on load; a malformed file raises ``ValueError`` whose message starts with
the dotted key at fault (for example ``tables.table2.rows.Avalon: ...``).
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from sim.vocab import (
    CASE_DISTRICTS,
    TABLE_COLUMNS,
    Capacity,
    Element,
    Substantiveness,
)
from .facts import Alternative, LineRange, ObservedTargets, Provenance, _CAPACITY_TABLES, _DEMOGRAPHIC_FIELDS, _EXTRA_TABLES, _FACT_VALUES, _TABLE_ROWS, _TOP_LEVEL


def load_observed(path: str | Path | None = None) -> ObservedTargets:
    """Read and validate the observed facts.

    Args:
        path: a TOML file to read instead of the packaged ``experiments/evidence/data/observed.toml``
            (used by tests to check that a corrupted copy is rejected). Only the packaged file
            is cached.

    Raises:
        ValueError: the file is malformed; the message starts with the offending dotted key.
    """
    if path is None:
        return _load_packaged()
    return _parse(_read_toml(Path(path).read_text(encoding="utf-8"), str(path)))


@functools.cache
def _load_packaged() -> ObservedTargets:
    text = resources.files("experiments.evidence").joinpath("data/observed.toml").read_text(encoding="utf-8")
    return _parse(_read_toml(text, "experiments/evidence/data/observed.toml"))


def _read_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: not valid TOML: {exc}") from None


def parse_lines(value: Any, *, key: str, max_line: int) -> tuple[LineRange, ...]:
    """Parse a list of ``"first-last"`` or ``"line"`` strings into line ranges.

    Raises:
        ValueError: naming ``key`` when an entry is malformed or outside ``1..max_line``.
    """
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key}: expected a non-empty list of line ranges like \"780-789\"")
    out: list[LineRange] = []
    for item in value:
        parts = str(item).split("-") if isinstance(item, str) else []
        try:
            first, last = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, -1)
        except ValueError:
            first, last = 0, -1
        if not 1 <= first <= last <= max_line:
            raise ValueError(f"{key}: {item!r} is not a line range within 1-{max_line}")
        out.append((first, last))
    return tuple(out)


def _parse(raw: dict[str, Any]) -> ObservedTargets:
    unknown = set(raw) - _TOP_LEVEL
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown top-level key; allowed: {sorted(_TOP_LEVEL)}")
    meta = _table(raw, "meta", "meta")
    max_line = _int(meta.get("source_lines"), "meta.source_lines", low=1)
    n_elements = _int(meta.get("n_elements"), "meta.n_elements", low=1)
    n_cells = _int(meta.get("n_district_elements"), "meta.n_district_elements", low=1)
    if n_cells != n_elements * len(CASE_DISTRICTS):
        raise ValueError(
            f"meta.n_district_elements: {n_cells} != {n_elements} elements x {len(CASE_DISTRICTS)} districts"
        )

    def provenance(node: Mapping[str, Any], key: str) -> Provenance:
        inferred = node.get("inferred")
        if not isinstance(inferred, bool):
            raise ValueError(f"{key}.inferred: expected true or false, got {inferred!r}")
        note = node.get("note", "")
        if not isinstance(note, str):
            raise ValueError(f"{key}.note: expected a string")
        return Provenance(parse_lines(node.get("lines"), key=f"{key}.lines", max_line=max_line), inferred, note)

    prov: dict[str, Provenance] = {}

    # --- primary tables ---------------------------------------------------------------------
    raw_tables = _table(raw, "tables", "tables")
    if set(raw_tables) != set(_TABLE_ROWS):
        missing = sorted(set(_TABLE_ROWS) ^ set(raw_tables))[0]
        raise ValueError(f"tables.{missing}: expected exactly the tables {sorted(_TABLE_ROWS)}")
    tables: dict[str, dict[str, dict[str, int]]] = {}
    capacity_n: dict[str, int] | None = None
    for name in _TABLE_ROWS:
        node = raw_tables[name]
        key = f"tables.{name}"
        prov[name] = provenance(node, key)
        rows = _rows(_table(node, "rows", key), f"{key}.rows", _TABLE_ROWS[name], TABLE_COLUMNS[name])
        if name in _CAPACITY_TABLES:
            n = _rows({"n": _table(node, "n", key)}, key, ("n",), Capacity.keys())["n"]
            if sum(n.values()) != n_cells:
                raise ValueError(f"{key}.n: sums to {sum(n.values())}, expected {n_cells}")
            if capacity_n is None:
                capacity_n = n
            elif n != capacity_n:
                raise ValueError(f"{key}.n: {n} differs from the other capacity tables' {capacity_n}")
            _check_row_sums(rows, f"{key}.rows", n)
        else:
            _check_row_sums(rows, f"{key}.rows", dict.fromkeys(rows, n_elements))
        totals = _rows({"totals": _table(node, "totals", key)}, key, ("totals",), TABLE_COLUMNS[name])["totals"]
        for col in TABLE_COLUMNS[name]:
            got = sum(r[col] for r in rows.values())
            if got != totals[col]:
                raise ValueError(f"{key}.totals.{col}: is {totals[col]} but the rows sum to {got}")
        for district, meta_node in node.get("row_meta", {}).items():
            if district not in rows:
                raise ValueError(f"{key}.row_meta.{district}: not a row of {name}")
            prov[f"{name}.{district}"] = provenance(meta_node, f"{key}.row_meta.{district}")
        tables[name] = rows
    assert capacity_n is not None
    _check_cross_table(tables)

    # --- alternatives -----------------------------------------------------------------------
    alternatives: dict[str, Alternative] = {}
    for alt_name, node in _table(raw, "alternatives", "alternatives").items():
        key = f"alternatives.{alt_name}"
        p = provenance(node, key)
        if not p.note:
            raise ValueError(f"{key}.note: every alternative needs a note saying what it reads differently")
        partial: dict[str, dict[str, dict[str, int]]] = {}
        for table, rows_node in _table(node, "tables", key).items():
            tkey = f"{key}.tables.{table}"
            if table in _TABLE_ROWS:
                allowed_rows, cols = _TABLE_ROWS[table], TABLE_COLUMNS[table]
                expected = capacity_n if table in _CAPACITY_TABLES else dict.fromkeys(allowed_rows, n_elements)
            elif table in _EXTRA_TABLES:
                allowed_rows, cols = _EXTRA_TABLES[table]
                expected = dict.fromkeys(allowed_rows, n_elements)
            else:
                raise ValueError(f"{tkey}: unknown table; allowed: {sorted([*_TABLE_ROWS, *_EXTRA_TABLES])}")
            rows = _rows(rows_node, tkey, allowed_rows, cols, partial=True)
            _check_row_sums(rows, tkey, expected)
            if table not in ("table2", "table3"):  # those two are the no-change reference
                for row, values in rows.items():
                    ref = _no_change_reference(tables, table, row)
                    if values["no_change"] != ref:
                        raise ValueError(f"{tkey}.{row}.no_change: {values['no_change']} != {ref} (Tables 2/3)")
            partial[table] = rows
        if not partial:
            raise ValueError(f"{key}.tables: an alternative must replace at least one row")
        alternatives[alt_name] = Alternative(alt_name, partial, p.lines, p.inferred, p.note)

    # --- changed elements -------------------------------------------------------------------
    node = _table(raw, "changed_elements", "changed_elements")
    prov["changed_elements"] = provenance(node, "changed_elements")
    districts = _table(node, "districts", "changed_elements")
    _exact_keys(districts, "changed_elements.districts", CASE_DISTRICTS)
    changed: dict[str, tuple[Element, ...]] = {}
    for district in CASE_DISTRICTS:
        key = f"changed_elements.districts.{district}"
        keys = districts[district]
        if not isinstance(keys, list):
            raise ValueError(f"{key}: expected a list of element keys")
        elements = [Element.from_key(k, field=key) for k in keys]
        if len(set(elements)) != len(elements):
            raise ValueError(f"{key}: an element is listed twice")
        expected = n_elements - tables["table2"][district]["no_change"]
        if len(elements) != expected:
            raise ValueError(f"{key}: {len(elements)} elements, but Table 2 says {expected} changed")
        changed[district] = tuple(sorted(elements))

    # --- demographics -----------------------------------------------------------------------
    node = _table(raw, "demographics", "demographics")
    prov["demographics"] = provenance(node, "demographics")
    demo_node = _table(node, "districts", "demographics")
    _exact_keys(demo_node, "demographics.districts", CASE_DISTRICTS)
    demographics: dict[str, dict[str, int]] = {}
    for district in CASE_DISTRICTS:
        key = f"demographics.districts.{district}"
        values = _table(demo_node, district, "demographics.districts")
        _exact_keys(values, key, _DEMOGRAPHIC_FIELDS)
        row = {f: _int(values[f], f"{key}.{f}", low=0) for f in _DEMOGRAPHIC_FIELDS}
        for f in _DEMOGRAPHIC_FIELDS[1:]:
            if row[f] > 100:
                raise ValueError(f"{key}.{f}: {row[f]} is not a percentage")
        demographics[district] = row

    # --- facts ------------------------------------------------------------------------------
    facts = [_fact(item, f"facts[{i}]", provenance, changed) for i, item in enumerate(raw.get("facts", []))]

    errata = tuple(
        {"lines": parse_lines(e.get("lines"), key=f"errata[{i}].lines", max_line=max_line),
         "statement": str(e.get("statement", ""))}
        for i, e in enumerate(raw.get("errata", []))
    )

    return ObservedTargets(
        tables=tables,
        alternatives=alternatives,
        facts=facts,
        changed_elements=changed,
        demographics=demographics,
        capacity_n=capacity_n,
        provenance=prov,
        errata=errata,
    )


def _table(node: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = node.get(name)
    key = name if where == name else f"{where}.{name}"
    if not isinstance(value, dict):
        raise ValueError(f"{key}: missing or not a table")
    return value


def _int(value: Any, key: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{key}: expected an integer >= {low}, got {value!r}")
    return value


def _exact_keys(node: Mapping[str, Any], key: str, allowed: tuple[str, ...], *, partial: bool = False) -> None:
    extra = [k for k in node if k not in allowed]
    missing = [] if partial else [k for k in allowed if k not in node]
    if extra:
        raise ValueError(f"{key}.{extra[0]}: unknown key; allowed: {', '.join(allowed)}")
    if missing:
        raise ValueError(f"{key}.{missing[0]}: missing")


def _rows(
    node: Mapping[str, Any],
    key: str,
    rows: tuple[str, ...],
    cols: tuple[str, ...],
    *,
    partial: bool = False,
) -> dict[str, dict[str, int]]:
    """Validate a table of non-negative int counts; return it in vocabulary order."""
    _exact_keys(node, key, rows, partial=partial)
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        if row not in node:
            continue
        values = node[row]
        if not isinstance(values, dict):
            raise ValueError(f"{key}.{row}: expected a table of counts")
        _exact_keys(values, f"{key}.{row}", cols)
        out[row] = {c: _int(values[c], f"{key}.{row}.{c}", low=0) for c in cols}
    return out


def _check_row_sums(rows: dict[str, dict[str, int]], key: str, expected: Mapping[str, int]) -> None:
    for row, values in rows.items():
        if sum(values.values()) != expected[row]:
            raise ValueError(f"{key}.{row}: sums to {sum(values.values())}, expected {expected[row]}")


def _no_change_reference(tables: dict[str, dict[str, dict[str, int]]], table: str, row: str) -> int:
    """The no-change count a row must have: Table 2's per district, Table 3's per capacity."""
    if table in _CAPACITY_TABLES:
        return tables["table3"][row]["no_change"]
    return tables["table2"][row]["no_change"]


def _check_cross_table(tables: dict[str, dict[str, dict[str, int]]]) -> None:
    """Tables 2-5 and consistency describe the same 24 district-elements."""
    for col in Substantiveness.keys():
        t2 = sum(r[col] for r in tables["table2"].values())
        t3 = sum(r[col] for r in tables["table3"].values())
        if t2 != t3:
            raise ValueError(f"tables.table3.totals.{col}: {t3} differs from Table 2's {t2}")
    for name in ("table4", "table5", "consistency"):
        for row, values in tables[name].items():
            ref = _no_change_reference(tables, name, row)
            if values["no_change"] != ref:
                raise ValueError(
                    f"tables.{name}.rows.{row}.no_change: {values['no_change']} differs from {ref} (Tables 2/3)"
                )


def _fact(
    item: Any,
    key: str,
    provenance: Callable[[Mapping[str, Any], str], Provenance],
    changed: dict[str, tuple[Element, ...]],
) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"{key}: expected a table")
    allowed = ("kind", "district", "element", "value", "year", "statement", "lines", "inferred", "note")
    _exact_keys({k: None for k in item}, key, allowed, partial=True)
    kind = item.get("kind")
    if kind not in _FACT_VALUES:
        raise ValueError(f"{key}.kind: {kind!r} is not one of: {', '.join(_FACT_VALUES)}")
    district = item.get("district")
    if district is not None and district not in CASE_DISTRICTS:
        raise ValueError(f"{key}.district: {district!r} is not one of: {', '.join(CASE_DISTRICTS)}")
    element = Element.from_key(item["element"], field=f"{key}.element") if "element" in item else None
    vocab = _FACT_VALUES[kind]
    value = None
    if "value" in item:
        if vocab is None:
            raise ValueError(f"{key}.value: facts of kind {kind!r} take no value")
        value = vocab.from_key(item["value"], field=f"{key}.value")
    if kind in ("substantiveness", "consistency", "alignment") and value is not None:
        if district is None or element is None:
            raise ValueError(f"{key}: a coded {kind} fact needs a district and an element")
        if element not in changed[district]:
            raise ValueError(f"{key}.element: {element.key} did not change in {district}, so it has no {kind} code")
    year = _int(item["year"], f"{key}.year", low=1) if "year" in item else None
    if year is not None and year > 3:
        raise ValueError(f"{key}.year: the initiative has three years, got {year}")
    statement = item.get("statement")
    if not isinstance(statement, str) or not statement:
        raise ValueError(f"{key}.statement: missing")
    p = provenance(item, key)
    return {
        "kind": kind,
        "district": district,
        "element": element,
        "value": value,
        "year": year,
        "statement": statement,
        "lines": p.lines,
        "inferred": p.inferred,
        "note": p.note,
    }
