"""Stand-in for the unrelated PyPI distribution named conformance."""

OWNER = "standin"
