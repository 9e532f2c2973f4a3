"""The small ones (issue 15, class 8), each tested:

* a population's ``state`` cannot make the default output folder leave ``results/rollout``;
* what the tool writes it can read: a large valid scenario's ``scenario.toml`` is read back with
  ``--scenario``, and a scenario whose file could not be is refused before anything runs;
* a key given twice is refused, not dropped: a grid or Latin-hypercube factor (quoted dotted key
  and nested table), a factor also fixed in ``set``, a key twice in ``set`` or on the command line,
  in a what-if library;
* Ctrl-C in ``case``/``whatif``: one line, no traceback, the output folder as it was;
* ``case``/``whatif --replicates`` has an upper bound with a reason;
* ``--out`` is checked before any computation; ``--out ""`` is refused; a non-UTF-8 ``--out`` is
  refused naming the path;
* control characters (ANSI sequences) in scenario names do not reach the terminal;
* ``| head``: a closed pipe ends the command quietly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.scenario import ScenarioError

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "COHERENCE_SIM_START_METHOD"}


# --- a population's state ---------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["../../../escaped", "a/b", "..", ".hidden", "x\x1b[31m", "back\\slash", "/abs"])
def test_a_population_state_cannot_lead_the_default_output_folder_elsewhere(tmp_path, monkeypatch, capsys, state):
    import tomllib

    import tomli_w

    packaged = ROOT / "experiments" / "data" / "populations" / "FL.toml"
    data = tomllib.loads(packaged.read_text())
    data["population"]["state"] = state
    work = tmp_path / "deep" / "er" / "work"
    work.mkdir(parents=True)
    (work / "pop.toml").write_text(tomli_w.dumps(data))
    monkeypatch.chdir(work)
    code = main(["rollout", "pop.toml", "--districts", "2", "--replicates", "1", "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "population.state" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "er", "pop.toml", "work"]  # nothing made anywhere


# --- what the tool writes it can read ------------------------------------------------------------------
def _big_scenario(n: int):
    from experiments.scenario import default_scenario, scenario_dict, validate_scenario
    from sim.vocab import Element

    d = scenario_dict(default_scenario())
    district = dict(d["districts"]["Diamond"], capacity={k: "emergent" for k in Element.keys()})
    d["districts"] = {f"District {i:05d}": district for i in range(n)}
    return validate_scenario(d)


def test_a_large_valid_scenario_written_by_the_tool_is_read_back(tmp_path):
    from experiments.scenario import MAX_FILE_BYTES, dump_scenario, load_scenario

    big = _big_scenario(2_000)
    p = dump_scenario(big, tmp_path / "scenario.toml")
    assert p.stat().st_size > MAX_FILE_BYTES  # larger than the other input files may be
    assert load_scenario(p) == big


@pytest.mark.slow
def test_the_largest_scenario_written_by_the_tool_is_read_back(tmp_path):
    from experiments.scenario import dump_scenario, load_scenario

    big = _big_scenario(10_000)  # the most districts a scenario may hold
    assert load_scenario(dump_scenario(big, tmp_path / "scenario.toml")) == big


def test_a_scenario_too_large_to_read_back_is_refused_before_anything_runs(tmp_path, monkeypatch):
    import experiments.case as case
    import experiments.scenario.io as io
    from experiments.case_job import run_case_job

    monkeypatch.setattr(io, "MAX_SCENARIO_BYTES", 5_000)
    monkeypatch.setattr(case, "run_scenario", lambda *a, **k: pytest.fail("ran before refusing"))
    with pytest.raises(ScenarioError, match="could not be run again with --scenario"):
        run_case_job(tmp_path / "out", replicates=2, seed=1)
    assert not (tmp_path / "out").exists()


# --- a key given twice ---------------------------------------------------------------------------------
GRID_TWICE = {
    "grid, TOML": ("spec.toml", '[design]\nkind = "grid"\n[design.factors]\n"parameters.uptake_rate" = [0.1]\n'
                                '[design.factors.parameters]\nuptake_rate = [0.2, 0.3]\n'),
    "grid, YAML": ("spec.yaml", "design:\n  kind: grid\n  factors:\n    parameters.uptake_rate: [0.1]\n"
                                "    parameters:\n      uptake_rate: [0.2, 0.3]\n"),
    "lhs, TOML": ("spec.toml", '[design]\nkind = "lhs"\nn = 4\n[design.factors."parameters.uptake_rate"]\nlow = 0.1\nhigh = 0.2\n'
                               '[design.factors.parameters.uptake_rate]\nlow = 0.1\nhigh = 0.3\n'),
    "factor and set": ("spec.toml", '[sweep]\nset = ["horizon_months=24"]\n[design]\nkind = "grid"\n[design.factors]\nhorizon_months = [12, 36]\n'),
    "set twice": ("spec.toml", '[sweep]\nset = ["horizon_months=24", "horizon_months=36"]\n[design]\nkind = "grid"\n'
                               '[design.factors]\n"parameters.uptake_rate" = [0.1]\n'),
    "set inside a factor": ("spec.toml", '[sweep]\nset = ["districts.Diamond.lead.buy_in=0.3"]\n[design]\nkind = "grid"\n[design.factors]\n'
                                         '"districts.Diamond.lead" = [{role = "x", positional_authority = true, buy_in = 0.5}]\n'),
}


@pytest.mark.parametrize("case", list(GRID_TWICE))
def test_a_key_given_twice_in_a_spec_is_refused_not_dropped(tmp_path, capsys, case):
    name, text = GRID_TWICE[case]
    spec = tmp_path / name
    spec.write_text(text)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "given twice" in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [["case", "--replicates", "2"], ["whatif", "--replicates", "2"],
                                  ["rollout", "FL", "--districts", "2", "--replicates", "1"]])
def test_a_key_given_twice_on_the_command_line_is_refused(tmp_path, capsys, args):
    key = "provider.subsidy_share" if args[0] == "rollout" else "horizon_months"
    value = ("0.2", "0.4") if args[0] == "rollout" else ("24", "36")
    code = main([*args, "--set", f"{key}={value[0]}", "--set", f"{key}={value[1]}", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "given twice" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_key_given_twice_in_a_what_if_library_is_refused(tmp_path):
    from experiments.whatif import load_whatif_library

    lib = tmp_path / "lib.toml"
    lib.write_text('[[whatif]]\nname = "w"\nquestion = "What if?"\nset = ["horizon_months=24", "horizon_months=36"]\n')
    with pytest.raises(ValueError, match="given twice"):
        load_whatif_library(lib)


# --- Ctrl-C -------------------------------------------------------------------------------------------
SLOW_CLI = """
import os, sys, time
import experiments.execution.files as f
real = getattr(f, "_write_fd", None)
if real is not None:
    def slow(fd, data, name):
        time.sleep(30)  # a write that lasts until Ctrl-C interrupts it: no race with a loaded machine
        real(fd, data, name)
    f._write_fd = slow
from experiments.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("when", ["running", "writing"])
@pytest.mark.parametrize("cmd", ["case", "whatif"])
def test_ctrl_c_prints_one_line_and_leaves_the_folder_as_it_was(tmp_path, cmd, when):
    out = tmp_path / "out"
    base = ["case"] if cmd == "case" else ["whatif", "--set", "horizon_months=12"]
    assert main([*base, "--replicates", "2", "--out", str(out), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    reps = "3000" if when == "running" else "2"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_CLI, *base, "--replicates", reps, "--seed", "9", "--out", str(out), "--quiet"],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        if when == "writing":
            while time.monotonic() < deadline and proc.poll() is None and not any(
                    p.name.startswith(".out.staging-") for p in tmp_path.iterdir()):
                time.sleep(0.01)
            time.sleep(0.5)
        else:
            time.sleep(6)  # imported, running its replicates
        assert proc.poll() is None, "the run ended before Ctrl-C"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("\n") == 1 and "interrupted" in err and "was not changed" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


# --- bounds and checks before any work -------------------------------------------------------------------
@pytest.mark.parametrize("args", [["case"], ["whatif", "--set", "horizon_months=12"]])
def test_replicates_have_an_upper_bound_with_a_reason(tmp_path, capsys, args):
    assert main([*args, "--replicates", "1000000", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "replicates" in err and "10,000" in err and "sweep" in err


@pytest.fixture
def never_run(monkeypatch):
    """Fail the test if any run starts (what a bad --out must prevent)."""
    import experiments.case as case
    import experiments.execution.session as session

    monkeypatch.setattr(case, "run_replicates", lambda *a, **k: pytest.fail("a run started before --out was checked"))
    monkeypatch.setattr(session, "run_chunks", lambda *a, **k: pytest.fail("a run started before --out was checked"))


BAD_OUT_COMMANDS = {
    "case": ["case", "--replicates", "2", "--quiet"],
    "whatif": ["whatif", "--set", "horizon_months=12", "--replicates", "2", "--quiet"],
    "sweep": ["sweep", "experiments/data/sweeps/example_grid.toml", "--workers", "1", "--quiet"],
    "rollout": ["rollout", "FL", "--districts", "2", "--replicates", "1", "--workers", "1", "--quiet"],
    "sensitivity": ["sensitivity", "experiments/data/sensitivity/default.toml", "--workers", "1", "--quiet"],
    "calibrate": ["calibrate", "--quiet", "--no-figures"],
}


@pytest.mark.parametrize("bad", ["a file", "inside a file", "empty", "not UTF-8"])
@pytest.mark.parametrize("command", list(BAD_OUT_COMMANDS))
def test_out_is_checked_before_any_computation(tmp_path, monkeypatch, capsys, never_run, command, bad):
    monkeypatch.chdir(ROOT)
    (tmp_path / "file").write_text("x")
    out = {"a file": str(tmp_path / "file"), "inside a file": str(tmp_path / "file" / "sub"), "empty": "",
           "not UTF-8": os.fsdecode(os.fsencode(str(tmp_path)) + b"/bad\xffname")}[bad]
    with pytest.raises(SystemExit) if bad == "empty" else _nothing():
        code = main([*BAD_OUT_COMMANDS[command], "--out", out])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if bad == "empty":
        assert "--out: empty" in err
    else:
        assert code == 2 and err.startswith("coherence-sim: error:"), err
        shown = "bad\\xffname" if bad == "not UTF-8" else "file"
        assert shown in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# --- the terminal -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["case", "whatif"])
def test_control_characters_in_names_do_not_reach_the_terminal(tmp_path, capsys, cmd):
    name = "\x1b[2J\x1b]0;pwned\x07Evil\u202eeman\r"
    base = ["case", "--no-figures"] if cmd == "case" else ["whatif", "--no-figure", "--set", "horizon_months=12"]
    assert main([*base, "--replicates", "2", "--set", f"name={name!r}".replace("'", '"'), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0
    out, err = capsys.readouterr()
    for bad in ("\x1b", "\x07", "\u202e", "\r"):
        assert bad not in out and bad not in err
    assert "\\x1b[2J" in out  # shown, escaped


def test_error_messages_are_escaped_too(tmp_path, capsys):
    assert main(["case", "--scenario", str(tmp_path / "no\x1b[31mne.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[31m" in err


# --- | head -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["whatif", "--list"], ["--help"], ["case", "--replicates", "2", "--no-figures", "--quiet"]])
def test_a_closed_pipe_ends_quietly(tmp_path, args):
    """What `coherence-sim ... | head -1` does once head has gone: the reader is closed before the
    command writes."""
    if args[0] == "case":
        args = [*args, "--out", str(tmp_path / "o")]
    r, w = os.pipe()
    os.close(r)  # the reader is gone
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=ROOT, env=ENV, stdout=w,
                          stderr=subprocess.PIPE, text=True, timeout=300)
    os.close(w)
    assert proc.stderr == "", proc.stderr  # no "Broken pipe", no traceback
    assert proc.returncode in (0, 141)  # (argparse's --help exits 0 before its output is flushed)
