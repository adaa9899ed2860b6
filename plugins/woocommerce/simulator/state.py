"""The simulated store (``WooState``)."""

from __future__ import annotations

from kade.plugins.woocommerce.simulator.catalog import CatalogState


class WooState(CatalogState):
    """Everything a WooCommerce store holds; its settings are ``StoreBase``'s parameters."""
