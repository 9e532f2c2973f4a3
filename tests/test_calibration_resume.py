"""Resume and provenance of a calibration (issue 15, class 6).

``calibrate --resume`` compares every stored setting -- seed, budget, split, priors and the model's
identity -- with this call's and refuses a mismatch naming the field (it used to load the old
posterior and label it with the new seed). A damaged calibration history gives one paragraph
naming the file (it used to be a SQLAlchemy traceback, or -- with --resume -- silently deleted
and started again).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil

import pytest

from calibration.distance import load_split
from calibration.fit import Budget, calibrate
from calibration.priors import load_priors

TINY = Budget("tiny", population=20, max_generations=1, max_simulations=200, min_acceptance_rate=0.01,
              max_walltime_s=None, predictive_draws=4, scheduler="single", stored_draws=20)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("cal") / "run"
    calibrate(TINY, out, seed=5, figures=False, write_defaults=False)
    return out


def copy(done, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(done, out)
    return out


def test_resume_with_the_same_settings_loads_the_stored_calibration(done, tmp_path):
    out = copy(done, tmp_path)
    before = (out / "history_fit.db").read_bytes()
    r = calibrate(TINY, out, seed=5, figures=False, write_defaults=False, resume=True)
    assert r.seed == 5 and (out / "history_fit.db").read_bytes() == before
    assert json.loads((out / "settings.json").read_text())["seed"] == 5


@pytest.mark.parametrize(("change", "field"), [
    ({"seed": 999}, "seed"),
    ({"budget": dataclasses.replace(TINY, population=30)}, "budget.population"),
    ({"budget": dataclasses.replace(TINY, max_generations=3)}, "budget.max_generations"),
    ({"priors": "narrow"}, "priors_sha256"),
    ({"split": "other"}, "split"),
])
def test_resume_with_another_setting_is_refused_naming_it(done, tmp_path, change, field):
    out = copy(done, tmp_path)
    kw = {"budget": TINY, "seed": 5}
    kw.update(change)
    if kw.get("priors") == "narrow":  # another priors file: the same priors, one more comment line
        p = load_priors()
        kw["priors"] = dataclasses.replace(p, text=p.text + "\n# narrower now\n")
    if kw.get("split") == "other":
        sp = load_split()
        kw["split"] = dataclasses.replace(sp, sets={**sp.sets, "holdout": sp.sets["holdout"][:1]}, text=sp.text + "\n# edited\n")
    budget = kw.pop("budget")
    with pytest.raises(ValueError, match=field.replace(".", r"\.")) as info:
        calibrate(budget, out, figures=False, write_defaults=False, resume=True, **kw)
    assert "other settings" in str(info.value)


def test_resume_under_other_code_is_refused(done, tmp_path, monkeypatch):
    prov = importlib.import_module("experiments.execution.provenance")
    out = copy(done, tmp_path)
    ident = dict(prov.model_identity(), sim_sha256="0" * 16)
    monkeypatch.setattr(prov, "_model_identity", lambda: ident)
    with pytest.raises(ValueError, match=r"model\.sim_sha256"):
        calibrate(TINY, out, seed=5, figures=False, write_defaults=False, resume=True)


def test_a_calibration_made_before_settings_were_stored_is_checked_against_its_history(done, tmp_path):
    out = copy(done, tmp_path)
    (out / "settings.json").unlink()
    with pytest.raises(ValueError, match="seed: 5 there, 999 here"):
        calibrate(TINY, out, seed=999, figures=False, write_defaults=False, resume=True)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty file", "not pyabc"])
def test_a_damaged_history_is_a_clear_error_and_is_kept(done, tmp_path, capsys, damage):
    from experiments.cli import main

    out = copy(done, tmp_path)
    db = out / "history_fit.db"
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[:3000])
    elif damage == "empty file":
        db.write_bytes(b"")
    else:
        import sqlite3

        db.unlink()
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
    kept = db.read_bytes()
    with pytest.raises(ValueError, match="history_fit.db") as info:
        calibrate(TINY, out, seed=5, figures=False, write_defaults=False, resume=True)
    msg = str(info.value)
    assert ("damaged" in msg or "not a pyabc history" in msg) and db.read_bytes() == kept  # kept, not deleted
    # through the CLI (another budget: the settings check reads the history first): one paragraph
    (out / "settings.json").unlink()
    assert main(["calibrate", "--budget", "quick", "--out", str(out), "--resume", "--quiet", "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coherence-sim: error:") and "history_fit.db" in err and "Traceback" not in err
    assert err.count("\n") == 1 and db.read_bytes() == kept


def test_a_new_calibration_into_a_folder_with_a_history_is_refused_before_anything_changes(done, tmp_path):
    out = copy(done, tmp_path)
    before = (out / "settings.json").read_bytes()
    with pytest.raises(ValueError, match="continue it with --resume"):
        calibrate(TINY, out, seed=6, figures=False, write_defaults=False)
    assert (out / "settings.json").read_bytes() == before  # the record of what is there is not overwritten
