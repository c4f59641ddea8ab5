"""Joint task forces: rosters, eligibility, suspension, commission overrides, attestations
(R17–R21)."""
