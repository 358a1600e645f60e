"""How many scenarios a streamed valuation holds at once.

A plan's cash is valued `BLOCK_SCENARIOS` scenarios at a time (`plan_value.value_plan`,
the liquidity oracle): each block's (block x months) arrays are reduced and let go, so
memory does not grow with the scenario count. Up to `EXACT_SCENARIOS` scenarios the
month-by-month percentiles are computed exactly (`planning.cash_reduce`). Read at call
time (``blocks.BLOCK_SCENARIOS``), so that tests can shrink them.
"""
from __future__ import annotations

BLOCK_SCENARIOS = 1 << 15   # ~6 (block x months) float64 arrays live: 225 MB at 144 months
EXACT_SCENARIOS = BLOCK_SCENARIOS
