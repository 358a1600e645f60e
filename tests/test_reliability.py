"""Reliability edges, end to end: a run that cannot fit exits 2 with the estimate before
allocating; Ctrl-C exits 130 with one line and nothing written; two runs into one --out
never mix their files; non-finite engine numbers and a solved plan that breaks a rule
never reach a file; the API stops the solver by default."""
from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import wattfolio as wf
from wattfolio.errors import DEFAULT_TIME_LIMIT_S, InstanceError, PlanInfeasible
from wattfolio.instance.load import load_instance
from wattfolio.outputs import MANIFEST
from wattfolio.planning.catalog import build_catalog
from wattfolio.planning.limits import check_value_table
from wattfolio.planning.valuation import value_actions

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "instances" / "tiny.toml")


def _default_sigint() -> None:
    # a test run launched in the background inherits SIGINT ignored, and so would the
    # child (a process keeps an ignored SIGINT ignored, as it should): give it the default
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "wattfolio.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, preexec_fn=_default_sigint)


def test_too_many_scenarios_exit_2_with_the_estimate(tmp_path):
    t0 = time.perf_counter()
    p = _cli("plan", TINY, "--out", tmp_path / "out", "--scenarios", "1000000000")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "needs ~" in err and "GiB" in err and "scenarios fit" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
    assert time.perf_counter() - t0 < 60          # refused before any valuation


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    p = _cli("plan", TINY, "--out", out, "--scenarios", "100000", "--quality", "none", "--workers", "1")
    time.sleep(3.0)                              # inside the valuation or the solve
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    lines = [ln for ln in err.splitlines() if "interrupted" in ln]
    assert len(lines) == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())
    assert not list(tmp_path.glob(".out.wattfolio-tmp-*"))


def test_two_runs_into_one_out_never_mix(tmp_path):
    out = tmp_path / "out"
    runs = [_cli("plan", TINY, "--out", out, "--scenarios", "300", "--quality", "none", "--seed", str(s))
            for s in (1, 2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in runs]
    codes = sorted(c for c, _ in results)
    # either the lock kept one out (exit 2, saying why), or they ran one after the other
    assert codes in ([0, 2], [0, 0]), results
    if codes == [0, 2]:
        assert any("another wattfolio run" in e for c, e in results if c == 2)
    man = json.loads((out / MANIFEST).read_text())
    assert all((out / n).is_file() for n in man["files"])
    seed = json.loads((out / "plan.json").read_text())["seed"]
    assert seed in (1, 2)
    assert not list(tmp_path.glob(".out.wattfolio-tmp-*"))


def test_non_finite_values_are_refused_naming_the_keys():
    inst = load_instance(TINY).with_plan(scenarios=50)
    acts = build_catalog(inst)
    vt = value_actions(inst, acts, backend="numpy")
    vt.npv[0, 7] = np.nan
    with pytest.raises(InstanceError) as err:
        check_value_table(inst, acts, vt)
    text = str(err.value)
    assert acts[0].label in text and f"sites[id={acts[0].site!r}]" in text


def test_a_plan_that_breaks_a_rule_is_not_written():
    from wattfolio.run import _check_rules

    inst = load_instance(TINY)
    conv = next(a for a in build_catalog(inst) if a.kind == "convert")
    with pytest.raises(PlanInfeasible) as err:
        _check_rules(inst, [conv], [1e9], [])     # far above the site's hpc.max_mw
    assert err.value.reason == "rules" and "not written" in str(err.value)


def test_api_stops_the_solver_by_default():
    assert inspect.signature(wf.plan).parameters["time_limit"].default == DEFAULT_TIME_LIMIT_S > 0
