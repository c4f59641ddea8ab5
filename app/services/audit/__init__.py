"""The tamper-evident audit log, its queries, and the volume quotas that keep reads on the record
(R22, #19)."""
