"""Attribute classifiers on top of detections: truck cover state, shared-bike brand, fallen bikes."""
