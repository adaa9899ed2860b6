"""A strict simulated Shopware 6 shop (Admin API), split by concern: ``state`` (the shop),
``machines`` (state machines), ``criteria`` (search), ``render`` (JSON), ``app`` (HTTP),
``spec`` (checks against the official Admin API description)."""

from kade.plugins.shopware.simulator.app import ShopwareSimulator, create_app
from kade.plugins.shopware.simulator.errors import ShopwareError
from kade.plugins.shopware.simulator.state import ShopwareState

__all__ = ["ShopwareError", "ShopwareSimulator", "ShopwareState", "create_app"]
