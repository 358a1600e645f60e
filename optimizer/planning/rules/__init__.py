"""The plan rules, each stated once, as data over the action catalog.

Every reader takes its rules from here:

* the catalog (`planning.catalog`): which actions exist (`decision_months`,
  `acquire_starts`, `sale_starts`, `convert_starts`, `convert_max_mw`), their block size
  (`convert_block_mw`), and the draw options (`planning.finance.draw_options` reads
  `issuable`);
* the MIP (`mip.data`, `mip.build`): its logic, capacity, financing and cash rows are
  built from `rule_groups`, `finance_groups`, `cash_rows` and `min_units`;
* plan-file validation (`planning.plan_file`) and anyone checking a plan: `violations`;
* the what-if fixes (`planning.fixes`): `exclusive_rule`, `RuleGroups.acquired` and
  `why_ineligible`.

`RULES` names each rule and says it in one sentence:

=============  ==========================================================================
grid           actions and draws start on the decision grid, inside the horizon
eligible       only catalog actions (sign_by, energising lag, sale closes in the horizon)
tranche        a taken convert builds at least min(MIN_CONVERT_MW, its max) MW, or one
               block at a site with hpc.block_mw
blocks         at a site with hpc.block_mw, a convert builds a whole number of blocks
one_sale       a site is sold at most once
sold_idle      a sold site takes no other action
one_acquire    a site is acquired at most once
acquired       a convert at a candidate site needs an acquisition energised by its start
site_mw        MW converted at a site stay within its hpc.max_mw
lease_mw       MW placed under a lease stay within its max_mw
issue_by       an instrument is drawn no later than issue_by (debt: before maturity)
max_usd        an instrument's draws stay within its max_usd
loan_to_cost   secured notes / loan_to_cost stay within the capex the plan funds
min_cash       expected cash stays at or above finance.min_cash_usd in every month
=============  ==========================================================================
"""
from __future__ import annotations

from .check import draw_violations, violations
from .groups import (CashRows, FinanceGroups, RuleGroups, cash_rows, exclusive_rule,
                     finance_groups, rule_groups)
from .statements import (DEBT_KINDS, MIN_CONVERT_MW, MW_TOLERANCE, RULES, USD_TOLERANCE,
                         ActionLike, acquire_starts, convert_block_mw, convert_max_mw,
                         convert_starts, decision_months, eligible, issuable, max_blocks,
                         min_units, sale_starts, whole_blocks, why_ineligible)

__all__ = [
    "ActionLike", "CashRows", "DEBT_KINDS", "FinanceGroups", "MIN_CONVERT_MW", "MW_TOLERANCE",
    "RULES", "RuleGroups", "USD_TOLERANCE", "acquire_starts", "cash_rows", "convert_block_mw",
    "convert_max_mw", "convert_starts", "decision_months", "draw_violations", "eligible",
    "exclusive_rule", "finance_groups", "issuable", "max_blocks", "min_units", "rule_groups",
    "sale_starts", "violations", "whole_blocks", "why_ineligible",
]
