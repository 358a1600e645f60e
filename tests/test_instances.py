"""The shipped instances and plans, and the synthetic instance generator."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from wattfolio.instance.types import parse_month
from wattfolio.instance.synth import synth_instance, synth_toml, to_toml

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = sorted((ROOT / "instances").glob("*.toml"))
PLANS = sorted((ROOT / "instances" / "plans").glob("*.json"))


def _instance_for(plan: Path) -> Path:
    """A plan is named after its instance: `terawulf-fluidstack.json` -> `terawulf.toml`."""
    return ROOT / "instances" / (plan.stem.split("-")[0] + ".toml")


# --------------------------------------------------------------------------- synth

@pytest.mark.parametrize("n, seed", [(1, 0), (10, 3), (50, 7)])
def test_synth_round_trips_through_toml(n: int, seed: int) -> None:
    data = synth_instance(n, seed, mining_markets=2)
    assert tomllib.loads(synth_toml(n, seed, mining_markets=2)) == data


def test_to_toml_handles_every_shape_it_claims() -> None:
    data = {
        "quoted key": 'a "b"\n\\ é',
        "empty_list": [],
        "flag": True,
        "big": 1.5e300, "tiny": 5e-324, "neg": -0.0, "whole": 3.0, "n": -7,
        "empty": {},
        "outer": {"inner": {"x": 1}, "deep": {f"k{i}": i for i in range(8)}},
        "rows": [{"a": 1, "t": {"b": [1, 2]}}, {"a": 2}],
    }
    back = tomllib.loads(to_toml(data))
    assert back == data
    assert math.copysign(1.0, back["neg"]) == -1.0      # -0.0 keeps its sign


def test_synth_is_deterministic_for_a_seed() -> None:
    assert synth_toml(30, 5) == synth_toml(30, 5)
    assert synth_toml(30, 5) != synth_toml(30, 6)


def test_synth_shape() -> None:
    n = 200
    d = synth_instance(n, 1, mining_markets=2, scenarios=500, hours_per_month=730)
    sites = d["sites"]
    assert len(sites) == n
    assert d["plan"]["scenarios"] == 500 and d["plan"]["hours_per_month"] == 730
    operating = [s for s in sites if s["status"] == "operating"]
    assert len(operating) == n // 2
    assert all("mining" in s for s in operating)
    assert all("hpc" in s for s in sites)
    # mining happens only in the markets reserved for it, and all of them are used
    assert {s["market"] for s in operating} == {"mine-0", "mine-1"}
    assert not any("mining" in s for s in sites if not s["market"].startswith("mine-"))
    assert {s["status"] for s in sites} == {"operating", "development", "candidate"}
    assert all(("acquire" in s) == (s["status"] == "candidate") for s in sites)
    assert 0 < sum("sale" in s for s in sites) < n // 2
    assert len(d["leases"]) == n // 10
    assert all(len(lease["sites"]) >= 2 for lease in d["leases"])
    start = parse_month(d["plan"]["start"])
    assert all(12 <= parse_month(lease["sign_by"]) - start <= 36 for lease in d["leases"])
    kinds = sorted(k["kind"] for k in d["finance"]["instruments"])
    assert kinds == ["convertible", "equity", "secured_notes"]


def test_synth_one_site_still_has_a_lease() -> None:
    d = synth_instance(1, 0)
    assert [lease["sites"] for lease in d["leases"]] == [["site-0000"]]


def test_synth_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        synth_instance(0, 1)
    with pytest.raises(ValueError):
        synth_instance(5, 1, mining_markets=0)


@pytest.mark.parametrize("n", [1, 10, 50])
def test_synth_validates(n: int) -> None:
    from wattfolio.instance.load import parse_instance
    inst = parse_instance(synth_instance(n, 11, mining_markets=2))
    assert len(inst.sites) == n


def test_synth_200_sites_gives_a_few_thousand_actions() -> None:
    from wattfolio.planning.catalog import build_catalog
    from wattfolio.instance.load import parse_instance
    actions = build_catalog(parse_instance(synth_instance(200, 2)))
    assert 1000 <= len(actions) <= 10000
    assert {a.kind for a in actions} == {"convert", "sell", "acquire"}


# --------------------------------------------------------------------------- shipped files

def test_shipped_instances_exist() -> None:
    assert {p.name for p in INSTANCES} >= {"terawulf.toml", "vivopower.toml", "tiny.toml"}
    assert {p.name for p in PLANS} >= {
        "terawulf-fluidstack.json", "vivopower-sell-solar.json", "tiny-convert.json"}


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.name)
def test_shipped_instance_validates(path: Path) -> None:
    from wattfolio.instance.load import validate_file
    assert validate_file(path) == []


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.name)
def test_seed_instances_keep_hourly_simulation_small(path: Path) -> None:
    """Only markets with mining sites are simulated hour by hour: keep them to 1–2."""
    data = tomllib.loads(path.read_text())
    mining_markets = {s["market"] for s in data["sites"] if "mining" in s}
    assert 1 <= len(mining_markets) <= 2
    assert data["plan"]["hours_per_month"] == 24


def test_terawulf_matches_the_public_deals() -> None:
    data = tomllib.loads((ROOT / "instances" / "terawulf.toml").read_text())
    leases = {lease["id"]: lease for lease in data["leases"]}
    lm, ab = leases["fluidstack-lm"], leases["fluidstack-abernathy"]
    # the disclosed totals (TeraWulf releases): $3.7B for Lake Mariner, ~$9.5B for Abernathy
    assert lm["contract_value_usd"] == 3.7e9 and ab["contract_value_usd"] == 9.5e9
    assert "rate_kw_month" not in lm and "rate_kw_month" not in ab
    assert lm["tenant"] == ab["tenant"] == "Fluidstack"
    sites = {s["id"]: s for s in data["sites"]}
    assert sites["abernathy"]["ownership"] == 0.51
    # today's hashprice lands inside 2025's public range of $35–52/PH/day (Hashrate Index)
    b = data["bitcoin"]
    hashprice_ph = ((b["subsidy_btc"] + b["fees_btc_per_block"]) * 144 * b["price_usd"]
                    / (b["network_hashrate_ehs"] * 1e6) * 1000)
    assert 35 <= hashprice_ph <= 52


@pytest.mark.parametrize("name", ["terawulf", "vivopower"])
def test_seed_sites_build_in_blocks(name: str) -> None:
    """Every convertible site of a seed builds in whole blocks, fitting its own cap."""
    data = tomllib.loads((ROOT / "instances" / f"{name}.toml").read_text())
    hpc = [s["hpc"] for s in data["sites"] if "hpc" in s]
    assert hpc and all(0 < h["block_mw"] <= h["max_mw"] for h in hpc)


def test_tiny_hash_revenue_is_100_per_mwh() -> None:
    """The hand check written at the top of tiny.toml."""
    data = tomllib.loads((ROOT / "instances" / "tiny.toml").read_text())
    b = data["bitcoin"]
    mine = next(s for s in data["sites"] if s["id"] == "mine")
    hashprice = ((b["subsidy_btc"] + b["fees_btc_per_block"]) * 144 * b["price_usd"]
                 / (b["network_hashrate_ehs"] * 1e6))
    revenue_per_mwh = 1e6 / mine["mining"]["efficiency_j_per_th"] * hashprice / 24
    assert revenue_per_mwh == pytest.approx(100.0)


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.name)
def test_shipped_plan_fits_its_instance(plan: Path) -> None:
    """Every reference exists, every start is on the grid and inside its window."""
    data = tomllib.loads(_instance_for(plan).read_text())
    doc = json.loads(plan.read_text())
    assert doc["schema"] == 1
    p = data["plan"]
    start, step = parse_month(p["start"]), p["decision_step_months"]
    end = start + 12 * p["horizon_years"]

    def on_grid(text: str) -> int:
        t = parse_month(text)
        assert start <= t < end and (t - start) % step == 0, f"{text} is off the grid"
        return t

    sites = {s["id"]: s for s in data["sites"]}
    leases = {lease["id"]: lease for lease in data["leases"]}
    instruments = {k["id"]: k for k in data["finance"]["instruments"]}
    acquired: dict[str, int] = {}
    sold: set[str] = set()
    mw_by_site: dict[str, float] = {}
    mw_by_lease: dict[str, float] = {}
    assert doc["decisions"]
    for d in sorted(doc["decisions"], key=lambda d: d["action"] != "acquire"):
        site, t = sites[d["site"]], on_grid(d["start"])
        if d["action"] == "acquire":
            assert site["status"] == "candidate" and "acquire" in site
            acquired[d["site"]] = t
        elif d["action"] == "sell":
            assert "sale" in site and site["status"] != "candidate"
            sold.add(d["site"])
        else:
            assert d["action"] == "convert"
            lease = leases[d["lease"]]
            assert d["site"] in lease["sites"] and "hpc" in site
            assert t <= parse_month(lease["sign_by"])
            assert d["mw"] > 0
            block = site["hpc"].get("block_mw", 0.0)
            assert not block or d["mw"] == block * round(d["mw"] / block), "whole blocks"
            if site["status"] == "candidate":
                assert t >= acquired[d["site"]] + site["acquire"]["energize_months"]
            mw_by_site[d["site"]] = mw_by_site.get(d["site"], 0.0) + d["mw"]
            mw_by_lease[d["lease"]] = mw_by_lease.get(d["lease"], 0.0) + d["mw"]
    assert not sold & set(mw_by_site), "a sold site takes no other action"
    for sid, mw in mw_by_site.items():
        assert mw <= sites[sid]["hpc"]["max_mw"]
    for lid, mw in mw_by_lease.items():
        assert mw <= leases[lid]["max_mw"]
    for f in doc["financing"]:
        inst = instruments[f["instrument"]]
        assert on_grid(f["start"]) <= parse_month(inst["issue_by"])
        assert f["amount_usd"] > 0
    capex = sum(mw * sites[sid]["hpc"]["capex_usd_per_mw"] * sites[sid].get("ownership", 1.0)
                for sid, mw in mw_by_site.items())
    for iid, inst in instruments.items():
        drawn = sum(f["amount_usd"] for f in doc["financing"] if f["instrument"] == iid)
        assert drawn <= inst["max_usd"]
        if inst["kind"] == "secured_notes":
            assert drawn <= inst.get("loan_to_cost", 0.8) * capex


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.name)
def test_shipped_plan_decisions_are_catalog_actions(plan: Path) -> None:
    from wattfolio.planning.catalog import build_catalog
    from wattfolio.instance.load import load_instance
    actions = build_catalog(load_instance(_instance_for(plan)))
    offered = {(a.site, a.kind, a.start, a.lease): a.max_units for a in actions}
    for d in json.loads(plan.read_text())["decisions"]:
        key = (d["site"], d["action"], parse_month(d["start"]), d.get("lease"))
        assert key in offered, f"{key} is not in the catalog"
        if d["action"] == "convert":
            assert d["mw"] <= offered[key]
