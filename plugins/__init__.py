"""Kade's built-in platform plugins. Each registers through the ``kade`` entry-point group,
exactly as a third-party plugin would."""
