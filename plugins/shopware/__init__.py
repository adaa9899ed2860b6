"""Shopware 6 (Admin API) platform plugin."""
