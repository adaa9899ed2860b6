"""Lightspeed eCom (C-Series) platform plugin."""
