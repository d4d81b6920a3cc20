"""The data space: participants, usage policies, contracts, transfers, consent and audit."""
