"""Detectors of customer behaviour (policy abuse), scored rather than blocked."""
