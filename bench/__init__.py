"""Benchmarks of civictwin against raw-database baselines measured in the same run."""
