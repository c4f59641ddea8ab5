"""Screening candidates against the registry of both countries, and the watches it leaves (R3, R11,
R12)."""
