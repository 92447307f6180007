"""Detector backends behind one interface; a leaf package (imports nothing else from nonsite)."""
