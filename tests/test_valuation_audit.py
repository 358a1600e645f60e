"""docs/valuation.md: every row recomputed, by hand and by the engine, and checked against
the file; the hand side and the engine agree."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from wattfolio.analysis.audit import SEEDS, audit_rows

ROOT = Path(__file__).resolve().parents[1]


def _doc_rows() -> list[list[str]]:
    text = (ROOT / "docs" / "valuation.md").read_text()
    rows = [line.strip().strip("|").split("|") for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| instance")]
    return [[c.strip() for c in r] for r in rows]


def _usd(cell: str) -> float:
    return float(re.sub(r"[,$]", "", cell))


@pytest.fixture(scope="module")
def recomputed():
    return [r for name in SEEDS for r in audit_rows(ROOT / "instances" / name)]


def test_every_row_is_reproduced(recomputed):
    doc = _doc_rows()
    assert len(doc) == len(recomputed) >= 6
    for cells, row in zip(doc, recomputed):
        assert cells[0] == row.instance and cells[1] == row.action
        assert _usd(cells[4]) == pytest.approx(row.hand_usd, abs=0.5)
        assert _usd(cells[5]) == pytest.approx(row.engine_usd, abs=0.5)


def test_hand_and_engine_agree(recomputed):
    """Float64 cash flows and float32 hourly prices: within 1e-6 of the larger figure."""
    for row in recomputed:
        assert row.engine_usd == pytest.approx(row.hand_usd, rel=1e-6, abs=1.0), row.action
