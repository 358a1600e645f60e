"""report.html: content from a real planning run, no external references, and a real
browser that renders it without touching the network.

The context comes from a real run of instances/tiny.toml (300 scenarios): the plan, its
in-sample samples, the cash fan the run computed on its in-sample scenarios
(run.in_sample_cash_fan) and a quality block built from a real out-of-sample
evaluation. Frontier, sensitivity and what-if rows are hand-written in the contract's
shape (another module produces them); they check that the renderer shows what it is
given.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from wattfolio.plan_value import value_plan
from wattfolio.instance.load import load_instance
from wattfolio.planning.plan_file import PlanSpec
from wattfolio.gpu.risk import var
from wattfolio.planning.cash_fan import PERCENTILES, CashFan
from wattfolio.report import ReportContext, build_context, render_report, write_report
from wattfolio.report.gantt import Lane, Segment, timeline_svg
from wattfolio.report.markup import pct, usd
from wattfolio.report.quality_table import quality_rows
from wattfolio.report.timeline import timeline_lanes
from wattfolio.run import in_sample_cash_fan, plan_instance

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "instances" / "tiny.toml"
SCENARIOS = 300


# ---------------------------------------------------------------- fixtures


def _ci(stats: dict) -> list[float]:
    half = 1.96 * stats["expected_npv_se_usd"]
    return [stats["expected_npv_usd"] - half, stats["expected_npv_usd"] + half]


@pytest.fixture(scope="module")
def run():
    instance = load_instance(TINY)
    result = plan_instance(instance, scenarios=SCENARIOS, backend="numpy")
    spec = PlanSpec(actions=list(result.actions), quantities=list(result.quantities),
                    financing=list(result.draws))
    # the plan on fresh scenarios (evaluate's default seed is out-of-sample)
    oos = value_plan(result.instance, spec, scenarios=SCENARIOS, backend="numpy")
    quality = {
        "in_sample": {"expected_npv_usd": result.stats["expected_npv_usd"],
                      "expected_ci95": _ci(result.stats), "cvar_usd": result.stats["cvar_usd"],
                      "scenarios": result.scenarios, "seed": result.seed},
        "out_of_sample": {"expected_npv_usd": oos.stats["expected_npv_usd"],
                          "expected_ci95": _ci(oos.stats), "cvar_usd": oos.stats["cvar_usd"],
                          "scenarios": oos.scenarios, "seed": oos.seed},
    }
    ctx = build_context(result, cash=in_sample_cash_fan(result, backend="numpy"), quality=quality)
    return result, spec, ctx


@pytest.fixture(scope="module")
def page(run) -> str:
    return render_report(run[2])


FRONTIER = [
    {"floor_usd": None, "expected_npv_usd": 101.2e6, "cvar_usd": 40.0e6,
     "decisions": [{"site": "shell", "action": "convert", "start": "2026-01", "mw": 10.0}], "changed": True},
    {"floor_usd": 45e6, "expected_npv_usd": 99.9e6, "cvar_usd": 45.0e6,
     "decisions": [{"site": "shell", "action": "convert", "start": "2026-01", "mw": 10.0}], "changed": False},
    {"floor_usd": 60e6, "expected_npv_usd": 92.36e6, "cvar_usd": 60.0e6,
     "decisions": ["sell mine @2026-01"], "changed": True},
]
SENSITIVITY = [
    {"input": "bitcoin.price_usd", "low": 60000.0, "high": 140000.0, "npv_low_usd": 88e6,
     "npv_high_usd": 131e6, "base_npv_usd": 100e6, "flips_low": False, "flips_high": True,
     "threshold": 122000.0},
    {"input": "hpc_market.rate_kw_month", "low": 120.0, "high": 180.0, "npv_low_usd": 95e6,
     "npv_high_usd": 104e6, "base_npv_usd": 100e6, "flips_low": False, "flips_high": False,
     "threshold": None},
]
COMPARISON = {"expected_npv_given_up_usd": 7.26e6, "cvar_given_up_usd": -1.5e6,
              "fixes": ["sell mine from 2026-07"], "differences": ["shell converts 10 MW instead of 8.7 MW"]}


@pytest.fixture(scope="module")
def full_page(run) -> str:
    ctx = replace(run[2], frontier=FRONTIER, sensitivity=SENSITIVITY, comparison=COMPARISON)
    return render_report(ctx)


def _text_of(page: str, ident: str) -> str:
    m = re.search(rf'id="{re.escape(ident)}"[^>]*>(.*?)</', page, flags=re.S)
    assert m, f"no element with id {ident!r}"
    return m.group(1).strip()


# ---------------------------------------------------------------- formatting


def test_money_format_is_millions_or_billions_with_separators():
    assert usd(3_056_975_552.5) == "$3.06B"
    assert usd(1_234_567_890_123) == "$1,234.57B"
    assert usd(1_121_006_152.6) == "$1.12B"
    assert usd(193_812_000) == "$193.8M"
    assert usd(999_960_000) == "$1.00B"          # rounds up into billions, not "$1,000.0M"
    assert usd(-12_345_678) == "\u2212$12.3M"
    assert usd(450_000) == "$450k"
    assert usd(-0.2) == "$0"                      # no negative zero
    assert usd(None) == "\u2014" and usd(float("nan")) == "\u2014"
    assert pct(0.0412) == "4.1%"


# ---------------------------------------------------------------- content


def test_page_has_every_section_and_the_plans_numbers(run, page):
    result, _, ctx = run
    doc = result.document
    for ident in ("summary", "timeline", "funding", "cash-fan", "npv-histogram", "quality", "assumptions"):
        assert f'id="{ident}"' in page, ident
    stats = doc["stats"]
    assert _text_of(page, "kpi-enpv") == usd(stats["expected_npv_usd"])
    assert _text_of(page, "kpi-cvar") == usd(stats["cvar_usd"])
    assert _text_of(page, "kpi-ploss") == pct(stats["prob_loss"])
    summary = re.search(r'<p class="lede">(.*?)</p>', page, flags=re.S).group(1)
    assert f"<b>{usd(stats['expected_npv_usd'])}</b>" in summary
    assert f"<b>{usd(stats['cvar_usd'])}</b>" in summary
    assert doc["decisions"], "tiny's plan takes at least one action"
    for d in doc["decisions"]:
        assert d["site"] in summary and d["start"] in summary
    for f in doc["financing"]:
        assert f"<td class=\"num\">{usd(f['amount_usd'])}</td><td>{f['start']}</td>" in page
    # header facts
    header = page[:page.index("<main>")]
    assert f"<dd>{SCENARIOS:,}</dd>" in header and doc["instance_sha256"][:12] in header
    assert f"<dd>{doc['seed']}</dd>" in header and f"<dd>{doc['backend']}</dd>" in header
    # assumptions: the instance's own values
    assumptions = page[page.index('id="assumptions"'):]
    assert "$150/kW-mo" in assumptions                     # tenant-a's rent
    assert "<td>$20.0M</td>" in assumptions                # cash on hand
    assert "25 J/TH" in assumptions                        # the mine's fleet


def test_context_carries_the_runs_cash_fan_and_var(run, page):
    """The fan the page draws is the run's: the plan's in-sample month-end cash, reduced by
    the run; checked here against an independent valuation of the same scenarios."""
    result, spec, ctx = run
    fan = ctx.cash
    assert (fan.sample, fan.scenarios, fan.seed) == ("in-sample", SCENARIOS, result.seed)
    again = value_plan(result.instance, spec, scenarios=SCENARIOS, seed=result.seed, backend="numpy",
                          cash_balance=True)
    cash = again.cash_balance
    assert cash.shape == (SCENARIOS, result.instance.plan.months) and fan.months == cash.shape[1]
    for p in PERCENTILES:
        np.testing.assert_allclose(fan.quantiles[p], np.percentile(cash, p, axis=0), rtol=1e-12)
    floor = result.instance.finance.min_cash_usd
    below = float(np.mean(cash.min(axis=1) < floor))
    assert fan.prob_below_min == pytest.approx(below)
    assert fan.prob_below_zero == pytest.approx(float(np.mean(cash.min(axis=1) < 0)))
    assert f"minimum in {pct(below)} of scenarios" in page
    assert "Drawn from the plan's own 300 in-sample scenarios (seed 1)" in page
    assert ctx.var_usd == var(result.samples, result.instance.risk.alpha)
    # plan.json's shape round-trips: the CLI rebuilds the out-of-sample fan from it
    back = CashFan.from_dict(json.loads(json.dumps(fan.to_dict())))
    assert (back.start_month, back.sample, back.seed) == (fan.start_month, fan.sample, fan.seed)
    for p in PERCENTILES:
        np.testing.assert_array_equal(back.quantiles[p], fan.quantiles[p])


def test_cash_paths_belong_to_the_plans_own_scenarios(run):
    result, spec, _ = run
    again = value_plan(result.instance, spec, scenarios=SCENARIOS, seed=result.seed, backend="numpy",
                          cash_balance=True)
    np.testing.assert_array_equal(again.samples, result.samples)


def test_quality_table_shows_known_and_unknown_checks():
    quality = {
        "out_of_sample": {"expected_npv_usd": 98.7e6, "expected_ci95": [95.1e6, 102.3e6], "cvar_usd": 50.5e6,
                          "scenarios": 5000, "seed": 1000004},
        "mmw": {"gap_mean_usd": 1.2e6, "gap_se_usd": 0.3e6, "gap_upper95_usd": 1.7e6, "batches": 10,
                "batch_scenarios": 200},
        "vss": {"value_usd": 4.4e6},
        "evpi": {"value_usd": 12.0e6, "se_usd": 0.8e6},
        "new_check": {"foo_usd": 1.5e6, "hit_prob": 0.25},
        "seconds": 12.5,
    }
    rows = quality_rows(quality)
    as_dict = {(g, m): v for g, m, v in rows}
    oos = "Out-of-sample (fresh scenarios)"
    mmw = "Optimality gap (Mak–Morton–Wood)"
    assert as_dict[(oos, "E[NPV] 95% interval")] == "$95.1M to $102.3M"
    assert as_dict[(oos, "seed")] == "1000004"
    assert as_dict[(mmw, "gap, 95% upper bound")] == "$1.7M"
    assert as_dict[(mmw, "batches")] == "10"
    assert as_dict[("Expected value of perfect information", "standard error")] == "$800k"
    assert as_dict[("new check", "foo")] == "$1.5M"
    assert as_dict[("new check", "hit prob")] == "25.0%"
    assert as_dict[("", "seconds")] == "12.5"
    # known checks come first, in their order; unknown ones after
    groups = list(dict.fromkeys(g for g, _, _ in rows))
    assert groups == [oos, mmw, "Value of the stochastic solution", "Expected value of perfect information",
                      "new check", ""]


def test_quality_nested_shape_and_long_lists_stay_compact():
    """wattfolio.analysis.quality nests estimates ({estimate_usd, se_usd, ci95_usd}) and carries
    per-month cash paths and per-batch rows: those must not flood the table."""
    quality = {"out_of_sample": {
        "in_sample": {"expected_npv": {"estimate_usd": 1.0e8, "se_usd": 2.0e6, "ci95_usd": [0.96e8, 1.04e8]}},
        "cash_balance_usd": {"months": [f"2026-{m:02d}" for m in range(1, 13)], "p5": list(range(12))},
    }, "optimality_gap": {"upper95_usd": 3.0e6, "per_batch": [{"seed": 1, "gap_usd": 1.0}] * 3,
                          "relative_upper95": 0.03}}
    as_dict = {(g, m): v for g, m, v in quality_rows(quality)}
    oos = "Out-of-sample (fresh scenarios)"
    assert as_dict[(oos, "in-sample · E[NPV]")] == "$100.0M"
    assert as_dict[(oos, "in-sample · E[NPV] · 95% interval")] == "$96.0M to $104.0M"
    assert "12 entries" in as_dict[(oos, "cash · months")]
    gap = "Optimality gap (Mak–Morton–Wood)"
    assert "3 entries" in as_dict[(gap, "per batch")]
    assert as_dict[(gap, "gap upper bound / objective")] == "3.0%"


def test_report_of_the_real_analyses(run):
    """The report fed by the modules that produce quality, frontier, sensitivity and
    what-if (run small on tiny): every section renders, with their numbers."""
    quality = pytest.importorskip("wattfolio.analysis.quality")
    frontier = pytest.importorskip("wattfolio.analysis.frontier")
    sensitivity = pytest.importorskip("wattfolio.analysis.sensitivity")
    whatif = pytest.importorskip("wattfolio.analysis.whatif")
    result = run[0]
    instance = load_instance(TINY)
    q = quality.assess(instance, result, oos_scenarios=SCENARIOS, batches=3, batch_scenarios=100,
                       evpi_scenarios=10, backend="numpy")
    fr = frontier.frontier(instance, points=3, scenarios=SCENARIOS, backend="numpy")
    se = sensitivity.sensitivity(instance, result, scenarios=SCENARIOS, backend="numpy",
                                 inputs=["hpc_rent", "capex"])
    fixes = whatif.parse_fixes(["mine=sell@2026-07"], None, instance)
    _, _, cmp = whatif.run_whatif(instance, fixes, scenarios=SCENARIOS, backend="numpy")
    # the fan from the out-of-sample evaluation quality ran, as the plan command does
    fan = CashFan.from_dict(q["out_of_sample"]["cash_balance_usd"])
    ctx = replace(run[2], cash=fan, quality=q, frontier=fr, sensitivity=se, comparison=cmp)
    text = render_report(ctx)
    assert f"Drawn from {fan.scenarios:,} fresh out-of-sample scenarios (seed {fan.seed})" in text
    for ident in ("quality", "frontier", "tornado", "comparison"):
        assert f'id="{ident}"' in text, ident
    table = text[text.index('<table id="quality"'):]
    table = table[:table.index("</table>")]
    assert usd(q["out_of_sample"]["out_of_sample"]["expected_npv"]["estimate_usd"]) in table
    assert len(table) < 40_000, "per-month and per-batch arrays leaked into the quality table"
    for r in fr:
        assert usd(r["expected_npv_usd"]) in text
    assert se[0]["label"] in text and f"\u00d7{se[0]['low']:.3g}" in text
    assert _text_of(text, "whatif-enpv") == usd(cmp["expected_npv_given_up_usd"])
    assert "sell mine from 2026-07" in text


def test_quality_from_a_real_run_is_a_table(run, page):
    quality = run[2].quality
    assert '<table id="quality"' in page
    table = page[page.index('<table id="quality"'):]
    table = table[:table.index("</table>")]
    assert usd(quality["out_of_sample"]["expected_npv_usd"]) in table
    lo, hi = quality["in_sample"]["expected_ci95"]
    assert f"{usd(lo)} to {usd(hi)}" in table


def test_quality_not_run_is_stated(run):
    text = render_report(replace(run[2], quality=None))
    m = re.search(r'<p class="note" id="quality">(.*?)</p>', text, flags=re.S)
    assert m and "not run" in m.group(1)


def test_optional_sections_appear_only_when_given(run, page, full_page):
    for ident in ("frontier", "tornado", "comparison"):
        assert f'id="{ident}"' not in page
        assert f'id="{ident}"' in full_page
    assert "$92.4M" in full_page and "$60.0M" in full_page       # frontier row 3
    assert "$131.0M" in full_page and "<td class=\"num\">$122k</td>" in full_page  # tornado row 1, threshold in $
    assert "$7.3M" in full_page and "sell mine from 2026-07" in full_page


def test_timeline_lanes_follow_the_decisions():
    instance = load_instance(TINY)
    doc = {"decisions": [{"site": "mine", "action": "convert", "start": "2026-07", "mw": 10.0,
                          "lease": "tenant-a"}], "financing": []}
    lanes = {(lane.group, lane.label): lane for lane in timeline_lanes(instance, doc)}
    mining = lanes[("mine", "mining")].segments
    # 20 grid MW until the conversion starts; then 20 - 10 x pue 1.2 = 8 MW to the horizon
    assert [(s.start, s.end, s.text) for s in mining] == [(0, 6, "20 MW"), (6, 36, "8 MW")]
    convert = lanes[("mine", "10 MW \u2192 Tenant A")]
    kinds = [(s.kind, s.start, s.end) for s in convert.segments]
    assert ("build", 6, 12) in kinds                      # build_months 6
    assert ("lease", 12, 36) in kinds                      # 10-year lease capped at the horizon
    assert ("delay", 12, 13.0) in kinds                    # delay_months_mean 1
    assert convert.note == "runs to 2037-01 \u25b8"        # 2026-07 + 6 + 120 months
    assert lanes[("shell", "held, no action")].segments[0].kind == "hold"

    sold = {"decisions": [{"site": "mine", "action": "sell", "start": "2026-07"}], "financing": []}
    lanes = {(lane.group, lane.label): lane for lane in timeline_lanes(instance, sold)}
    assert [(s.start, s.end) for s in lanes[("mine", "mining")].segments] == [(0, 9)]  # until the close
    assert [(s.kind, s.start, s.end) for s in lanes[("mine", "sale")].segments] == [("sell", 6, 9)]


def test_write_report_is_atomic_and_whole(run, tmp_path):
    target = tmp_path / "out" / "report.html"
    write_report(run[2], target)
    text = target.read_text(encoding="utf-8")
    assert text == render_report(run[2])
    assert text.rstrip().endswith("</html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]   # no staging left


# ---------------------------------------------------------------- self-containment

EXTERNAL = [
    (r"http://", "an http:// URL"),
    (r"https://", "an https:// URL"),
    (r"""(?:src|href)\s*=\s*["']?//""", "a protocol-relative src/href"),
    (r"""(?:src|href)\s*=\s*["']?(?!#)[a-z][a-z0-9+.-]*:""", "a src/href with a scheme"),
    (r"<script", "a script"),
    (r"<link\b", "a link element"),
    (r"@import", "a CSS @import"),
    (r"url\(\s*[\"']?(?!#)", "a CSS url() other than a fragment"),
    (r"<iframe|<object|<embed", "an embedded document"),
]


@pytest.mark.parametrize("pattern,what", EXTERNAL)
def test_page_has_no_external_reference(full_page, pattern, what):
    hit = re.search(pattern, full_page, flags=re.I)
    assert hit is None, f"{what}: ...{full_page[max(0, hit.start() - 80):hit.end() + 80]}..."


def test_chart_ids_are_unique(full_page):
    ids = re.findall(r'\bid="([^"]+)"', full_page)
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, sorted(duplicates)[:10]


# ---------------------------------------------------------------- in a real browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


CHROMIUM = _chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")


def _load(netlog: Path) -> dict:
    text = netlog.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:       # a log cut at exit lacks its closing brackets
        return json.loads(text.rstrip().rstrip(",") + "]}")


def page_requests(netlog: Path) -> list[str]:
    """URLs the page asked the network for. Chromium makes its own background requests
    (component updates, time, accounts) even headless; those carry a network isolation key
    that is not the page's. A request made for the page, loaded from file://, is keyed by
    the file:// site."""
    log = _load(netlog)
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event.get("type") == start_job and "url" in params:
            nik = str(params.get("network_isolation_key", ""))
            if nik.startswith("file://") and not params["url"].startswith("file:"):
                urls.append(params["url"])
    return urls


def browse(html_path: Path, work: Path) -> tuple[str, list[str], Path]:
    """Load a page in headless Chromium: (DOM after load, network URLs it requested, screenshot)."""
    work.mkdir(parents=True, exist_ok=True)
    shot, netlog = work / "page.png", work / "netlog.json"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={work / 'profile'}", f"--log-net-log={netlog}",
           "--net-log-capture-mode=Default", f"--screenshot={shot}", "--window-size=1280,4000",
           "--dump-dom", html_path.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert netlog.exists(), "chromium wrote no net log"
    return done.stdout, page_requests(netlog), shot


@needs_chromium
def test_network_check_detects_a_request(tmp_path):
    bait = tmp_path / "bait.html"
    bait.write_text('<!DOCTYPE html><html><body><p id="x">x</p>'
                    '<img src="http://127.0.0.1:9/x.png"></body></html>', encoding="utf-8")
    dom, requests, _ = browse(bait, tmp_path / "bait")
    assert 'id="x"' in dom
    assert "http://127.0.0.1:9/x.png" in requests


@needs_chromium
def test_report_renders_offline_in_chromium(full_page, tmp_path):
    html_path = tmp_path / "report.html"
    html_path.write_text(full_page, encoding="utf-8")
    dom, requests, shot = browse(html_path, tmp_path / "chromium")
    assert requests == [], f"the report made network requests: {requests}"
    for ident in ("timeline", "npv-histogram", "cash-fan", "frontier", "tornado"):
        assert re.search(rf'<figure id="{ident}"><svg\b', dom), ident
    assert '<table id="quality"' in dom
    assert shot.stat().st_size > 50_000
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] == 4000 and pixels.shape[1] == 1280
    rgb = np.round(pixels[..., :3] * 255).astype(np.uint32)
    colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
    assert len(colours) > 50, "the screenshot is (nearly) one colour"
    assert pixels[..., :3].std() > 0.05                    # not a blank page with a few specks


def test_a_plan_that_does_nothing_still_reads(run):
    """An empty plan (keep every site as it is, no financing), valued for real, and no cash
    paths: the page says so instead of failing."""
    instance = run[0].instance
    ev = value_plan(instance, PlanSpec(), scenarios=100, seed=instance.plan.seed, backend="numpy")
    doc = {"schema": 1, "name": instance.plan.name, "decisions": [], "financing": [], "stats": ev.stats,
           "scenarios": ev.scenarios, "seed": ev.seed, "backend": ev.backend}
    text = render_report(ReportContext(instance=instance, document=doc, samples=ev.samples))
    summary = re.search(r'<p class="lede">(.*?)</p>', text, flags=re.S).group(1)
    assert "Take no action" in summary and "Keep mining at <b>mine</b>" in summary
    assert "No decisions" in text and "No financing draws" in text
    assert re.search(r'<p class="note" id="cash-fan">[^<]*not computed', text)
    assert _text_of(text, "kpi-enpv") == usd(ev.stats["expected_npv_usd"])


# ---------------------------------------------------------------- a pure renderer, plain labels


FORBIDDEN = ("wattfolio.plan_value", "wattfolio.planning.valuation", "wattfolio.gpu.valuation")


def _imports(path: Path, package: str) -> set[str]:
    """Every module (and module.name for `from m import name`) a file imports, absolute."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(x for x in (base, node.module) if x)
            out.add(module)
            out.update(f"{module}.{a.name}" for a in node.names)
    return out


def test_report_imports_no_valuation():
    """report/ draws what the run computed: it imports no valuation, whatever the form."""
    files = sorted((ROOT / "optimizer" / "report").glob("*.py"))
    assert len(files) > 5
    for path in files:
        for name in _imports(path, "wattfolio.report"):
            assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), f"{path.name}: {name}"
            assert not name.startswith("wattfolio.gpu"), f"{path.name}: {name}"
            # from the run, its data class only (for type hints)
            assert not name.startswith("wattfolio.run.") or name == "wattfolio.run.PlanResult", \
                f"{path.name}: {name}"


def _glyph_id(chart: str, char: str, style: str = "normal") -> str:
    """The id matplotlib's SVG gives the glyph of `char` (glyphs are drawn as paths)."""
    from matplotlib.font_manager import FontProperties, findfont
    from matplotlib.ft2font import FT2Font

    index = FT2Font(findfont(FontProperties(family="DejaVu Sans", style=style))).get_char_index(ord(char))
    return f'id="{chart}-DejaVuSans-{"Oblique-" if style != "normal" else ""}{index:x}"'


def test_dollar_signs_in_labels_are_plain_text():
    """A pair of $ in a user string must not start mathtext: the dollars are drawn and
    nothing is set in math italics, and invalid TeX between them does not fail."""
    svg = timeline_svg([Lane("$x$", "held", [Segment("hold", 0, 12)])], 2026 * 12, 36)
    assert _glyph_id("timeline", "$") in svg and "Oblique" not in svg
    noted = timeline_svg([Lane("site", "held", [Segment("hold", 0, 12)], note="a $b$")], 2026 * 12, 36)
    assert _glyph_id("timeline", "$", "oblique") in noted     # an italic note: its own dollars, slanted
    from wattfolio.report.charts import tornado_svg

    tornado_svg([r"$\notamacro{$"], [1e6], [2e6], 1.5e6, [r"$\frac$"], ["$y$"])   # not TeX: no parse error


def test_site_id_with_dollars_renders(run):
    """Sites named "$x$" and "shell $x$" (the plan's conversions are at shell): the page
    renders, the names appear as given in the text and on the chart."""
    result = run[0]
    names = {"mine": "$x$", "shell": "shell $x$"}
    instance = replace(result.instance,
                       sites=tuple(replace(s, id=names[s.id]) for s in result.instance.sites),
                       leases=tuple(replace(le, sites=tuple(names[s] for s in le.sites))
                                    for le in result.instance.leases))
    doc = result.document
    doc["decisions"] = [{**d, "site": names[d["site"]]} for d in doc["decisions"]]
    assert doc["decisions"]
    text = render_report(ReportContext(instance=instance, document=doc, samples=result.samples))
    assert "Keep mining at <b>$x$</b>" in text and "At <b>shell $x$</b>, convert" in text
    assert "<td>shell $x$</td><td>convert</td>" in text
    timeline = re.search(r'<figure id="timeline">(.*?)</figure>', text, flags=re.S).group(1)
    assert "<!-- $x$  ·  mining -->" in timeline       # the lane's label, as given
    assert _glyph_id("timeline", "$") in timeline      # drawn as dollars, not as math


@pytest.mark.parametrize("lo, hi", [(2.0665e9, 2.0675e9), (4.0e7, 4.6e7), (-3e6, 2.5e6),
                                    (1.2e9, 9.8e9), (999.5e6, 1000.4e6)])
def test_money_ticks_never_repeat(lo, hi):
    """A narrow range ($2.0665B..$2.0675B, the frontier that once printed "$2.067B" five
    times) gets as many decimals as its tick spacing needs."""
    from matplotlib.ticker import MaxNLocator

    from wattfolio.report.svg import MoneyFormatter, money_axis

    locs = MaxNLocator(nbins=6).tick_values(lo, hi)
    fmt = MoneyFormatter(*money_axis([lo, hi]))
    fmt.set_locs(locs)
    labels = [fmt(v) for v in locs]
    assert len(set(labels)) == len(labels), labels
