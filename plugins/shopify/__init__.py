"""Kade platform plugin: shopify."""
