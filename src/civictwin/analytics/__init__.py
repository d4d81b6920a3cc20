"""Insight: history lake, indicators, greenhouse-gas inventory, scenarios, forecasts, register."""
