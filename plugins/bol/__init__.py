"""Kade platform plugin: bol."""
