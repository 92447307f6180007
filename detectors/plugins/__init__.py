"""Detector backends, one small module each, imported lazily by :mod:`detectors.registry`."""
