"""Valuation audit: each seed lease and each seed site's main action, valued by hand from
its public terms next to the engine's value, under deterministic settings.

    python3 -m wattfolio.analysis.audit            # rewrites docs/valuation.md

Deterministic settings (`deterministic`): every volatility zero, no spikes, no defaults,
no build delay or overrun, leases renew at expiry, sales close for sure at the mean of
their price range, no AI-market stress. The hand side is written month by month in plain
Python from the instance's numbers (escalating rent, the network's hashprice recursion,
hour-by-hour curtailment, the mothball and restart rules), sharing no code with `gpu/`, so
the table checks the engine rather than restating it. `tests/test_valuation_audit.py`
recomputes every row and compares it with the file.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..planning.catalog import Action
from ..planning.valuation import subsidy_by_month, value_actions
from ..instance.types import AiStress, Instance, month_str
from ..instance.load import load_instance

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ("terawulf.toml", "vivopower.toml")
HOURS = 730.0


def deterministic(inst: Instance) -> Instance:
    """The instance with every source of randomness switched off (module docstring)."""
    def site(s):
        return replace(
            s,
            hpc=s.hpc and replace(s.hpc, capex_overrun_volatility=0.0, delay_months_mean=0.0),
            sale=s.sale and replace(s.sale, low_usd=_tri_mean(s.sale), mode_usd=_tri_mean(s.sale),
                                    high_usd=_tri_mean(s.sale), close_probability=1.0))
    markets = tuple(replace(m, volatility=0.0, hourly_volatility=0.0, spike_probability=0.0)
                    for m in inst.markets)
    leases = tuple(replace(le, default_rate=0.0, renewal_probability=1.0) for le in inst.leases)
    return replace(inst, plan=replace(inst.plan, scenarios=4), markets=markets,
                   bitcoin=replace(inst.bitcoin, volatility=0.0),
                   hpc_market=replace(inst.hpc_market, volatility=0.0),
                   sites=tuple(site(s) for s in inst.sites), leases=leases, ai_stress=AiStress())


def _tri_mean(sale) -> float:
    return (sale.low_usd + sale.mode_usd + sale.high_usd) / 3.0


# ----------------------------------------------------------------------------- by hand

def hand_hashprice(inst: Instance) -> list[float]:
    """$ per TH/s per day in each plan month, flat price: the network's log-hashprice gap
    to the marginal fleet's breakeven shrinks by phi a month, and a halving moves it by
    the log change of the block reward at once (or, for an exogenous network, hashrate
    grows at hashrate_growth a year)."""
    b, p = inst.bitcoin, inst.plan
    reward = [s + b.fees_btc_per_block for s in subsidy_by_month(inst)]
    if b.marginal_efficiency_j_per_th is None:
        return [reward[m] * 144.0 * b.price_usd
                / (b.network_hashrate_ehs * (1.0 + b.hashrate_growth) ** (m / 12.0) * 1e6)
                for m in range(p.months)]
    breakeven = b.marginal_efficiency_j_per_th * b.marginal_power_usd_per_mwh * 24e-6
    phi = math.exp(-b.hashrate_adjustment_speed / 12.0)
    gap = math.log(reward[0] * 144.0 * b.price_usd / (b.network_hashrate_ehs * 1e6) / breakeven)
    out = []
    for m in range(p.months):
        out.append(breakeven * math.exp(gap))
        if m + 1 < p.months:
            gap = phi * gap + math.log(reward[m + 1] / reward[m])
    return out


def hand_mining_margin(inst: Instance, site_id: str) -> list[float]:
    """$ per grid MW in each plan month: every hour at the month's mean price (no hourly
    spread), run when hash revenue beats it, less opex; mothballed after the run of losing
    months, restarted (paying the restart cost) after the run of would-be profitable ones."""
    site, p = inst.site(site_id), inst.plan
    mkt = next(m for m in inst.markets if m.id == site.market)
    hp = hand_hashprice(inst)
    running, restarting, run, out = True, False, 0, []
    for m in range(p.months):
        cal = (p.start + m) % 12
        price = mkt.mean_price * math.exp(
            mkt.seasonal_amplitude * math.cos(2.0 * math.pi * (cal - (mkt.seasonal_peak_month - 1)) / 12.0))
        price = min(price, mkt.price_cap)
        revenue = 1e6 / site.mining.efficiency_j_per_th * hp[m] / 24.0
        would = HOURS * max(revenue - price, 0.0) - site.mining.opex_usd_per_mw_month
        if running:
            out.append(would - (site.mining.restart_cost_usd_per_mw if restarting else 0.0))
            restarting = False
            run = run + 1 if would < 0 else 0
            if site.mining.shutdown_after_loss_months and run >= site.mining.shutdown_after_loss_months:
                running, run = False, 0
        else:
            out.append(0.0)
            run = run + 1 if would > 0 else 0
            if site.mining.restart_after_profit_months and run >= site.mining.restart_after_profit_months:
                running, run, restarting = True, 0, True
    return out




def _discount(rate: float, month: float) -> float:
    return (1.0 + rate) ** (-month / 12.0)


def hand_convert(inst: Instance, a: Action) -> float:
    """NPV per critical MW of one convert: capex over the build, escalating contracted NOI
    for the tenor (past the horizon too), the market residual where the contract ends,
    less the mining the conversion stops (inside the horizon, plus its terminal value) and
    the backstop's cost at signing."""
    p, site, le = inst.plan, inst.site(a.site), inst.lease(a.lease)
    r, own, M = p.discount_rate, site.ownership, p.months
    t0 = a.start - p.start
    build = site.hpc.build_months
    value = sum(-own * site.hpc.capex_usd_per_mw / build * _discount(r, m + 0.5)
                for m in range(t0, t0 + build))
    start, T = t0 + build, 12 * le.tenor_years
    noi = own * 1000.0 * le.noi_margin
    value += sum(noi * le.rate_kw_month * (1.0 + le.escalator) ** (k // 12) * _discount(r, start + k + 0.5)
                 for k in range(T))
    end = start + T
    h = inst.hpc_market
    value += p.terminal_multiple.hpc * 12.0 * noi * h.rate_kw_month * math.exp(h.drift * end / 12.0) * _discount(r, end)
    if site.mining is not None:
        margin = hand_mining_margin(inst, site.id)
        lost = own * site.hpc.pue
        value -= lost * sum(margin[m] * _discount(r, m + 0.5) for m in range(t0, M))
        value -= lost * p.terminal_multiple.mining * max(sum(margin[-12:]), 0.0) * _discount(r, M)
    value -= le.backstop_cost_usd / le.max_mw * _discount(r, t0 + 0.5)
    return value


def hand_sell(inst: Instance, a: Action) -> float:
    """NPV of a sale closing for sure at the mean price, less the mining it ends."""
    p, site = inst.plan, inst.site(a.site)
    close = a.start - p.start + site.sale.months_to_close
    value = site.ownership * site.sale.mode_usd * _discount(p.discount_rate, close + 0.5)
    if site.mining is not None:
        margin, gross = hand_mining_margin(inst, site.id), site.ownership * site.capacity_mw
        value -= gross * sum(margin[m] * _discount(p.discount_rate, m + 0.5) for m in range(close, p.months))
        value -= gross * p.terminal_multiple.mining * max(sum(margin[-12:]), 0.0) * _discount(p.discount_rate, p.months)
    return value


def hand_acquire(inst: Instance, a: Action) -> float:
    site = inst.site(a.site)
    return -site.ownership * site.acquire.cost_usd * _discount(inst.plan.discount_rate, a.start - inst.plan.start + 0.5)


# ----------------------------------------------------------------------------- rows

@dataclass(frozen=True)
class Row:
    instance: str
    action: str
    terms: str
    unit: str
    hand_usd: float
    engine_usd: float


def _first_convert(inst: Instance, lease_id: str) -> Action:
    le = inst.lease(lease_id)
    for sid in le.sites:
        site = inst.site(sid)
        if site.hpc is None or site.status == "candidate":
            continue
        return Action(index=0, site=sid, kind="convert", start=inst.plan.start, lease=lease_id,
                      max_units=min(site.hpc.max_mw, le.max_mw))
    sid = le.sites[0]
    site = inst.site(sid)
    start = inst.plan.start + site.acquire.energize_months
    return Action(index=0, site=sid, kind="convert", start=start, lease=lease_id,
                  max_units=min(site.hpc.max_mw, le.max_mw))


def audit_actions(inst: Instance) -> list[tuple[Action, str, str]]:
    """(action, what it is, its public terms) for every seed lease and each site's main
    alternative (a sale, an acquisition)."""
    out = []
    for le in inst.leases:
        a = _first_convert(inst, le.id)
        terms = (f"start ${le.rate_kw_month:,.1f}/kW-mo +{le.escalator:.1%}/y, {le.tenor_years} y, "
                 f"NOI {le.noi_margin:.0%}, total ${le.contract_total_usd / 1e9:,.2f}B at {le.max_mw:g} MW; "
                 f"capex ${inst.site(a.site).hpc.capex_usd_per_mw / 1e6:.1f}M/MW over "
                 f"{inst.site(a.site).hpc.build_months} mo")
        out.append((a, f"convert {a.site} for {le.id} from {month_str(a.start)}", terms))
    for site in inst.sites:
        if site.sale is not None and site.status != "candidate":
            a = Action(index=0, site=site.id, kind="sell", start=inst.plan.start)
            out.append((a, f"sell {site.id} from {month_str(a.start)}",
                        f"${site.sale.mode_usd / 1e6:,.1f}M mean price, closes after {site.sale.months_to_close} mo"))
        if site.acquire is not None:
            a = Action(index=0, site=site.id, kind="acquire", start=inst.plan.start)
            out.append((a, f"acquire {site.id} in {month_str(a.start)}",
                        f"${site.acquire.cost_usd / 1e6:,.1f}M"))
    return out


def audit_rows(path: Path) -> list[Row]:
    """Hand and engine values of every audited action of one instance file."""
    inst = deterministic(load_instance(path))
    rows = []
    for a, what, terms in audit_actions(inst):
        hand = {"convert": hand_convert, "sell": hand_sell, "acquire": hand_acquire}[a.kind](inst, a)
        engine = float(np.asarray(value_actions(inst, [a], backend="numpy").npv)[0].mean())
        rows.append(Row(path.name, what, terms, "per critical MW" if a.kind == "convert" else "per action",
                        hand, engine))
    return rows


def render(rows: list[Row]) -> str:
    lines = [
        "# Valuation audit",
        "",
        "Each seed lease and each seed site's main alternative, valued **by hand** from its public",
        "terms and **by the engine**, under deterministic settings: every volatility zero, no",
        "spikes, no tenant default, no build delay or overrun, leases renew at expiry, sales close",
        "for sure at the mean of their price range, no AI-market stress. A convert is valued per",
        "critical MW to the end of its contract (past the horizon where it runs longer), with the",
        "market residual (`terminal_multiple.hpc` x annual market NOI) where it ends, less the",
        "mining it stops and the backstop's cost. The hand column is written month by month in",
        "plain Python (`optimizer/audit.py`), sharing no code with the engine (`gpu/`).",
        "",
        "Regenerate with `python3 -m wattfolio.analysis.audit`; `tests/test_valuation_audit.py` recomputes",
        "every row and checks it against this file.",
        "",
        "| instance | action | public terms | unit | by hand ($) | engine ($) | rel. diff |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        rel = abs(r.engine_usd - r.hand_usd) / max(abs(r.hand_usd), 1.0)
        lines.append(f"| {r.instance} | {r.action} | {r.terms} | {r.unit} | {r.hand_usd:,.0f} | "
                     f"{r.engine_usd:,.0f} | {rel:.1e} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    rows = [r for name in SEEDS for r in audit_rows(ROOT / "instances" / name)]
    out = ROOT / "docs" / "valuation.md"
    out.write_text(render(rows))
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
