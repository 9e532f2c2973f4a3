"""Fuzzing the inputs (reliability, item 2): hypothesis-generated bad scenario files, ``--set``
overrides, sweep specs, population files, what-if libraries and what-if names.

Every bad input must end in a clear error that names the offending key (or the file):

* through the Python API (``load_scenario``, ``apply_overrides``, ``plan_sweep``,
  ``load_population``, ``make_rollout_plan``, ``load_whatif_library``, ``run_whatif``): a
  ``ValueError`` subclass of the project's (``ScenarioError``, ``PopulationError``,
  ``WhatIfLibraryError``) -- never a KeyError, TypeError, RecursionError, OverflowError ... --
  whose message names the key or the file, in one paragraph of bounded length;
* through the command line, in process (``experiments.cli.main``): exit code 2, one paragraph
  ``coherence-sim: error: ...`` on stderr naming the key, no "Traceback" anywhere, and no
  ``--out`` folder created.

Inputs are made by mutating valid ones (the default scenario, the example grid sweep spec, the
packaged California population, the packaged what-if library): a leaf replaced by a wrong-typed,
huge, negative, NaN or infinite value; a required key deleted; an unknown (unicode, emoji, very
long) key added; tables nested hundreds to hundreds of thousands of levels deep; several-MB files;
bytes that are not UTF-8; empty files, folders and missing files; text cut or garbled at random. A
mutation that happens to give a valid input is not counted (and nothing is run). Every example has
a deadline, so a hang fails the test.

Counts: each distinct bad input tried is recorded; ``test_zz_tally`` (last in the file) checks that
every one was handled and prints the figure ("N bad inputs tried, N handled, 0 tracebacks"; run
pytest with ``-s`` to see it), also written as JSON to ``$FUZZ_TALLY_FILE`` when that is set.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from experiments.cli import main
from experiments.population import POPULATION_DIR, PopulationError, load_population, make_rollout_plan
from experiments.scenario import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_SCENARIO_BYTES,
    ScenarioError,
    apply_overrides,
    default_scenario,
    load_scenario,
    scenario_dict,
    short_key,
)
from experiments.sweep import plan_sweep
from experiments.whatif import LIBRARY_PATH, WhatIfLibraryError, load_whatif_library, run_whatif

PROJECT_ERRORS = (ScenarioError, PopulationError, WhatIfLibraryError)
pytestmark = pytest.mark.timeout(300)  # a hang outside hypothesis' deadline fails too
MAX_MESSAGE = 2500  # characters: a message longer than this is not "clear"

# derandomize: the same examples on every run (CI is reproducible); deadline: a hang fails.
FUZZ = settings(
    derandomize=True,
    deadline=10_000,
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FEW = settings(FUZZ, max_examples=15)

# --- the tally --------------------------------------------------------------------------------
TALLY: dict[str, Any] = {"tried": set(), "handled": set(), "tracebacks": 0, "by_kind": {}}


def _digest(kind: str, payload: bytes | str) -> str:
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    return f"{kind}:{hashlib.sha1(data).hexdigest()}"


def _tried(kind: str, payload: bytes | str) -> str:
    d = _digest(kind, payload)
    TALLY["tried"].add(d)
    TALLY["by_kind"].setdefault(kind, set()).add(d)
    return d


def _handled(d: str) -> None:
    TALLY["handled"].add(d)


# --- checks -----------------------------------------------------------------------------------
def _check_message(msg: str, names: list[str]) -> None:
    assert msg.strip(), "empty error message"
    assert "Traceback" not in msg
    assert len(msg) <= MAX_MESSAGE, f"message of {len(msg)} characters"
    assert "\n\n" not in msg.strip(), f"more than one paragraph: {msg!r}"
    assert any(n and n in msg for n in names), f"none of {names!r} named in {msg!r}"


def api_error(fn, names: list[str], errors=PROJECT_ERRORS) -> str | None:
    """Run ``fn``; None if it accepted the input (not a bad input after all); else the message of
    the project's ValueError, checked to be clear and to name one of ``names``."""
    try:
        fn()
    except errors as exc:
        msg = str(exc)
        _check_message(msg, names)
        return msg
    except ValueError as exc:  # a ValueError, but not the project's: which one?
        pytest.fail(f"{type(exc).__name__} instead of the project's error: {exc!s:.300}")
    except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
        TALLY["tracebacks"] += 1
        pytest.fail(f"{type(exc).__name__} escaped: {exc!s:.300}")
    return None


def cli_error(argv: list[str], capsys, out: Path, names: list[str]) -> None:
    """``coherence-sim ARGV`` in process: exit 2, one paragraph on stderr naming a key, no output folder."""
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own refusal (exit 2, usage on stderr) is clear too
        rc = exc.code
    except Exception as exc:  # noqa: BLE001
        TALLY["tracebacks"] += 1
        pytest.fail(f"coherence-sim {argv[0]}: {type(exc).__name__} escaped: {exc!s:.300}")
    cap = capsys.readouterr()
    assert rc == 2, f"exit code {rc}; stderr: {cap.err[:500]}"
    assert "Traceback" not in cap.err and "Traceback" not in cap.out
    err = cap.err.strip()
    assert err.startswith("coherence-sim: error: ") or err.startswith("usage:"), err[:500]
    _check_message(err, names)
    assert not out.exists(), f"{out} was created by a refused command"


@pytest.fixture(scope="module")
def work():
    with tempfile.TemporaryDirectory(prefix="fuzz-inputs-") as d:
        yield Path(d)


_COUNTER = iter(range(10**9))


def _fresh(work: Path, suffix: str) -> Path:
    return work / f"in{next(_COUNTER):06d}{suffix}"


# "billion laughs": each line's table holds the previous one 9 times
ALIAS_BOMB = "a: &a {x1: [1], x2: [1], x3: [1], x4: [1], x5: [1], x6: [1], x7: [1], x8: [1], x9: [1]}\n" + "".join(
    f"{c}: &{c} {{" + ", ".join(f"y{j}: *{p}" for j in range(1, 10)) + "}\n" for p, c in zip("abcdef", "bcdefg")
) + "name: x\ndesign:\n  kind: grid\n  factors: *g\n"


# --- the valid inputs mutated -----------------------------------------------------------------
@lru_cache(maxsize=1)
def base_scenario():
    return default_scenario()


@lru_cache(maxsize=1)
def base_dict() -> dict:
    return scenario_dict(base_scenario())


def _leaves(node: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, path + (k,))] or [(path, node)]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, path + (i,))] or [(path, node)]
    return [(path, node)]


def _tables(node: Any, path: tuple = ()) -> list[tuple]:
    if not isinstance(node, dict):
        return []
    return [path] + [t for k, v in node.items() for t in _tables(v, path + (k,))]


def _keys(node: Any, path: tuple = ()) -> list[tuple]:
    if not isinstance(node, dict):
        return []
    return [p for k, v in node.items() for p in ([path + (k,)] + _keys(v, path + (k,)))]


def _get(d: Any, path: tuple) -> Any:
    for p in path:
        d = d[p]
    return d


def _set(d: Any, path: tuple, value: Any) -> None:
    _get(d, path[:-1])[path[-1]] = value


def _last_name(path: tuple) -> str:
    names = [str(p) for p in path if isinstance(p, str)]
    return short_key(names[-1]) if names else ""


HUGE_AND_ODD = [10**30, -(10**30), 1e308, -1e308, math.nan, math.inf, -math.inf, -1, -0.5, 10**400]


def wrong_values(value: Any) -> list[Any]:
    """Values of another type than ``value``, or numbers out of every range used."""
    if isinstance(value, bool):
        return ["maybe", 2, 0.5, [True], {"a": True}, math.nan]
    if isinstance(value, int):
        return ["twelve", 12.5, [value], {"a": 1}, *HUGE_AND_ODD]
    if isinstance(value, float):
        return ["x", [value], {"a": 1.0}, True, *HUGE_AND_ODD]
    if isinstance(value, str):
        return [123, 1.5, [value], {"a": value}, False, "x" * 20_000]
    if isinstance(value, list):
        return ["list", 3, {"a": 1}, [[[[]]]], [math.nan], [10**30]]
    return ["x", 1, [1]]


# keys: printable text, incl. unicode and emoji; no control characters, surrogates or line breaks
KEY_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
odd_keys = st.one_of(
    st.text(KEY_CHARS, min_size=1, max_size=30),
    st.sampled_from(["😀", "ключ", "名前", "horizon_months ", "Horizon_Months", "districts\u00a0", "a.b", "null", "true"]),
    st.integers(200, 20_000).map(lambda n: "k" * n),
).filter(lambda k: k.strip() != "")


def _dump(data: Any, fmt: str) -> str:
    if fmt == "toml":
        return tomli_w.dumps(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _toml_ok(value: Any) -> bool:
    return value is not None


# === 1. scenario files ========================================================================
def _check_scenario_file(work: Path, capsys, text: str | bytes, suffix: str, names: list[str], kind: str,
                         file_ok: bool = True) -> None:
    """``file_ok``: naming the file is enough (it does not parse, or cannot be read); else a key must be named."""
    p = _fresh(work, suffix)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    d = _tried(kind, (text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")) + suffix.encode())
    if file_ok:
        names = names + [p.name]
    msg = api_error(lambda: load_scenario(p), names)
    if msg is None:  # valid after all: not a bad input
        TALLY["tried"].discard(d)
        TALLY["by_kind"][kind].discard(d)
        p.unlink()
        assume(False)
    out = p.with_suffix(".out")
    cli_error(["case", "--scenario", str(p), "--replicates", "1", "--no-figures", "--quiet", "--out", str(out)],
              capsys, out, names)
    _handled(d)
    p.unlink()


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["toml", "yaml"]))
def test_scenario_file_with_a_wrong_leaf(work, capsys, data, fmt):
    d = copy.deepcopy(base_dict())
    path, value = data.draw(st.sampled_from(_leaves(d)), label="leaf")
    bad = data.draw(st.sampled_from([v for v in wrong_values(value) if fmt == "yaml" or _toml_ok(v)]), label="value")
    _set(d, path, bad)
    name = _last_name(path)
    _check_scenario_file(work, capsys, _dump(d, fmt), "." + fmt, [name], "scenario file: wrong leaf", file_ok=False)


def _required_paths() -> list[tuple]:
    """Keys whose deletion makes the default scenario invalid."""
    from experiments.scenario import validate_scenario

    out = []
    for path in _keys(base_dict()):
        d = copy.deepcopy(base_dict())
        del _get(d, path[:-1])[path[-1]]
        try:
            validate_scenario(d)
        except ScenarioError:
            out.append(path)
    return out


@lru_cache(maxsize=1)
def required_paths() -> list[tuple]:
    return _required_paths()


@FEW
@given(data=st.data(), fmt=st.sampled_from(["toml", "yaml"]))
def test_scenario_file_without_a_required_key(work, capsys, data, fmt):
    d = copy.deepcopy(base_dict())
    path = data.draw(st.sampled_from(required_paths()), label="deleted")
    del _get(d, path[:-1])[path[-1]]
    # the message names the missing key, or (for a whole-district check) its table
    names = [_last_name(path), _last_name(path[:-1])] if len(path) > 1 else [_last_name(path)]
    _check_scenario_file(work, capsys, _dump(d, fmt), "." + fmt, names, "scenario file: missing key", file_ok=False)


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["toml", "yaml"]), key=odd_keys,
       value=st.sampled_from([1, "x", True, [1, 2], {"a": 1}, math.nan, math.inf, 10**30]))
def test_scenario_file_with_an_unknown_key(work, capsys, data, fmt, key, value):
    d = copy.deepcopy(base_dict())
    # any table, but not an open mapping (district names and leader ids are free keys)
    tables = [t for t in _tables(d) if not (t == ("districts",) or (len(t) == 3 and t[0] == "districts" and t[2] == "leaders"))]
    table = data.draw(st.sampled_from(tables), label="table")
    target = _get(d, table)
    assume(key not in target)
    target[key] = value
    _check_scenario_file(work, capsys, _dump(d, fmt), "." + fmt, [short_key(key)], "scenario file: unknown key", file_ok=False)


def _nested(fmt: str, shape: str, depth: int) -> str:
    head = "name = 'deep'\n" if fmt == "toml" else "name: deep\n"
    if fmt == "toml":
        return head + {
            "array": "x = " + "[" * depth + "]" * depth + "\n",
            "inline": "x = " + "{a = " * depth + "1" + "}" * depth + "\n",
            "header": "[" + ".".join(["x"] * depth) + "]\n",
            "dotted": ".".join(["x"] * depth) + " = 1\n",
        }[shape]
    return head + {
        "array": "x: " + "[" * depth + "]" * depth + "\n",
        "inline": "x: " + "{a: " * depth + "1" + "}" * depth + "\n",
        # block nesting costs indentation: at most ~1,900 levels fit in MAX_FILE_BYTES
        "header": "x:\n" + "".join(" " * (i + 1) + "a:\n" for i in range(min(depth, 1500))),
        "dotted": "x:\n" + "".join("  " * i + "- - \n" for i in range(min(depth, 900))),
    }[shape]


@FEW
@given(fmt=st.sampled_from(["toml", "yaml"]), shape=st.sampled_from(["array", "inline", "header", "dotted"]),
       depth=st.one_of(st.integers(MAX_DEPTH + 1, 600), st.sampled_from([1000, 5000, 200_000])))
def test_deeply_nested_scenario_file(work, capsys, fmt, shape, depth):
    text = _nested(fmt, shape, depth)
    assume(len(text.encode()) <= MAX_FILE_BYTES)
    _check_scenario_file(work, capsys, text, "." + fmt, ["x", "nested", "deep"], "scenario file: deeply nested")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fmt", ["toml", "yaml"])
@pytest.mark.parametrize("what", ["just_under_the_limit", "over_the_limit", "huge_string"])
def test_very_large_scenario_file(work, capsys, fmt, what):
    """Files over the limit (MAX_SCENARIO_BYTES: 32 MB, what the largest valid scenario needs) are
    refused unread; a few MB of unknown keys are read in seconds."""
    if what == "over_the_limit":
        pad = "# padding\n" * (MAX_SCENARIO_BYTES // 10 + 1000)
        text = "name = 'big'\n" + pad if fmt == "toml" else "name: big\n" + pad
        names = ["larger than"]
    elif what == "just_under_the_limit":  # ~1.9 MB of unknown keys
        n = 100_000
        text = "".join(f"k{i}: {i}\n" if fmt == "yaml" else f"k{i} = {i}\n" for i in range(n))
        assert len(text) < MAX_FILE_BYTES
        names = ["k0", "unknown key"]
    else:  # one 1.9 MB value
        text = ("name = '" + "n" * 1_900_000 + "'\n") if fmt == "toml" else ("name: " + "n" * 1_900_000 + "\n")
        names = ["name"]
    import time

    t0 = time.perf_counter()
    _check_scenario_file(work, capsys, text, "." + fmt, names, "scenario file: very large")
    assert time.perf_counter() - t0 < 60


@FEW
@given(fmt=st.sampled_from(["toml", "yaml"]), junk=st.binary(min_size=1, max_size=8), where=st.floats(0, 1))
def test_scenario_file_not_utf8(work, capsys, fmt, junk, where):
    text = _dump(base_dict(), fmt).encode()
    bad = junk + b"\xff"  # 0xff is never UTF-8
    i = int(where * len(text))
    _check_scenario_file(work, capsys, text[:i] + bad + text[i:], "." + fmt, ["UTF-8"], "scenario file: not UTF-8")


@FUZZ
@given(fmt=st.sampled_from(["toml", "yaml"]), op=st.sampled_from(["cut", "insert", "delete", "replace"]),
       where=st.floats(0, 1), junk=st.text(st.sampled_from("[]{}=:\"'#-,.\n\t &*!|>%@`\\") | KEY_CHARS, min_size=1, max_size=6),
       span=st.integers(1, 200))
def test_garbled_scenario_file(work, capsys, fmt, op, where, junk, span):
    """Cut, inserted into, deleted from or overwritten at random: a syntax error names the file; a
    parsable file's message starts with a key of the file or of a scenario."""
    text = _dump(base_dict(), fmt)
    i = int(where * len(text))
    text = {"cut": text[:i], "insert": text[:i] + junk + text[i:], "delete": text[:i] + text[i + span:],
            "replace": text[:i] + junk + text[i + len(junk):]}[op]
    from experiments.scenario import Scenario, parse_scenario_text

    names = ["scenario"]
    try:
        parsed = parse_scenario_text(text, "." + fmt)
    except ScenarioError:
        parsed = None  # the message must then name the file (its name is added below)
    if isinstance(parsed, dict):
        names += [str(k) for k in parsed] + list(Scenario.model_fields)
        names = [short_key(n) for n in names if str(n).strip()]
    _check_scenario_file(work, capsys, text, "." + fmt, names, "scenario file: garbled")


@pytest.mark.parametrize(
    "case",
    ["empty.toml", "empty.yaml", "folder.toml", "missing.yaml", "list.yaml", "scalar.yaml", "null.yaml", "wrong.json",
     "bomb.yaml", "python_tag.yaml", "nan_everywhere.yaml", "inf_everywhere.toml", "huge_int.toml", "huge_int.yaml",
     "bad_date.yaml", "dup_key.toml", "dup_key.yaml", "int_keys.yaml", "tab.yaml", "bom.toml", "alias_cycle.yaml",
     "alias_chain.yaml", "alias_bomb.yaml"],
)
def test_odd_scenario_files(work, capsys, case):
    p = work / case
    text: str | None = {
        "empty.toml": "", "empty.yaml": "", "list.yaml": "- 1\n- 2\n", "scalar.yaml": "42\n", "null.yaml": "~\n",
        "wrong.json": "{}",
        "bomb.yaml": "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
        ) + "name: x\ndistricts: {Avalon: *i}\n",
        "python_tag.yaml": "name: !!python/object/apply:os.system ['echo hi']\n",
        "nan_everywhere.yaml": "name: x\nhorizon_months: .nan\nturbulence_after: .inf\nturbulence_by_year: [-.inf]\n",
        "inf_everywhere.toml": "name = 'x'\nhorizon_months = inf\nturbulence_after = nan\nturbulence_by_year = [-inf]\n",
        "huge_int.toml": "name = 'x'\nhorizon_months = " + "9" * 5000 + "\n",
        "huge_int.yaml": "name: x\nhorizon_months: " + "9" * 5000 + "\n",
        "bad_date.yaml": "name: x\nhorizon_months: 2020-13-45\n",
        "dup_key.toml": "name = 'x'\nname = 'y'\n",
        "dup_key.yaml": "name: x\nname: y\n",
        "int_keys.yaml": "1: 2\nname: x\ndistricts: {3: 4}\n",
        "tab.yaml": "name: x\n\tdistricts: {}\n",
        "bom.toml": "\ufeffname = 'x'\n",
        "alias_cycle.yaml": "name: x\ndistricts: &d {Avalon: *d}\n",  # a table that contains itself
        "alias_chain.yaml": "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 2000)),  # 2000 deep
        "alias_bomb.yaml": ALIAS_BOMB,  # 9**7 values from 9 lines
    }.get(case)
    if case == "folder.toml":
        p.mkdir()
    elif text is not None:
        p.write_text(text, encoding="utf-8")
    d = _tried("scenario file: odd", case)
    names = [p.name, "name", "horizon_months", "districts", "scenario", "turbulence"]
    assert api_error(lambda: load_scenario(p), names) is not None
    out = work / (case + ".out")
    cli_error(["case", "--scenario", str(p), "--replicates", "1", "--no-figures", "--quiet", "--out", str(out)], capsys, out, names)
    _handled(d)


# === 2. --set overrides ======================================================================
def _value_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    return yaml.safe_dump(v, default_flow_style=True, width=10**9).strip().removesuffix("...").strip()


bad_value_texts = st.one_of(
    st.sampled_from([
        ".nan", ".inf", "-.inf", ".NaN", "1e308", "1.0e+999", "-1.0e+999", "-1", "-0.5", "1" + "0" * 30, "9" * 5000,
        "[1, 2", "{a: 1", "{a: [}", "]", "[.nan]", "[.inf, 1]", "{kind: meteor, month: 3}", "[[[[[[]]]]]]",
        "twelve", "yes please", "null", "~", "[]", "{}", "''", "2020-13-45", "!!binary aGVsbG8=", "&a [*a]",
        "[" * 5000 + "]" * 5000, "{a: " * 300 + "1" + "}" * 300, "😀", "x" * 50_000, "&a {x: *a}",
        "[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], "
        "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e], *f]",
    ]),
    st.text(KEY_CHARS, max_size=20),
)


def _override_names(key: str) -> list[str]:
    parts = key.split(".")
    return [short_key(".".join(parts[:k])) for k in range(len(parts), 0, -1)] + [short_key(key.strip())]


def _check_override(work: Path, capsys, text: str, names: list[str], kind: str, cli: str = "case") -> None:
    d = _tried(kind, text)
    msg = api_error(lambda: apply_overrides(base_scenario(), [text]), names)
    if msg is None:
        TALLY["tried"].discard(d)
        TALLY["by_kind"][kind].discard(d)
        assume(False)
    out = _fresh(work, ".out")
    if cli == "case":
        argv = ["case", f"--set={text}", "--replicates", "1", "--no-figures", "--quiet", "--out", str(out)]
    else:
        argv = ["whatif", f"--set={text}", "--replicates", "1", "--no-figure", "--quiet", "--out", str(out)]
    cli_error(argv, capsys, out, names)
    _handled(d)


@lru_cache(maxsize=1)
def leaf_keys() -> list[str]:
    return [".".join(str(p) for p in path) for path, _ in _leaves(base_dict())]


@FUZZ
@given(data=st.data(), value=bad_value_texts, cli=st.sampled_from(["case", "whatif"]))
def test_set_a_valid_key_to_a_bad_value(work, capsys, data, value, cli):
    key = data.draw(st.sampled_from(leaf_keys()), label="key")
    _check_override(work, capsys, f"{key}={value}", _override_names(key), "--set: bad value", cli)


@FUZZ
@given(data=st.data(), tail=st.lists(odd_keys, min_size=1, max_size=3), value=st.sampled_from(["1", "x", "[1]", "{a: 1}", ".nan"]))
def test_set_an_unknown_key(work, capsys, data, tail, value):
    prefixes = sorted({".".join(str(p) for p in path[:k]) for path, _ in _leaves(base_dict()) for k in range(0, len(path))})
    prefix = data.draw(st.sampled_from(prefixes), label="prefix")
    tail = [t.replace("=", "_").replace(".", "_") for t in tail]
    assume(all(t.strip() for t in tail))
    key = ".".join(([prefix] if prefix else []) + tail)
    _check_override(work, capsys, f"{key}={value}", _override_names(key.strip()), "--set: unknown key")


@FEW
@given(text=st.one_of(
    st.text(KEY_CHARS, min_size=1, max_size=40).filter(lambda t: "=" not in t),
    st.sampled_from(["horizon_months", "=3", "districts..lead=1", ".=1", "a.=1", " =1", "districts.Diamond.=x",
                     "turbulence_by_year.99999999999999999999999=1", "turbulence_by_year.-1=0.1", "turbulence_by_year.x=1",
                     "turbulence_by_year.١=1", "name.first=x", "parameters.uptake_rate.x=1", "k" * 100_000 + "=1"]),
))
def test_set_malformed(work, capsys, text):
    key = text.split("=", 1)[0]
    names = _override_names(key) + [short_key(text), "KEY=VALUE", "dotted path"]
    _check_override(work, capsys, text, [n for n in names if n.strip()], "--set: malformed")


@FEW
@given(key=st.sampled_from(["provider.subsidy_share", "provider.meetings_per_month", "provider.breakdown_month",
                            "provider.kind", "provider.trust", "parameters.uptake_rate", "parameters.ec_leader_voice",
                            "provider.nope", "parameters.nope", "nope", "provider.😀"]),
       value=st.sampled_from(["[1]", "{a: 1}", "x", ".nan", "-1", "9" * 400, "1e308", "-1e308", "[1, 2"]))
def test_rollout_set_overrides(work, capsys, key, value):
    from experiments.scenario import parse_override

    text = f"{key}={value}"
    d = _tried("rollout --set", text)
    names = _override_names(key)

    def api():
        k, v = parse_override(text)
        head, _, name = k.partition(".")
        if head == "provider":
            make_rollout_plan("CA", provider={"kind": "pl_provider", name: v}, n=1, replicates=1)
        elif head == "parameters":
            make_rollout_plan("CA", params={name: v}, n=1, replicates=1)
        else:
            raise ScenarioError(f"--set {text!r}: rollouts take provider.KEY or parameters.NAME keys")

    if api_error(api, names + ["rollouts take"], errors=(*PROJECT_ERRORS, ValueError)) is None:
        TALLY["tried"].discard(d)
        TALLY["by_kind"]["rollout --set"].discard(d)
        assume(False)
    out = _fresh(work, ".out")
    cli_error(["rollout", "CA", f"--set={text}", "--districts", "1", "--replicates", "1", "--quiet", "--out", str(out)],
              capsys, out, names + ["rollouts take"])
    _handled(d)


# === 3. sweep specs, population files, what-if libraries and names ============================
@lru_cache(maxsize=1)
def grid_spec() -> dict:
    return {"sweep": {"name": "fuzz", "replicates": 2, "seed": 1, "chunk_size": 10, "set": ["horizon_months=36"]},
            "design": {"kind": "grid", "factors": {"parameters.uptake_rate": [0.05, 0.15],
                                                    "districts.Diamond.lead.positional_authority": [False, True]}}}


def _check_spec(work: Path, capsys, text: str, suffix: str, names: list[str], kind: str, file_ok: bool = True) -> None:
    p = _fresh(work, suffix)
    p.write_text(text, encoding="utf-8")
    d = _tried(kind, text + suffix)
    names = names + [p.name] if file_ok else names
    # experiments.sweep.design refuses some designs with a plain ValueError naming the factor: accepted too
    if api_error(lambda: plan_sweep(p), names, errors=(*PROJECT_ERRORS, ValueError)) is None:
        TALLY["tried"].discard(d)
        TALLY["by_kind"][kind].discard(d)
        assume(False)
    out = p.with_suffix(".out")
    cli_error(["sweep", str(p), "--out", str(out), "--workers", "1", "--quiet"], capsys, out, names)
    _handled(d)


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["toml", "yaml"]), mutation=st.sampled_from(["leaf", "delete", "unknown", "factor", "lhs"]))
def test_bad_sweep_spec(work, capsys, data, fmt, mutation):
    d = copy.deepcopy(grid_spec())
    if mutation == "leaf":
        path, value = data.draw(st.sampled_from(_leaves(d)), label="leaf")
        bad = data.draw(st.sampled_from([v for v in wrong_values(value) if v is not None]), label="value")
        _set(d, path, bad)
        names = [_last_name(path)]
    elif mutation == "delete":
        path = data.draw(st.sampled_from([("design", "kind"), ("design", "factors"), ("design",)]), label="deleted")
        del _get(d, path[:-1])[path[-1]]
        names = [_last_name(path)]
    elif mutation == "unknown":
        table = data.draw(st.sampled_from([(), ("sweep",), ("design",)]), label="table")
        key = data.draw(odd_keys, label="key")
        assume(key not in _get(d, table) and key != "kind")
        _get(d, table)[key] = data.draw(st.sampled_from([1, "x", [1], {"a": 1}, math.nan]), label="value")
        names = [short_key(key)]
    elif mutation == "lhs":  # a Latin hypercube: bad n, or bad, huge, inverted or NaN ranges
        n = data.draw(st.sampled_from([0, -1, 10**30, 3, 1.5, "3"]), label="n")
        edge = st.sampled_from([None, 0, 1, -1, 2, 1e12, -1e300, 1e300, 10**30, math.nan, math.inf, "x"])
        factor = {"low": data.draw(edge, label="low"), "high": data.draw(edge, label="high"),
                  "integer": data.draw(st.sampled_from([True, False, "yes", 2]), label="integer"),
                  "scale": data.draw(st.sampled_from(["linear", "log", "exp"]), label="scale")}
        key = data.draw(st.sampled_from(["districts.Avalon.students", "parameters.uptake_rate", "nope"]), label="factor")
        d["design"] = {"kind": "lhs", "n": n, "factors": {key: {k: v for k, v in factor.items() if v is not None}}}
        names = ["n", "low", "high", "integer", "scale", key.split(".")[-1]]
    else:  # a design factor: unknown key, or values out of range / of the wrong type
        key = data.draw(st.sampled_from(["parameters.uptake_rate", "parameters.uptke_rate", "districts.Atlantis.students",
                                         "horizon_months", "districts.Diamond.lead.buy_in", "😀"]), label="factor")
        values = data.draw(st.sampled_from([[], [math.nan], [math.inf], [10**30], [-1], ["x"], [[1]], [{"a": 1}]]), label="values")
        d["design"]["factors"] = {key: values}
        names = [key.split(".")[-1], key]
    _check_spec(work, capsys, _dump(d, fmt), "." + fmt, names, "sweep spec", file_ok=False)


@FEW
@given(fmt=st.sampled_from(["toml", "yaml"]), shape=st.sampled_from(["array", "inline", "header", "dotted"]),
       depth=st.sampled_from([MAX_DEPTH + 1, 300, 3000, 100_000]))
def test_deeply_nested_sweep_spec(work, capsys, fmt, shape, depth):
    text = _nested(fmt, shape, depth).replace("name = 'deep'", "[design]\nkind = 'grid'").replace("name: deep", "design: {kind: grid}")
    assume(len(text.encode()) <= MAX_FILE_BYTES)
    _check_spec(work, capsys, text, "." + fmt, ["x", "nested", "deep", "design", "sweep spec"], "sweep spec: deeply nested")


@pytest.mark.parametrize("case", ["alias_bomb", "alias_cycle", "alias_chain", "not_utf8", "folder", "empty"])
def test_odd_sweep_specs(work, capsys, case):
    p = work / f"spec_{case}.yaml"
    text = {"alias_bomb": ALIAS_BOMB.replace("name: x\n", ""),
            "alias_cycle": "design: &d {kind: grid, factors: {x: [*d]}}\n",
            "alias_chain": "design: {kind: grid}\na0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 2000)),
            "not_utf8": b"design: {kind: grid}\n\xff\n", "empty": ""}.get(case)
    if case == "folder":
        p.mkdir()
    elif isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    d = _tried("sweep spec: odd", case)
    names = [p.name, "sweep spec"]
    assert api_error(lambda: plan_sweep(p), names) is not None
    out = work / f"spec_{case}.out"
    cli_error(["sweep", str(p), "--out", str(out), "--workers", "1", "--quiet"], capsys, out, names)
    _handled(d)


@lru_cache(maxsize=1)
def ca_population() -> dict:
    import tomllib

    return tomllib.loads((POPULATION_DIR / "CA.toml").read_text(encoding="utf-8"))


def _check_population(work: Path, capsys, text: str | bytes, names: list[str], kind: str) -> None:
    """A key must be named (every population message starts with the file's name: not enough)."""
    p = _fresh(work, ".toml")
    p.write_bytes(text) if isinstance(text, bytes) else p.write_text(text, encoding="utf-8")
    d = _tried(kind, text)
    if api_error(lambda: load_population(p), names) is None:
        TALLY["tried"].discard(d)
        TALLY["by_kind"][kind].discard(d)
        assume(False)
    out = p.with_suffix(".out")
    cli_error(["rollout", str(p), "--districts", "1", "--replicates", "1", "--quiet", "--out", str(out)], capsys, out, names)
    _handled(d)


@FUZZ
@given(data=st.data(), mutation=st.sampled_from(["leaf", "delete", "unknown"]))
def test_bad_population_file(work, capsys, data, mutation):
    d = copy.deepcopy(ca_population())
    checked = {k: v for k, v in d.items() if k != "sources"}
    if mutation == "leaf":
        path, value = data.draw(st.sampled_from([l for l in _leaves(checked) if l[0][0] != "population" or l[0][1] != "name"]), label="leaf")
        bad = data.draw(st.sampled_from([v for v in wrong_values(value) if v is not None]), label="value")
        _set(d, path, bad)
        names = [_last_name(path)]
    elif mutation == "delete":
        path = data.draw(st.sampled_from([p for p in _keys(checked) if p[-1] not in ("name", "seed")]), label="deleted")
        del _get(d, path[:-1])[path[-1]]
        names = [_last_name(path)]
    else:
        table = data.draw(st.sampled_from([()] + [(k,) for k in checked if k != "population"]), label="table")
        key = data.draw(odd_keys, label="key")
        assume(key not in _get(d, table))
        _get(d, table)[key] = 1
        names = [short_key(key)]
    _check_population(work, capsys, tomli_w.dumps(d), names, "population file")


@pytest.mark.parametrize("case", ["empty", "folder", "missing", "not_utf8", "garbled", "deep", "dotted", "huge_int", "too_big"])
def test_odd_population_files(work, capsys, case):
    p = work / f"pop_{case}.toml"
    text = {
        "empty": "", "not_utf8": b"[population]\nstate = '\xff'\n", "garbled": "[population\nstate = 'X'\n",
        "deep": "x = " + "[" * 100_000 + "]" * 100_000, "dotted": ".".join(["a"] * 300_000) + " = 1\n",
        "huge_int": "[population]\nn_districts = " + "9" * 5000 + "\n", "too_big": "# x\n" * 600_000,
    }.get(case)
    if case == "folder":
        p.mkdir()
    elif isinstance(text, bytes):
        p.write_bytes(text)
    elif text is not None:
        p.write_text(text, encoding="utf-8")
    d = _tried("population file: odd", case)
    names = [p.name]
    assert api_error(lambda: load_population(p), names) is not None
    out = work / f"pop_{case}.out"
    cli_error(["rollout", str(p), "--districts", "1", "--replicates", "1", "--quiet", "--out", str(out)], capsys, out, names)
    _handled(d)


@FEW
@given(n=st.sampled_from([10**30, 10**7, 2**63, -5, 0]), what=st.sampled_from(["n_districts", "--districts", "--replicates"]))
def test_rollout_sizes_are_bounded(work, capsys, n, what):
    """A rollout too large to run (10**30 districts) is refused at once, not started."""
    d = copy.deepcopy(ca_population())
    argv_extra = ["--districts", "1", "--replicates", "1"]
    if what == "n_districts":
        d["population"]["n_districts"] = n
        argv_extra = ["--replicates", "1"]
        names = ["n_districts"]
    elif what == "--districts":
        argv_extra = ["--districts", str(n), "--replicates", "1"]
        names = ["districts"]
    else:
        argv_extra = ["--districts", "1000", "--replicates", str(n)]  # >= 1000 x 10**7 runs: too many
        names = ["replicates", "districts x replicates"]
    p = _fresh(work, ".toml")
    p.write_text(tomli_w.dumps(d), encoding="utf-8")
    dg = _tried("rollout size", f"{what}={n}")
    if what == "n_districts":
        assert api_error(lambda: load_population(p), names) is not None
    elif n >= 1:
        kw = {"n": n, "replicates": 1} if what == "--districts" else {"n": 1000, "replicates": n}
        assert api_error(lambda: make_rollout_plan(p, **kw), names) is not None
    out = p.with_suffix(".out")
    cli_error(["rollout", str(p), *argv_extra, "--quiet", "--out", str(out)], capsys, out, names + ["must be >= 1"])
    _handled(dg)


@lru_cache(maxsize=1)
def library_text() -> str:
    return LIBRARY_PATH.read_text(encoding="utf-8")


@FUZZ
@given(data=st.data(), mutation=st.sampled_from(["leaf", "delete", "unknown", "garble"]))
def test_bad_whatif_library(work, capsys, data, mutation):
    import tomllib

    lib = tomllib.loads(library_text())
    entries = lib["whatif"]
    i = data.draw(st.integers(0, len(entries) - 1), label="entry")
    e = entries[i]
    if mutation == "leaf":
        key = data.draw(st.sampled_from(sorted(e)), label="key")
        e[key] = data.draw(st.sampled_from([v for v in wrong_values(e[key]) if v is not None]), label="value")
        names = [key]
    elif mutation == "delete":
        key = data.draw(st.sampled_from(["name", "question", "set"]), label="deleted")
        del e[key]
        names = [key]
    elif mutation == "unknown":
        key = data.draw(odd_keys, label="key")
        assume(key not in e)
        e[key] = "x"
        names = [short_key(key)]
    text = tomli_w.dumps(lib)
    if mutation == "garble":
        j = data.draw(st.integers(0, len(text) - 1), label="at")
        text = text[:j] + data.draw(st.sampled_from(["[[", "= =", "\"", "{", "]]\n["]), label="junk") + text[j:]
        names = ["what-if library", "whatif["]
    p = _fresh(work, ".toml")
    p.write_text(text, encoding="utf-8")
    d = _tried("what-if library", text)
    if api_error(lambda: load_whatif_library(p), names + [p.name]) is None:
        TALLY["tried"].discard(d)
        TALLY["by_kind"]["what-if library"].discard(d)
        assume(False)
    _handled(d)


@FEW
@given(name=st.one_of(st.text(KEY_CHARS, min_size=1, max_size=30), st.sampled_from(["😀", "DIAMOND_KEEPS_PREK", " later_horizon", "x" * 10_000])))
def test_unknown_whatif_name(work, capsys, name):
    assume(name not in load_whatif_library())
    d = _tried("what-if name", name)
    shown = short_key(repr(name))
    # get_whatif's documented error for an unknown name is a plain ValueError listing the names
    assert api_error(lambda: run_whatif(None, (), name=name, replicates=1), [shown], errors=(*PROJECT_ERRORS, ValueError)) is not None
    out = _fresh(work, ".out")
    cli_error(["whatif", f"--whatif={name}", "--replicates", "1", "--quiet", "--no-figure", "--out", str(out)], capsys, out, [shown])
    _handled(d)


# === the figure ==============================================================================
def test_zz_tally():
    """Last in the file: every bad input tried was handled, with no traceback."""
    tried, handled = len(TALLY["tried"]), len(TALLY["handled"] & TALLY["tried"])
    by_kind = {k: len(v) for k, v in sorted(TALLY["by_kind"].items())}
    line = f"{tried} bad inputs tried, {handled} handled, {TALLY['tracebacks']} tracebacks"
    print("\n" + line + "\n" + "\n".join(f"  {k}: {n}" for k, n in by_kind.items()))
    if os.environ.get("FUZZ_TALLY_FILE"):
        Path(os.environ["FUZZ_TALLY_FILE"]).write_text(json.dumps({"tried": tried, "handled": handled,
                                                                   "tracebacks": TALLY["tracebacks"], "by_kind": by_kind}, indent=1))
    assert TALLY["tracebacks"] == 0
    assert handled == tried
