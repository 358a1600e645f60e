"""The plan rules, stated once (`wattfolio.planning.rules`), mean the same thing to every
reader: on small instances, every enumerated plan that `violations` accepts is feasible
for the MIP (its variables fixed to the plan and solved) and parses as a plan file, and
every plan the MIP accepts passes `violations`.

Plans: every on/off choice of every catalog action, a convert's MW at its smallest
tranche or its maximum, and (on the synthetic instance) either no financing or one fixed
secured-notes draw. The instances are small enough that this is a few hundred solves.
"""
from __future__ import annotations

import itertools
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from wattfolio.errors import PlanError
from wattfolio.instance.load import load_instance, parse_instance
from wattfolio.instance.synth import synth_instance
from wattfolio.instance.types import month_str, parse_month
from wattfolio.mip.model import PlanModel
from wattfolio.planning.catalog import build_catalog
from wattfolio.planning.finance import expected_cash_rows
from wattfolio.planning.plan_file import parse_plan, plan_document
from wattfolio.planning.rules import (RULES, exclusive_rule, min_units, rule_groups, violations,
                                      why_ineligible)
from wattfolio.planning.valuation import value_actions


def tiny_instance():
    # a yearly grid keeps the catalog at 7 actions (3 sales, 4 converts): 648 plans
    return load_instance("instances/tiny.toml").with_plan(
        decision_step_months=12, scenarios=16, hours_per_month=2)


def tiny_blocks(block_mw: float = 4.0, **lease):
    """tiny with the shell built in blocks (the mine's MW stay continuous) and no sale, so
    that every plan of its 4 converts can be enumerated with a level off the block grid."""
    d = tomllib.loads(Path("instances/tiny.toml").read_text())
    mine, shell = d["sites"]
    del mine["sale"]
    shell["hpc"]["block_mw"] = block_mw
    d["leases"][0].update(lease)
    return parse_instance(d).with_plan(decision_step_months=12, scenarios=16, hours_per_month=2)


def synthetic_two_sites():
    """`synth_instance(2, ...)` cut to one year on a quarterly grid: a mining site that
    may be sold, and candidate land (two acquisition dates, converts after them) under
    one lease, funded by secured notes at loan-to-cost."""
    d = synth_instance(2, 11, scenarios=16, hours_per_month=2)
    d["plan"].update(horizon_years=1, decision_step_months=3)
    mine, land = d["sites"]
    del mine["hpc"]
    mine["sale"] = {"low_usd": 4e7, "mode_usd": 6e7, "high_usd": 8e7,
                    "close_probability": 0.8, "months_to_close": 6}
    land.pop("sale", None)
    land.pop("ownership", None)
    land.update(status="candidate", use="land",
                acquire={"cost_usd": 5e6, "energize_months": 3})
    (lease,) = d["leases"]
    # room for two full builds under the lease, so the site's own cap binds first
    lease.update(sites=[land["id"]], sign_by="2026-07", max_mw=3 * land["hpc"]["max_mw"])
    d["finance"]["cash_usd"] = 60e6
    d["finance"]["min_cash_usd"] = 5e6
    for k, by in zip(d["finance"]["instruments"], ("2026-04", "2026-07", "2026-10")):
        k["issue_by"] = by            # inside the one-year horizon
    return parse_instance(d)


# which rule a `violations` message reports (their wording is the plan files')
RULE_OF = {"is sold more than once": "one_sale", "so it can take no other action": "sold_idle",
           "is acquired more than once": "one_acquire", "needs site": "acquired",
           "more than hpc.max_mw": "site_mw", "more than its max_mw": "lease_mw",
           "secured notes need": "loan_to_cost", "cash: expected cash": "min_cash",
           "a whole number of blocks": "blocks"}


def rules_of(messages) -> set[str]:
    return {r for m in messages for k, r in RULE_OF.items() if k in m}


def enumerate_plans(catalog):
    """Every quantity vector: off / smallest tranche / maximum for converts (and one and
    a half blocks where built in blocks), off / on for sales and acquisitions."""
    levels = []
    for a in catalog:
        if a.kind == "convert":
            off_grid = {1.5 * a.block_mw} if a.block_mw > 0 else set()
            levels.append(sorted({0.0, min_units(a.max_units, a.block_mw), a.max_units} | off_grid))
        else:
            levels.append([0.0, 1.0])
    for combo in itertools.product(*levels):
        yield np.array(combo)


def check_all_plans(instance, financings):
    catalog = build_catalog(instance)
    vt = value_actions(instance, catalog, backend="numpy")
    rows = expected_cash_rows(instance, vt)
    pm = PlanModel(instance, catalog, vt)
    col = {(d.instrument, d.month): k for k, d in enumerate(pm.draws)}
    seen: set[str] = set()
    accepted = 0
    for q in enumerate_plans(catalog):
        taken = [a for a in catalog if q[a.index] > 0]
        qty = [float(q[a.index]) for a in taken]
        for fin in financings:
            found = violations(instance, taken, qty, fin, cash=rows)
            d = np.zeros(len(pm.draws))
            for k, amount, t in fin:
                d[col[(k, t)]] += amount
            pm.pin(q, d)
            out = pm.solve(None, 1e-9)
            assert out.status in ("optimal", "infeasible"), out
            feasible = out.status == "optimal"
            assert (not found) == feasible, ([a.label for a in taken], qty, fin, found, out.status)
            accepted += feasible
            seen |= rules_of(found)
            # plan files carry the same rules (all but expected cash, which needs a
            # ValueTable): a plan written out parses back iff it keeps them
            doc = plan_document(instance, taken, qty, fin)
            try:
                parse_plan(doc, instance)
                parsed = True
            except PlanError:
                parsed = False
            assert parsed == (not violations(instance, taken, qty, fin)), found
    return accepted, seen


def test_tiny_rules_and_mip_agree_on_every_plan():
    inst = tiny_instance()
    accepted, seen = check_all_plans(inst, [[]])
    assert 0 < accepted < 648
    # what rejects plans here: two sales, a sold site that does more, the sites' and the
    # shared lease's 10 MW, and cash (a 10 MW build costs $80M of $20M)
    assert seen == {"one_sale", "sold_idle", "site_mw", "lease_mw", "min_cash"}, seen


def test_block_rules_and_mip_agree_on_every_plan():
    inst = tiny_blocks()
    catalog = build_catalog(inst)
    # 10 MW at the shell hold two 4 MW blocks: its converts build 4 or 8 MW, never 6
    assert [(a.site, a.max_units, a.block_mw) for a in catalog] == [
        ("mine", 10.0, 0.0), ("mine", 10.0, 0.0), ("shell", 8.0, 4.0), ("shell", 8.0, 4.0)]
    accepted, seen = check_all_plans(inst, [[]])
    assert accepted > 0
    assert {"blocks", "site_mw", "lease_mw"} <= seen, seen


def test_two_site_synthetic_rules_and_mip_agree_on_every_plan():
    inst = synthetic_two_sites()
    catalog = build_catalog(inst)
    kinds = Counter(a.kind for a in catalog)
    assert kinds == {"sell": 2, "acquire": 2, "convert": 2}, [a.label for a in catalog]
    land = next(s for s in inst.sites if s.status == "candidate")
    # secured notes sized so that 1.5 MW of build carries them at loan-to-cost: the
    # smallest tranche (1 MW) does not, the maximum does
    k = next(i for i in inst.finance.instruments if i.kind == "secured_notes")
    amount = 1.5 * land.hpc.capex_usd_per_mw * land.ownership * k.loan_to_cost
    accepted, seen = check_all_plans(inst, [[], [(k.id, amount, inst.plan.start)]])
    assert accepted > 0
    assert seen == {"one_sale", "one_acquire", "acquired", "site_mw", "loan_to_cost",
                    "min_cash"}, seen


# ---- a few rules by hand ----------------------------------------------------------------

def test_messages_name_the_rule():
    inst = tiny_instance()
    cat = build_catalog(inst)
    by = {a.label: a for a in cat}
    conv = by["convert:mine/tenant-a@2026-01"]
    assert violations(inst, [conv], [0.5]) == [
        f"decisions[{conv.label}].mw: {RULES['tranche']}, got 0.5"]
    assert violations(inst, [conv], [0.5], paths=["decisions[0]"])[0].startswith("decisions[0].mw:")
    sells = [by["sell:mine@2026-01"], by["sell:mine@2027-01"]]
    errs = violations(inst, sells + [conv], [1.0, 1.0, 1.0])
    assert "decisions: site 'mine' is sold more than once" in errs
    assert "decisions: site 'mine' is sold, so it can take no other action" in errs
    late = parse_month("2028-01")
    assert why_ineligible(inst, "mine", "convert", late, "tenant-a") == \
        "lease 'tenant-a' must be signed by 2027-01"
    off = [("equity", 1e6, inst.plan.start + 1)]
    assert any("decision grid" in e for e in violations(inst, [], [], off))
    assert any("issue_by" in e for e in violations(inst, [], [], [("equity", 1e6, late)]))


def test_block_messages_name_the_decision_and_the_value():
    inst = tiny_blocks()
    by = {a.label: a for a in build_catalog(inst)}
    shell = by["convert:shell/tenant-a@2026-01"]
    where = f"decisions[{shell.label}].mw"
    assert violations(inst, [shell], [6.0]) == [
        f"{where}: {RULES['blocks']} (hpc.block_mw = 4 at 'shell': 6 MW is 1.5 blocks), got 6.0"]
    assert violations(inst, [shell], [2.0]) == [f"{where}: {RULES['tranche']}, got 2.0"]
    assert violations(inst, [shell], [8.0]) == violations(inst, [shell], [4.0 + 1e-9]) == []
    # a lease smaller than one block offers the site nothing, and says why
    small = tiny_blocks(max_mw=3.0)
    assert {a.site for a in build_catalog(small)} == {"mine"}
    assert why_ineligible(small, "shell", "convert", small.plan.start, "tenant-a") == \
        "lease 'tenant-a' offers 3 MW, less than one hpc.block_mw block of 4 MW"
    assert why_ineligible(small, "shell", "convert") == \
        "no lease listing it offers one hpc.block_mw block of 4 MW"


def test_a_block_site_plans_whole_blocks():
    """The whole run (valuation, cuts, clean plan): tiny's continuous plan splits its 10 MW
    as 8.67 + 1.33; in 5 MW blocks every convert is 5 or 10 MW to the last bit."""
    from wattfolio.run import plan_instance
    d = tomllib.loads(Path("instances/tiny.toml").read_text())
    for s in d["sites"]:
        s["hpc"]["block_mw"] = 5.0
    free = plan_instance(load_instance("instances/tiny.toml"), scenarios=300, backend="numpy")
    res = plan_instance(parse_instance(d), scenarios=300, backend="numpy")
    mw = [q for a, q in zip(res.actions, res.quantities) if a.kind == "convert"]
    assert mw and all(q in (5.0, 10.0) for q in mw), mw
    assert res.solver["objective_usd"] <= free.solver["objective_usd"] * (1 + 1e-9)
    assert not violations(res.instance, res.actions, res.quantities, res.draws)


def test_exclusive_pairs_follow_the_groups():
    inst = tiny_instance()
    cat = build_catalog(inst)
    g = rule_groups(inst, cat)
    idx = {a.label: a.index for a in cat}
    s1, s2 = idx["sell:mine@2026-01"], idx["sell:mine@2027-01"]
    c_mine, c_shell = idx["convert:mine/tenant-a@2026-01"], idx["convert:shell/tenant-a@2026-01"]
    assert exclusive_rule(g, s1, s2) == "one_sale"
    assert exclusive_rule(g, s1, c_mine) == exclusive_rule(g, c_mine, s1) == "sold_idle"
    assert exclusive_rule(g, s1, c_shell) is None and exclusive_rule(g, s1, s1) is None
    assert month_str(cat[s2].start) == "2027-01"


@pytest.mark.parametrize("name", ["terawulf", "vivopower"])
def test_catalog_is_what_the_rules_allow(name):
    from wattfolio.planning.rules import decision_months, eligible
    inst = load_instance(f"instances/{name}.toml")
    cat = {(a.site, a.kind, a.start, a.lease) for a in build_catalog(inst)}
    for s in inst.sites:
        for t in decision_months(inst):
            for kind, lease in [("sell", None), ("acquire", None)] + [
                    ("convert", le.id) for le in inst.leases]:
                assert eligible(inst, s.id, kind, t, lease) == ((s.id, kind, t, lease) in cat)
