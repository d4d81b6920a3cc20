"""civictwin: a local digital twin and data space for cities."""

__version__ = "0.1.0"
