"""Audience health: a scheduled read of every mapped customer list and audience on Pinterest, remembered per audience
in the state table, reported as metrics and one ``Audience Health`` event that the alert function judges."""
