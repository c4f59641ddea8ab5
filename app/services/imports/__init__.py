"""Bulk imports of officials and evaluations (DESIGN §2, R25)."""
