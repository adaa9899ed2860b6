"""Old names of renamed modules and types stay importable (deprecated) for code written against them."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(("old", "new", "name"), [
    ("kade.migration", "kade.login_migration", "migrate"),
    ("kade.credentials", "kade.credentials_check", "check_credentials"),
])
def test_old_module_names_still_import_with_a_warning(old: str, new: str, name: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize(("old", "new"), [
    ("RemoteOrderStatus", "RemoteOrderStatus"),
    ("RemoteShipmentState", "RemoteShipmentState"),
    ("ShipmentLine", "ShipmentRequestLine"),
])
def test_old_boundary_type_names_are_aliases(old: str, new: str) -> None:
    import kade.types

    assert getattr(kade.types, old) is getattr(kade.types, new)


def test_the_product_upsert_keeps_its_old_name() -> None:
    import kade.products

    assert kade.products.import_products is kade.products.upsert_products
