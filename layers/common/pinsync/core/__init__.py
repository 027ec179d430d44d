"""What every function shares: errors, settings, the deadline, retry policy and observability (logs, metrics)."""
