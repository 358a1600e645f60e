"""An analyst's script as a test: plan -> statistics -> frontier -> sensitivity -> report
from Python, each checked for types, labels and values that agree with plan.json; the
Parquet files round-trip; `--out` at an existing file is refused before any valuation."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import wattfolio as wf
from wattfolio.run import write_plan_outputs

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny.toml"


@pytest.fixture(scope="module")
def result():
    return wf.plan(TINY, scenarios=300, backend="numpy")


def test_plan_returns_labelled_frames(result):
    d = result.decisions
    assert list(d.columns) == ["site", "action", "start", "mw", "lease"]
    assert isinstance(d["start"].dtype, pd.PeriodDtype) and d["mw"].dtype == np.float64
    assert str(d["site"].dtype) == "string"
    f = result.financing
    assert list(f.columns) == ["instrument", "amount_usd", "start"]
    assert isinstance(f["start"].dtype, pd.PeriodDtype) and f["amount_usd"].dtype == np.float64
    doc = result.document
    # the frames carry what plan.json carries
    assert [str(p) for p in d["start"]] == [x["start"] for x in doc["decisions"]]
    assert f["amount_usd"].sum() == pytest.approx(sum(x["amount_usd"] for x in doc["financing"]))
    conv = d[d["action"] == "convert"]
    assert conv["mw"].tolist() == pytest.approx([x["mw"] for x in doc["decisions"] if "mw" in x])


def test_xarray_views(result):
    npv = result.npv
    assert isinstance(npv, xr.DataArray) and npv.dims == ("scenario",) and npv.size == 300
    assert float(npv.mean()) == pytest.approx(result.stats["expected_npv_usd"])
    av = result.action_values
    assert av.dims == ("action", "scenario")
    assert {"site", "kind", "start", "lease"} <= set(av.coords)
    assert isinstance(av.indexes["action"], pd.Index) and av.sizes["scenario"] == 300
    cash = result.cash_balance()
    assert cash.dims == ("scenario", "month") and cash.sizes["scenario"] == 300
    assert isinstance(cash.indexes["month"], pd.PeriodIndex)
    assert str(cash.indexes["month"][0]) == "2026-01"


def test_statistics_add_up(result):
    st = result.statistics()
    assert st.index.names == ["site", "kind"]
    for c in ("mw", "capex_usd", "rent_usd", "lost_mining_usd", "npv_mean_usd", "npv_tail_usd", "cvar_share"):
        assert st[c].dtype == np.float64, c
    mw = sum(x.get("mw", 0.0) for x in result.document["decisions"])
    assert st["mw"].sum() == pytest.approx(mw)
    # baseline + actions - financing = the plan's mean NPV
    baseline = float(np.mean(np.asarray(result.value_table.baseline_npv)))
    cost = result.stats["expected_npv_usd"] - baseline - st["npv_mean_usd"].sum()
    assert cost <= 1.0   # financing and revolver cost (never a gain beyond rounding)
    assert st.attrs["cvar_usd"] == pytest.approx(result.stats["cvar_usd"], rel=1e-9)


def test_repr_is_short_and_html_exists(result):
    text = repr(result)
    assert len(text.splitlines()) <= 10 and len(text) < 1500
    assert "E[NPV]" in text and "<table" in result._repr_html_()


def test_fixes_as_strings_and_objects():
    a = wf.plan(TINY, scenarios=200, backend="numpy", fixes=["mine=sell"])
    assert "sell" in set(a.decisions.loc[a.decisions["site"] == "mine", "action"])
    b = wf.plan(TINY, scenarios=200, backend="numpy", fixes=[wf.Fix("mine", "sell")])
    assert a.document["decisions"] == b.document["decisions"]
    from wattfolio.errors import PlanError

    with pytest.raises(PlanError):
        wf.plan(TINY, scenarios=200, fixes=["nowhere=sell"])


def test_analyst_workflow(result, tmp_path):
    fr = wf.frontier(result, points=3, out=tmp_path / "fr")
    assert isinstance(fr, pd.DataFrame) and len(fr) == 3
    assert fr["expected_npv_usd"].iloc[0] == pytest.approx(result.stats["expected_npv_usd"], rel=1e-6)
    assert isinstance(fr.attrs["summary"], str) and fr.attrs["summary"].endswith(".")
    on_disk = json.loads((tmp_path / "fr" / "frontier.json").read_text())
    assert on_disk["summary"] == fr.attrs["summary"]
    assert {"frontier.csv", "frontier.svg"} <= {p.name for p in (tmp_path / "fr").iterdir()}
    se = wf.sensitivity(result, replan=False, inputs=["capex", "discount_rate"])
    assert se.attrs["scenarios"] == result.scenarios          # not lowered silently
    assert {"npv_low_se_usd", "noise_low", "cash_short_low_material"} <= set(se.columns)
    np.testing.assert_allclose(se["base_npv_usd"].to_numpy(), result.stats["expected_npv_usd"], rtol=1e-6)
    q = wf.quality(result, oos_scenarios=600)
    assert q["out_of_sample"]["out_of_sample"]["scenarios"] == 600 and result.quality is q
    page = wf.write_report(result, tmp_path / "report.html", frontier=fr, sensitivity=se)
    html = Path(page).read_text()
    assert "<html" in html and result.instance.plan.name in html


def test_parquet_round_trip(result, tmp_path):
    from wattfolio.run import in_sample_cash_fan

    fan = in_sample_cash_fan(result, backend="numpy")
    write_plan_outputs(result, tmp_path / "run", cash=fan)
    npv = pd.read_parquet(tmp_path / "run" / "npv_samples.parquet")
    assert list(npv.columns) == ["scenario", "npv_usd"]
    np.testing.assert_array_equal(npv["npv_usd"].to_numpy(), result.samples)
    np.testing.assert_array_equal(npv["npv_usd"].to_numpy(), np.load(tmp_path / "run" / "npv_samples.npy"))
    cq = pd.read_parquet(tmp_path / "run" / "cash_quantiles.parquet")
    assert list(cq.columns) == ["month", "p05", "p25", "p50", "p75", "p95"]
    assert cq["month"].iloc[0] == "2026-01" and len(cq) == result.instance.plan.months
    np.testing.assert_allclose(cq["p50"].to_numpy(), fan.quantiles[50])
    doc = json.loads((tmp_path / "run" / "plan.json").read_text())
    for pkg in ("numpy", "scipy", "pandas", "pyomo", "highspy", "xarray", "pyarrow"):
        assert pkg in doc["versions"], pkg
    assert "revision" in doc and "arguments" in doc


def test_out_at_an_existing_file_exits_2_before_any_valuation(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    cmd = [sys.executable, "-m", "wattfolio.cli", "plan", str(ROOT / "instances" / "terawulf.toml"),
           "--out", str(target), "--scenarios", "2000"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    refused = time.perf_counter() - t0
    assert r.returncode == 2, r.stderr
    assert "--out" in r.stderr and str(target) in r.stderr
    assert target.read_text() == "not a folder"
    # a 2,000-scenario TeraWulf valuation takes several seconds; the refusal only starts Python
    assert refused < 5.0, refused
