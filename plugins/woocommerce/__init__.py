"""Kade platform plugin: woocommerce."""
