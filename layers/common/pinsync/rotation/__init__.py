"""The token rotation function: Secrets Manager's rotation protocol for the Pinterest OAuth token."""
