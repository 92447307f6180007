"""Reproducible performance measurements; run from the repository root, see each module for how."""
