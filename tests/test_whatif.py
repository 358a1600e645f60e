"""What-ifs: --fix/--forbid parsing (every bad argument named), fixes honoured, compare."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from wattfolio.errors import PlanError
from wattfolio.instance.types import parse_month
from wattfolio.instance.load import load_instance
from wattfolio.run import plan_instance
from wattfolio.mip.solve import Fix
from wattfolio.analysis.whatif import compare, decision_diff, parse_fixes, run_whatif


@pytest.fixture(scope="module")
def tiny():
    return load_instance("instances/tiny.toml")


def errors_of(fix, forbid, inst) -> list[str]:
    with pytest.raises(PlanError) as info:
        parse_fixes(fix, forbid, inst)
    return info.value.errors


def test_parses_fixes_and_forbids(tiny):
    got = parse_fixes(["mine=sell@2026-07", "shell=convert"], ["mine=convert@2026-01"], tiny)
    assert got == [Fix("mine", "sell", parse_month("2026-07")), Fix("shell", "convert"),
                   Fix("mine", "convert", parse_month("2026-01"), forbid=True)]
    assert parse_fixes(None, None, tiny) == []


@pytest.mark.parametrize("text, message", [
    ("mine", "expected SITE=ACTION"),
    ("=sell", "expected SITE=ACTION"),
    ("nosuch=sell", "unknown site 'nosuch'"),
    ("mine=sel", "unknown action 'sel'"),
    ("mine=sell@2026-13", "malformed date '2026-13'"),
    ("mine=sell@26-01", "malformed date '26-01'"),
    ("mine=sell@2026-02", "2026-02 is not a decision month"),
    ("mine=sell@2031-01", "2031-01 is not a decision month"),
    ("shell=sell", "no candidate action matches (the site has no sale option)"),
    ("mine=acquire", "no candidate action matches"),
    ("mine=convert@2028-01", "must be signed by 2027-01"),
])
def test_each_bad_argument_is_named(tiny, text, message):
    for flag, args in (("--fix", ([text], [])), ("--forbid", ([], [text]))):
        errs = errors_of(*args, tiny)
        assert len(errs) == 1
        assert errs[0].startswith(f"{flag} {text!r}") and message in errs[0]


def test_all_problems_are_listed_at_once(tiny):
    errs = errors_of(["nosuch=sell", "mine=sel"], ["mine=sell@2026-02"], tiny)
    assert len(errs) == 3
    assert "'nosuch=sell'" in errs[0] and "'mine=sel'" in errs[1] and "'mine=sell@2026-02'" in errs[2]


@pytest.mark.parametrize("fix, forbid, message", [
    (["mine=sell"], ["mine=sell"], "every action it allows is forbidden"),
    (["mine=sell@2026-07"], ["mine=sell"], "every action it allows is forbidden"),
    (["mine=sell@2026-07"], ["mine=sell@2026-07"], "every action it allows is forbidden"),
    (["mine=convert@2026-01"], ["mine=convert@2026-01"], "every action it allows is forbidden"),
    (["mine=sell", "mine=convert"], [], "a sold site takes no other action"),
    (["mine=sell@2026-01", "mine=sell@2026-07"], [], "a site is sold at most once"),
])
def test_contradictory_requests_are_input_errors(tiny, fix, forbid, message):
    errs = errors_of(fix, forbid, tiny)
    assert any(message in e for e in errs), errs
    # the message quotes the arguments that clash
    assert all(f"{fix[0]!r}" in e for e in errs)


def test_compatible_requests_pass(tiny):
    # forbidding one start of an action while fixing another start is fine
    assert len(parse_fixes(["mine=convert@2026-07"], ["mine=convert@2026-01"], tiny)) == 2
    assert len(parse_fixes(["mine=sell", "mine=sell@2026-07"], [], tiny)) == 2


def test_candidate_site_needs_an_allowed_acquisition():
    viv = load_instance("instances/vivopower.toml")
    cand = [s for s in viv.sites if s.status == "candidate" and s.acquire and s.hpc]
    assert cand, "vivopower has a candidate site to buy"
    sid = cand[0].id
    errs = errors_of([f"{sid}=convert"], [f"{sid}=acquire"], viv)
    assert any("no allowed acquisition" in e for e in errs)
    assert parse_fixes([f"{sid}=convert"], [], viv)


# ---- fixes honoured ---------------------------------------------------------------------

def test_fixes_are_honoured_on_tiny(tiny):
    free = plan_instance(tiny, scenarios=300)
    assert not any(a.kind == "sell" for a in free.actions)           # selling is not chosen freely
    assert any(a.site == "shell" and a.kind == "convert" for a in free.actions)
    fixes = parse_fixes(["mine=sell@2027-01"], ["shell=convert"], tiny)
    r = plan_instance(tiny, scenarios=300, fixes=fixes)
    labels = [a.label for a in r.actions]
    assert "sell:mine@2027-01" in labels
    assert not any(a.site == "shell" and a.kind == "convert" for a in r.actions)
    assert not any(a.site == "mine" and a.kind != "sell" for a in r.actions)


def test_forbid_is_honoured_on_terawulf():
    inst = load_instance("instances/terawulf.toml")
    inst = replace(inst, plan=replace(inst.plan, hours_per_month=4))
    fixes = parse_fixes([], ["abernathy=convert@2026-01"], inst)
    constrained, free, cmp = run_whatif(inst, fixes, scenarios=200)
    assert any(a.label.startswith("convert:abernathy") and a.label.endswith("@2026-01") for a in free.actions)
    assert not any(a.site == "abernathy" and a.start == parse_month("2026-01") for a in constrained.actions)
    assert cmp["objective_given_up_usd"] >= -1e-4 * abs(free.stats["expected_npv_usd"])


# ---- compare ----------------------------------------------------------------------------

def test_compare_on_tiny(tiny):
    constrained, free, cmp = run_whatif(tiny, [Fix("shell", "convert", forbid=True)], scenarios=300)
    fs, cs = free.stats, constrained.stats
    assert cmp["expected_npv_given_up_usd"] == pytest.approx(fs["expected_npv_usd"] - cs["expected_npv_usd"])
    assert cmp["expected_npv_given_up_usd"] > 0 and cmp["cvar_given_up_usd"] == pytest.approx(fs["cvar_usd"] - cs["cvar_usd"])
    d = free.samples - constrained.samples
    assert cmp["expected_npv_given_up_se_usd"] == pytest.approx(d.std(ddof=1) / np.sqrt(d.size))
    keys = lambda ds: {(x["site"], x["action"], x["start"], x.get("lease")) for x in ds}  # noqa: E731
    f_keys, c_keys = keys(free.document["decisions"]), keys(constrained.document["decisions"])
    changed = cmp["decisions_changed"]
    assert keys([c for c in changed if c["change"] == "added"]) == c_keys - f_keys
    assert keys([c for c in changed if c["change"] == "removed"]) == f_keys - c_keys
    assert all(c["site"] != "shell" for c in changed if c["change"] == "added")


def test_compare_refuses_different_scenarios(tiny):
    a = plan_instance(tiny, scenarios=100)
    b = plan_instance(tiny, scenarios=100, seed=2)
    with pytest.raises(ValueError, match="plans must share scenarios"):
        compare(a, b)


def test_decision_diff_reports_resized_mw():
    before = [{"site": "a", "action": "convert", "start": "2026-01", "mw": 5.0, "lease": "l"}]
    after = [{"site": "a", "action": "convert", "start": "2026-01", "mw": 7.5, "lease": "l"},
             {"site": "b", "action": "sell", "start": "2026-07"}]
    diff = decision_diff(before, after)
    assert {"change": "resized", **after[0], "mw_before": 5.0} in diff
    assert {"change": "added", **after[1]} in diff
    assert decision_diff(after, before) == [{"change": "removed", **after[1]},
                                            {"change": "resized", **before[0], "mw_before": 7.5}]
