"""The page's look: one palette for the CSS and the charts, and the stylesheet.

The stylesheet is inlined in the page's ``<style>`` (the page fetches nothing); it
prints on A4 (`@media print`).
"""
from __future__ import annotations

# One palette for the page and its charts: a chart's navy is the heading's navy.
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#e4e7eb"
NAVY = "#1d3557"
BLUE = "#457b9d"
SKY = "#a8c5da"
PALE = "#dbe7f0"
AMBER = "#e09f3e"
SAND = "#f3d9a4"
SLATE = "#8d99ae"
RED = "#b83b3b"
ROSE = "#f1b5b5"
TEAL = "#2a9d8f"
PLUM = "#7b4b94"

CSS = """
:root{--ink:%(INK)s;--muted:%(MUTED)s;--grid:%(GRID)s;--navy:%(NAVY)s;--blue:%(BLUE)s;
--pale:%(PALE)s;--red:%(RED)s;--amber:%(AMBER)s}
*{box-sizing:border-box}
html{background:#f5f7fa}
body{margin:0;color:var(--ink);font:15px/1.55 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",
"Liberation Sans",Arial,sans-serif;-webkit-font-smoothing:antialiased}
main{max-width:1120px;margin:0 auto;padding:0 28px 48px}
.masthead{background:var(--navy);color:#fff;padding:28px 0 22px}
.masthead>*{max-width:1120px;margin-left:auto;margin-right:auto;padding:0 28px}
.eyebrow{text-transform:uppercase;letter-spacing:.12em;font-size:12px;opacity:.75}
h1{font-size:30px;margin:4px auto 14px;font-weight:650;letter-spacing:-.01em}
.facts{display:flex;flex-wrap:wrap;gap:8px 28px;margin:0 auto}
.facts div{min-width:0}.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.08em;opacity:.7}
.facts dd{margin:0;font-size:14px}
.facts code{font-size:13px;color:#fff}
section{background:#fff;border:1px solid var(--grid);border-radius:8px;padding:22px 26px;margin:22px 0}
h2{font-size:20px;margin:0 0 4px;color:var(--navy);font-weight:650}
h3{font-size:14px;margin:18px 0 6px;color:var(--navy);text-transform:uppercase;letter-spacing:.05em}
p.how{color:var(--muted);margin:0 0 14px;font-size:14px}
p.lede{font-size:16px;margin:6px 0 18px;line-height:1.6}
.note{color:var(--muted);font-style:italic}
.muted{color:var(--muted)}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:0 0 18px}
.kpi{border:1px solid var(--grid);border-left:4px solid var(--blue);border-radius:6px;padding:10px 14px}
.kpi .label{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.kpi .value{font-size:24px;font-weight:650;color:var(--navy);font-variant-numeric:tabular-nums}
.kpi .sub{font-size:12px;color:var(--muted)}
table{border-collapse:collapse;width:100%%;margin:6px 0 12px;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid var(--grid);text-align:left;vertical-align:top}
thead th{font-size:11.5px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);
border-bottom:2px solid var(--grid);font-weight:600}
td.num,th.num{text-align:right}td.num{white-space:nowrap}
.table-wrap{overflow-x:auto}
tfoot td{font-weight:650;border-top:2px solid var(--grid)}
tbody tr:hover{background:#f8fafc}
table.compact{font-size:12.5px}table.compact td,table.compact th{padding:4px 8px}
table.quality{table-layout:fixed}table.quality tbody th{font-weight:600;color:var(--navy)}
table.quality th:nth-child(1){width:28%%}table.quality th:nth-child(2){width:44%%}
details{margin:4px 0 8px}details summary{cursor:pointer;color:var(--blue);font-size:13.5px}
table.quality tr.group-start td,table.quality tr.group-start th{border-top:2px solid var(--grid)}
.kv-grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:0 32px}
@media (max-width:760px){.kv-grid{grid-template-columns:1fr}}
table.compact td:first-child{white-space:nowrap}
td.nowrap{white-space:nowrap}
.kv table th{font-weight:500;color:var(--muted);width:42%%}
figure{margin:8px 0 14px}
figcaption{font-size:13px;color:var(--muted);margin-top:4px}
svg.chart{width:100%%;height:auto;display:block}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:12px}
@media print{
 html,body{background:#fff;font-size:11pt}
 .masthead{background:#fff;color:var(--ink);border-bottom:2px solid var(--navy);padding:0 0 8px}
 .masthead>*{padding:0}.facts code{color:var(--ink)}
 main{max-width:none;padding:0}
 section{border:none;border-radius:0;padding:8px 0;margin:10px 0;break-inside:auto}
 figure,tr,.kpis,.kpi{break-inside:avoid}
 h2,h3,p.how{break-after:avoid}
 .table-wrap{overflow:visible}
 table{font-size:8.5pt}table.compact{font-size:7.5pt}
 th,td{padding:3px 5px}
 p.lede{font-size:11pt}
 tbody tr:hover{background:none}
 @page{size:A4;margin:14mm 12mm}
}
""" % {"INK": INK, "MUTED": MUTED, "GRID": GRID, "NAVY": NAVY, "BLUE": BLUE, "PALE": PALE,
       "RED": RED, "AMBER": AMBER}
