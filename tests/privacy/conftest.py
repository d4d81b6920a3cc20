"""Fixtures of the privacy tests: the analytics tests' Spark session."""

from tests.analytics.conftest import spark

__all__ = ["spark"]
