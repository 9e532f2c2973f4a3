"""Safe defaults, asserted: no unsafe (de)serialisation or code execution in the source, input
files parsed safely (a YAML Python tag runs nothing), runs write only inside --out and only plain
data formats, and the app listens on this machine only unless told otherwise."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sim", "experiments", "calibration")

# the formats a results folder may hold: data and reports, nothing that runs code when read
ALLOWED_SUFFIXES = {".parquet", ".json", ".jsonl", ".csv", ".toml", ".yaml", ".png", ".md", ".txt"}
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "marshal", "shelve", "joblib"}
# the strict grammar's loaders (experiments/scenario/grammar.py) are SafeLoader subclasses: checked below
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader", "StrictSafeLoader", "StrictCSafeLoader"}


# --- the source -------------------------------------------------------------------------------
def unsafe_calls(source: str, filename: str = "<source>") -> list[str]:
    """What in ``source`` could run code from data or store results as pickles. Parsed with
    ``ast``: comments and strings do not count, calls and imports do."""
    found: list[str] = []
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}  # local name -> module, for "import pickle as pk" / "from yaml import load"
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for a in node.names:
                root = a.name.split(".")[0]
                aliases[a.asname or root] = root
                if root in UNSAFE_MODULES:
                    found.append(f"{where}: import {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            for a in node.names:
                aliases[a.asname or a.name] = f"{root}.{a.name}"
            if root in UNSAFE_MODULES:
                found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            f = node.func
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            if isinstance(f, ast.Name):
                target = aliases.get(f.id, f.id)
                if f.id in ("eval", "exec") and f.id not in aliases:
                    found.append(f"{where}: {f.id}()")
                if target in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all"):
                    if not _safe_loader(node, kw):
                        found.append(f"{where}: {target}() without a safe Loader")
            elif isinstance(f, ast.Attribute):
                base = aliases.get(f.value.id, f.value.id) if isinstance(f.value, ast.Name) else None
                if base in UNSAFE_MODULES:
                    found.append(f"{where}: {base}.{f.attr}()")
                if base == "yaml" and f.attr in ("unsafe_load", "full_load", "unsafe_load_all", "full_load_all"):
                    found.append(f"{where}: yaml.{f.attr}()")
                if base == "yaml" and f.attr in ("load", "load_all") and not _safe_loader(node, kw):
                    found.append(f"{where}: yaml.{f.attr}() without a safe Loader")
                if f.attr in ("to_pickle", "read_pickle"):
                    found.append(f"{where}: .{f.attr}()")
                if f.attr == "load" and isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is True:
                    found.append(f"{where}: load(allow_pickle=True)")
            if isinstance(kw.get("shell"), ast.Constant) and kw["shell"].value is True:
                found.append(f"{where}: a subprocess with shell=True")
    return found


def _safe_loader(call: ast.Call, kw: dict) -> bool:
    loader = kw.get("Loader") or (call.args[1] if len(call.args) > 1 else None)
    name = loader.attr if isinstance(loader, ast.Attribute) else loader.id if isinstance(loader, ast.Name) else None
    return name in SAFE_YAML_LOADERS


def test_the_strict_yaml_loaders_are_safe_loaders():
    import yaml

    from experiments.scenario import grammar

    assert issubclass(grammar.StrictSafeLoader, yaml.SafeLoader)
    assert grammar.StrictCSafeLoader is None or issubclass(grammar.StrictCSafeLoader, yaml.CSafeLoader)
    for loader in (grammar.StrictSafeLoader, grammar.StrictCSafeLoader):
        if loader is not None:
            with pytest.raises(yaml.YAMLError):
                yaml.load('!!python/object/apply:os.system ["touch PWNED"]', Loader=loader)  # noqa: S506


def test_the_scanner_finds_what_it_looks_for_and_ignores_comments():
    bad = (
        "import pickle\nimport yaml\nfrom yaml import load as yl\n"
        "pickle.dumps(runs)\nyaml.load(text)\nyl(text)\nyaml.unsafe_load(text)\neval('1')\nexec('x = 1')\n"
        "df.to_pickle('r.pkl')\nnp.load('a.npy', allow_pickle=True)\nsubprocess.run('ls', shell=True)\n"
    )
    hits = unsafe_calls(bad)
    # line 1 the import, 4 pickle.dumps, 5-6 yaml.load (also by an alias), 7 unsafe_load, 8 eval,
    # 9 exec, 10 to_pickle, 11 allow_pickle, 12 shell=True; line 2-3 (imports of yaml) are fine
    assert sorted(int(h.split(":")[1]) for h in hits) == [1, 4, 5, 6, 7, 8, 9, 10, 11, 12], hits
    fine = (
        "import yaml\n# eval(x) and pickle.dumps(y) in a comment\ns = 'exec(z)'\n"
        "yaml.safe_load(t)\nyaml.load(t, Loader=yaml.SafeLoader)\nyaml.safe_dump(d)\nre.compile('x')\n"
        "model.eval()\nnp.load('a.npy')\n"
    )
    assert unsafe_calls(fine) == []


def test_no_pickles_no_unsafe_yaml_no_eval_or_exec_in_the_source():
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 20  # the scan saw the packages
    found = [hit for p in files for hit in unsafe_calls(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert found == []


# --- input files --------------------------------------------------------------------------------
EVIL = '!!python/object/apply:os.system ["touch PWNED"]'


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("case", f"horizon_months: {EVIL}\n"),  # a scenario file
        ("case", f"{EVIL}\n"),
        ("sweep", f"sweep:\n  replicates: {EVIL}\ndesign:\n  kind: grid\n"),  # a sweep spec
    ],
    ids=["scenario-value", "scenario-document", "sweep-spec"],
)
def test_a_yaml_python_tag_is_refused_and_runs_nothing(tmp_path, monkeypatch, capsys, command, text):
    from experiments.cli import main

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # os.system("touch PWNED") would create work/PWNED
    evil = tmp_path / "evil.yaml"
    evil.write_text(text, encoding="utf-8")
    if command == "case":
        argv = ["case", "--scenario", str(evil), "--replicates", "1", "--out", str(work / "out"), "--quiet", "--no-figures"]
    else:
        argv = ["sweep", str(evil), "--out", str(work / "out"), "--workers", "1", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("coherence-sim: error:") and str(evil) in err and "Traceback" not in err
    assert "python/object" in err or "tag" in err  # says what is wrong: a tag it does not accept
    assert not (work / "PWNED").exists() and not (ROOT / "PWNED").exists() and not (tmp_path / "PWNED").exists()
    assert list(work.iterdir()) == []  # refused before anything was written


def test_load_scenario_refuses_a_yaml_python_tag(tmp_path, monkeypatch):
    from experiments.scenario import ScenarioError, load_scenario

    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"name: {EVIL}\n", encoding="utf-8")
    with pytest.raises(ScenarioError):
        load_scenario(evil)
    assert not (tmp_path / "PWNED").exists()


# --- writes only inside --out, only plain formats -----------------------------------------------
def _run_isolated(tmp_path: Path, *args: str) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """Run the CLI with the current folder and HOME both empty folders of their own.

    MPLCONFIGDIR is set explicitly to a third folder (tmp_path/mplconfig, outside both): matplotlib
    keeps its font cache there. It is the only exception, and it is not in the current folder or HOME.
    XDG_* are removed from the environment, so any cache or config would otherwise land in HOME."""
    work, home, mpl = tmp_path / "work", tmp_path / "home", tmp_path / "mplconfig"
    work.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_") and k != "COHERENCE_SIM_START_METHOD"}
    env.update(HOME=str(home), MPLCONFIGDIR=str(mpl), PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return work, home, proc


def _check_results_folder(out: Path) -> list[str]:
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    odd = []
    for p in files:
        if p.name == ".lock" and p.parent == out and p.stat().st_size == 0:
            continue  # the sweep store's empty lock file (fcntl.flock): holds no data
        if p.suffix.lower() not in ALLOWED_SUFFIXES:
            odd.append(str(p.relative_to(out)))
        assert p.read_bytes()[:2] != b"\x80\x04" or p.suffix == ".parquet"  # no pickle protocol header
    return odd


def test_a_sweep_writes_only_inside_out_and_only_plain_formats(tmp_path):
    spec = tmp_path / "inputs" / "spec.toml"
    spec.parent.mkdir()
    spec.write_text(
        '[sweep]\nname = "safe"\nreplicates = 2\nchunk_size = 3\nset = ["horizon_months=12"]\n'
        '[design]\nkind = "grid"\n[design.factors]\n"parameters.uptake_rate" = [0.1, 0.3]\n',
        encoding="utf-8",
    )
    work, home, proc = _run_isolated(tmp_path, "sweep", str(spec), "--out", "out", "--workers", "1", "--quiet")
    assert "complete; 4 of 4 runs stored" in proc.stdout
    assert sorted(p.name for p in work.iterdir()) == ["out"]
    assert list(home.iterdir()) == []
    assert sorted(p.name for p in spec.parent.iterdir()) == ["spec.toml"]  # nothing beside the spec either
    assert _check_results_folder(work / "out") == []


def test_a_case_run_writes_only_inside_out_and_only_plain_formats(tmp_path):
    work, home, proc = _run_isolated(tmp_path, "case", "--replicates", "2", "--out", "case-out", "--quiet")
    assert "Wrote:" in proc.stdout
    assert sorted(p.name for p in work.iterdir()) == ["case-out"]
    assert list(home.iterdir()) == []
    out = work / "case-out"
    assert _check_results_folder(out) == []
    assert {p.suffix for p in out.iterdir()} == {".json", ".toml", ".png"}


# --- the app ------------------------------------------------------------------------------------
def test_the_app_listens_on_this_machine_only_by_default():
    from experiments.cli import build_parser

    args = build_parser().parse_args(["app"])
    assert args.host == "127.0.0.1"
    assert build_parser().parse_args(["app", "--host", "0.0.0.0"]).host == "0.0.0.0"  # only when asked
