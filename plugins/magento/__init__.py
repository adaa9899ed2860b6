"""Kade platform plugin: magento (Magento 2 / Adobe Commerce admin REST)."""
