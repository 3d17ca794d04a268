"""registry domain app."""
