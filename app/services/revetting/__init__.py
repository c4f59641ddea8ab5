"""Career-long re-vetting: evaluations, policies, schedules and due lists, sweeps, coverage, random
draws (R6–R8, R13–R16)."""
