"""The registry core: officials, their identifiers and appointments, agencies, listings (R1–R5, R9,
R10, R24)."""
