"""Scenario engine: counter-based random numbers, factor paths and valuation kernels.

Arrays in, arrays out. Nothing here imports `optimizer` or Pyomo.
"""
