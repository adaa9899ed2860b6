"""CCV Shop."""
