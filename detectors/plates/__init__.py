"""Licence plates: detection with corner points, rectification, recognition, colour, format validation."""
