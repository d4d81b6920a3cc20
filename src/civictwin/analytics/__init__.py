"""Insight: the Parquet lake, analytics engines, indicators, GHG inventory, scenarios, forecasts.

The algorithm register (algorithms.py) describes every model here.
"""
