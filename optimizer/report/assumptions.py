"""The "Key assumptions" section: the instance's inputs as given, in tables."""
from __future__ import annotations

from ..instance.types import Bitcoin, Site, month_str
from .context import ReportContext
from .markup import DASH, esc, kv_table, mw, num, pct, section, table, usd
from .text import instrument_terms


def _site_cells(site: Site) -> list[str]:
    m, h, s, a = site.mining, site.hpc, site.sale, site.acquire
    return [
        esc(site.id), esc(site.market), esc(f"{site.status} / {site.use}"), mw(site.capacity_mw),
        f"{site.ownership:.0%}",
        f"{m.efficiency_j_per_th:g} J/TH, ${m.opex_usd_per_mw_month:,.0f}/MW-month" if m else DASH,
        (f"≤ {mw(h.max_mw)}" + (f" in {mw(h.block_mw)} blocks" if h.block_mw > 0 else "")
         + f", ${h.capex_usd_per_mw / 1e6:,.2f}M/MW (±{h.capex_overrun_volatility:.0%}), "
         f"{h.build_months} mo + {h.delay_months_mean:g} delay, PUE {h.pue:g}") if h else DASH,
        (f"{usd(s.low_usd)} / {usd(s.mode_usd)} / {usd(s.high_usd)}, {s.close_probability:.0%} in "
         f"{s.months_to_close} mo") if s else DASH,
        f"{usd(a.cost_usd)}, energised in {a.energize_months} mo" if a else DASH,
    ]


def _network_rule(b: Bitcoin) -> str:
    """How the network's hashrate moves, in words: exogenous growth or economic reversion."""
    if not b.economic:
        return f"+{pct(b.hashrate_growth, 0)}/year"
    return (f"hashprice reverts to ${1000.0 * b.breakeven_hashprice:,.1f}/PH/s/day (marginal fleet "
            f"{b.marginal_efficiency_j_per_th:g} J/TH at ${b.marginal_power_usd_per_mwh:g}/MWh) "
            f"at {b.hashrate_adjustment_speed:g}/year")


def assumptions_section(ctx: ReportContext) -> str:
    """Plan settings, bitcoin, HPC rent, finance, markets, sites, leases, instruments.

    Parameters
    ----------
    ctx : ReportContext

    Returns
    -------
    str
        The section's HTML.
    """
    inst = ctx.instance
    p, r, b, h, f = inst.plan, inst.risk, inst.bitcoin, inst.hpc_market, inst.finance
    settings = kv_table("Plan", [
        ("Start, horizon", f"{month_str(p.start)}, {p.horizon_years} years"),
        ("Decision step", f"every {p.decision_step_months} months"),
        ("Discount rate", pct(p.discount_rate)),
        ("Terminal multiples", f"HPC {p.terminal_multiple.hpc:g}×, mining {p.terminal_multiple.mining:g}× "
                               "last-year NOI"),
        ("Risk", f"CVaR at α = {r.alpha:g}" + (f", floor {usd(r.cvar_floor_usd)}" if r.cvar_floor_usd is not None
                                               else ", no floor") + (f", weight {r.weight:g}" if r.weight else "")),
        ("Scenarios, seed", f"{num(ctx.document.get('scenarios', p.scenarios))}, "
                            f"{esc(ctx.document.get('seed', p.seed))}"),
        ("Hours sampled", f"{p.hours_per_month} of 730 per month"),
    ])
    btc = kv_table("Bitcoin", [
        ("Price", f"{usd(b.price_usd)}, drift {pct(b.drift)}, volatility {pct(b.volatility, 0)}"),
        ("Network hashrate", f"{b.network_hashrate_ehs:,.0f} EH/s, {_network_rule(b)}, "
                             f"price elasticity {b.hashrate_price_elasticity:g}"),
        ("Block reward", f"{b.subsidy_btc:g} BTC subsidy + {b.fees_btc_per_block:g} BTC fees"),
        ("Halvings", ", ".join(month_str(m) for m in b.halvings) or "none in the horizon"),
    ])
    hpc = kv_table("HPC rent market", [
        ("Rent", f"${h.rate_kw_month:,.0f}/kW-month"),
        ("Drift, volatility", f"{pct(h.drift)}, {pct(h.volatility, 0)}"),
        ("Mean reversion", f"{h.mean_reversion:g}/year"),
    ])
    cash = kv_table("Finance", [
        ("Cash on hand", usd(f.cash_usd)), ("Minimum cash", usd(f.min_cash_usd)),
        ("Instruments", str(len(f.instruments))),
        ("Cost of debt, risk-free rate", f"{pct(f.cost_of_debt, 2)}, {pct(f.risk_free_rate, 2)}"),
    ])
    markets = table(
        ["Market", "Mean $/MWh", "Volatility", "Reversion /yr", "Seasonality", "Hourly vol.",
         "Spikes", "Cap $/MWh"],
        [[esc(m.id), f"{m.mean_price:,.1f}", pct(m.volatility, 0), f"{m.mean_reversion:g}",
          f"±{m.seasonal_amplitude:.0%}, peak month {m.seasonal_peak_month}", pct(m.hourly_volatility, 0),
          f"{m.spike_probability:.2%} of hours at ${m.spike_price:,.0f}", f"{m.price_cap:,.0f}"]
         for m in inst.markets], cls="compact", numeric=(1, 2, 3, 5, 7))
    sites = table(["Site", "Market", "Status / use", "Grid", "Owned", "Mining", "HPC conversion",
                   "Sale (low / mode / high)", "Acquisition"],
                  [_site_cells(s) for s in inst.sites], cls="compact", numeric=(3, 4))
    leases = table(
        ["Lease", "Tenant", "Sites", "Max", "Starting rent", "Contract total", "Escalator", "Tenor",
         "NOI margin", "Sign by", "Default /yr", "Backstop", "Backstop cost", "Renewal", "Re-let"],
        [[esc(le.id), esc(le.tenant), esc(", ".join(le.sites)), mw(le.max_mw),
          f"${le.rate_kw_month:,.1f}/kW-mo", usd(le.contract_total_usd), pct(le.escalator), f"{le.tenor_years} y",
          pct(le.noi_margin, 0), month_str(le.sign_by), pct(le.default_rate),
          usd(le.backstop_usd) if le.backstop_usd else DASH,
          usd(le.backstop_cost_usd) if le.backstop_cost_usd else DASH,
          pct(le.renewal_probability, 0), f"{le.relet_months} mo"] for le in inst.leases],
        cls="compact", numeric=(3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)) if inst.leases else ""
    instruments = table(
        ["Instrument", "Kind", "Up to", "Issue by", "Terms"],
        [[esc(k.id), esc(k.kind.replace("_", " ")), usd(k.max_usd),
          month_str(k.issue_by) if k.issue_by is not None else "committed", instrument_terms(k)]
         for k in f.instruments], cls="compact", numeric=(2,)) if f.instruments else ""
    body = (f'<div class="kv-grid">{settings}{btc}{hpc}{cash}</div>'
            f"<h3>Power markets</h3>{markets}<h3>Sites</h3>{sites}"
            + (f"<h3>Lease offers</h3>{leases}" if leases else "")
            + (f"<h3>Financing instruments</h3>{instruments}" if instruments else ""))
    return section(
        "assumptions", "Key assumptions",
        "The inputs behind every number above, as given in the instance file: change one and "
        "re-run the plan to see what it moves.", body)
