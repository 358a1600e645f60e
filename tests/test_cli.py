"""The command line as a user meets it: exit codes, messages, outputs written whole."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wattfolio.gpu.backend import cuda_available

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "instances" / "tiny.toml")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wattfolio.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_validate_ok_and_bad(tmp_path):
    ok = run("validate", TINY)
    assert ok.returncode == 0 and ok.stdout.startswith("OK:")
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(TINY).read_text().replace("capex_usd_per_mw = ", "capex_usd_per_mw = -", 1))
    r = run("validate", str(bad))
    assert r.returncode == 2
    assert "capex_usd_per_mw: must be in (0, 1e13], got -" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def tiny_plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    r = run("plan", TINY, "--out", str(out), "--scenarios", "400", "--seed", "11")
    assert r.returncode == 0, r.stderr
    return out


def test_plan_writes_everything(tiny_plan):
    doc = json.loads((tiny_plan / "plan.json").read_text())
    for key in ("schema", "instance_sha256", "decisions", "financing", "stats", "solver",
                "scenarios", "seed", "backend", "versions"):
        assert key in doc
    assert doc["scenarios"] == 400 and doc["seed"] == 11
    samples = np.load(tiny_plan / "npv_samples.npy")
    assert samples.shape == (400,)
    assert doc["stats"]["expected_npv_usd"] == pytest.approx(samples.mean(), rel=1e-12)
    csv = (tiny_plan / "decisions.csv").read_text().splitlines()
    assert csv[0].startswith("site,action,start,mw,lease")
    assert len(csv) == 1 + len(doc["decisions"])
    assert not [p for p in tiny_plan.iterdir() if p.name.startswith(".wattfolio-")]


def test_evaluate_reproduces_in_sample_stats_exactly(tiny_plan, tmp_path):
    doc = json.loads((tiny_plan / "plan.json").read_text())
    samples = tmp_path / "s.npy"
    r = run("evaluate", TINY, "--plan", str(tiny_plan / "plan.json"), "--seed", "11",
            "--scenarios", "400", "--json", "--samples", str(samples))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stats"] == doc["stats"]
    assert np.array_equal(np.load(samples), np.load(tiny_plan / "npv_samples.npy"))


def test_evaluate_default_seed_is_out_of_sample(tiny_plan):
    doc = json.loads((tiny_plan / "plan.json").read_text())
    r = run("evaluate", TINY, "--plan", str(tiny_plan / "plan.json"), "--scenarios", "400", "--json")
    out = json.loads(r.stdout)
    assert out["seed"] != doc["seed"]
    assert out["stats"]["expected_npv_usd"] != doc["stats"]["expected_npv_usd"]
    # same plan, fresh scenarios: the means agree within their standard errors
    a, b = out["stats"], doc["stats"]
    se = (a["expected_npv_se_usd"] ** 2 + b["expected_npv_se_usd"] ** 2) ** 0.5
    assert abs(a["expected_npv_usd"] - b["expected_npv_usd"]) < 5 * se


def test_bad_plan_exits_2_and_writes_nothing(tmp_path):
    plan = tmp_path / "p.json"
    plan.write_text(json.dumps({"schema": 1, "decisions": [
        {"site": "nowhere", "action": "sell", "start": "2026-01"}], "financing": []}))
    samples = tmp_path / "s.npy"
    r = run("evaluate", TINY, "--plan", str(plan), "--samples", str(samples))
    assert r.returncode == 2
    assert "decisions[0].site: unknown site 'nowhere'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not samples.exists()


def test_bad_arguments_exit_2():
    r = run("evaluate", TINY, "--plan", "x.json", "--scenarios", "-5")
    assert r.returncode == 2 and "--scenarios" in r.stderr and "-5" in r.stderr
    r = run("plan", TINY, "--out", "/tmp/never", "--hours", "1000")
    assert r.returncode == 2 and "--hours: must be in 1..730, got 1000" in r.stderr


@pytest.mark.skipif(cuda_available(), reason="checks the message given when CUDA is absent")
def test_cupy_backend_without_cuda_exits_2(tiny_plan):
    r = run("evaluate", TINY, "--plan", str(tiny_plan / "plan.json"), "--backend", "cupy")
    assert r.returncode == 2 and "cupy" in r.stderr.lower() and "Traceback" not in r.stderr


def test_unreachable_floor_exits_3(tmp_path):
    text = Path(TINY).read_text()
    inst = tmp_path / "tight.toml"
    assert "[risk]" in text
    inst.write_text(text.replace("[risk]", "[risk]\ncvar_floor_usd = 1e12", 1))
    out = tmp_path / "out"
    r = run("plan", str(inst), "--out", str(out), "--scenarios", "200")
    assert r.returncode == 3
    assert "unreachable" in r.stdout + r.stderr
    assert not (out / "plan.json").exists()


def test_synth_writes_valid_instance(tmp_path):
    f = tmp_path / "s.toml"
    assert run("synth", "--sites", "5", "--seed", "3", "--out", str(f)).returncode == 0
    assert run("validate", str(f)).returncode == 0


def test_time_limit_reports_honestly(tmp_path):
    """A limit too short to find any plan: exit 3 saying so, nothing written. A usable
    limit: a plan, and when the limit cut the search short, status and gap say so."""
    vivo = str(ROOT / "instances" / "vivopower.toml")
    none = tmp_path / "none"
    r = run("plan", vivo, "--out", str(none), "--scenarios", "300", "--time-limit", "1e-6")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "time limit" in (r.stdout + r.stderr).replace("\n", " ")
    assert not (none / "plan.json").exists()

    some = tmp_path / "some"
    r = run("plan", vivo, "--out", str(some), "--scenarios", "300", "--time-limit", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    solver = json.loads((some / "plan.json").read_text())["solver"]
    assert solver["status"] in ("optimal", "time_limit")
    if solver["status"] == "time_limit":
        assert solver["gap"] > 0 and "warning" in r.stdout + r.stderr
    else:
        assert solver["gap"] <= 1e-4 + 1e-12


def test_contradictory_fix_and_forbid_exit_2(tmp_path):
    out = tmp_path / "o"
    r = run("plan", TINY, "--out", str(out), "--fix", "mine=sell", "--forbid", "mine=sell")
    assert r.returncode == 2 and "mine=sell" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_fix_is_honoured_and_compared(tmp_path):
    out = tmp_path / "o"
    r = run("plan", TINY, "--out", str(out), "--scenarios", "300", "--fix", "mine=sell@2026-07",
            "--quality", "none")
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "plan.json").read_text())  # strict JSON: no NaN
    assert {"site": "mine", "action": "sell", "start": "2026-07"} in doc["decisions"]
    given_up = doc["whatif"]
    assert given_up["fixes"] == ["fix mine=sell@2026-07"]
    # the free plan is optimal on the same scenarios, so fixing can only cost
    assert given_up["expected_npv_given_up_usd"] >= -1e-6 * abs(doc["stats"]["expected_npv_usd"])


def test_frontier_command_is_monotone(tmp_path):
    out = tmp_path / "f"
    r = run("frontier", TINY, "--out", str(out), "--scenarios", "300", "--points", "4")
    assert r.returncode == 0, r.stderr
    rows = json.loads((out / "frontier.json").read_text())["points"]
    svg = (out / "frontier.svg").read_text()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and "Risk-return frontier" in svg
    assert len(rows) >= 2
    for a, b in zip(rows, rows[1:]):
        assert b["floor_usd"] >= a["floor_usd"]
        assert b["expected_npv_usd"] <= a["expected_npv_usd"] * (1 + 1e-4) + 1.0
        assert b["cvar_usd"] >= b["floor_usd"] - 1e-6 * abs(b["floor_usd"]) - 1.0
