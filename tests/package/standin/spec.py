"""Stand-in for the unrelated PyPI distribution named spec."""

OWNER = "standin"
