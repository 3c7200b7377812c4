"""Stand-in for the unrelated PyPI distribution named bench."""

OWNER = "standin"
