"""The spec's version: bumped when a resolved architecture or the canonical weight format changes."""

SPEC_VERSION = "1.0.0"
