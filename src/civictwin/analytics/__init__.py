"""Insight: the Parquet lake, the analytics engines, indicators, the GHG inventory."""
