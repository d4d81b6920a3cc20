"""Data Cooperation Canvas: one structured, checked document per data collaboration."""
