"""A simulated Magento 2.4.9 installation (admin REST), split by concern.

``state`` holds the installation and Magento's business rules, ``search`` the searchCriteria
language, ``oauth`` the request authentication, ``render`` the answer shapes, ``handlers`` one
function per operation, ``spec`` the check of every exchange against the official spec, and
``app`` the ASGI application tying them together.
"""

from kade.plugins.magento.simulator.app import MagentoSimulator, create_app
from kade.plugins.magento.simulator.spec import SpecCheck, SpecViolation
from kade.plugins.magento.simulator.state import MagentoError, MagentoState

__all__ = ["MagentoError", "MagentoSimulator", "MagentoState", "SpecCheck", "SpecViolation", "create_app"]
