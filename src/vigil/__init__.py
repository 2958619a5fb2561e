"""Vigil: real-time refund-fraud detection for online retailers."""

__version__ = "0.1.0"
