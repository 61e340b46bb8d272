"""The audit log: who did what to which client, hash-chained and append-only."""
