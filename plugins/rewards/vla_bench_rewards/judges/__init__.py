"""Judges: models (and reference checks) that answer questions about an episode's frames."""
