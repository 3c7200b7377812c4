"""The conformance suite: every backend against the spec's numpy reference and against each other."""
